// ----------------------------------------------------------------------------------------------------
// Every random draw of a run, seeded by one function of what it is for.
//
//   seed(stage, purpose, index) = mix(recipe.seed, stage, purpose, index)
//
// where mix folds the stage, the purpose and the index into the recipe's seed in turn, each through
// SplitMix64's finalizer. Draws share a seed only if they share all four, so no draw can meet another,
// as additive offsets could (`seed + 78 + r`, the r-th control, met `seed + 77` of the recipe seeded
// one higher). A new kind of draw names a new purpose.
//
// | stage   | purpose            | index                     | draws                                    |
// |---------|--------------------|---------------------------|------------------------------------------|
// | prompt  | promptInit         | 0                         | the vocabulary tokens that start the prompt |
// | prompt  | headInit           | 0                         | an encoder head's initial weights         |
// | prompt  | epochOrder         | epoch                     | the training order of each epoch          |
// | prompt  | marginBootstrap    | 0                         | the margin's paired bootstrap             |
// | rank    | permutations       | 0 train, 1 dev            | the permutation p-values' shuffles        |
// | rank    | scoreBootstrap     | metric × 100 000 + rank   | a selected neuron's score interval        |
// | ablate  | randomSets         | r                         | the r-th nested random draw (every k)     |
// | ablate  | skillNoise         | 0                         | noise ablation of the top neurons         |
// | ablate  | controlNoise       | r                         | noise ablation of the r-th random set     |
// | ablate  | comparison         | point                     | the paired sign-flip test and its interval |
// | ablate  | transferSample     | 0                         | the ablate.data examples, at most ablate.examples |
// | edit    | randomControl      | 0                         | the control edit's random neurons         |
// | edit    | batchOrder         | 0                         | the order of training batches             |
// | audit   | auditIntervals     | 0…5                       | the audit's intervals and paired differences |
// | audit   | auditSample        | 0                         | the audit.data examples, at most 400      |

/// What a seeded draw is for; the raw values are part of the seeds, so they never change.
public enum SeedPurpose: UInt64, Sendable {
    case promptInit = 1, headInit, epochOrder, marginBootstrap
    case permutations = 11, scoreBootstrap
    case randomSets = 21, skillNoise, controlNoise, comparison, transferSample
    case randomControl = 31, batchOrder
    case auditIntervals = 41, auditSample
}

extension StageName {
    /// The stage's part of a seed; part of every seed, so it never changes.
    var seedCode: UInt64 {
        switch self {
        case .prompt: 1
        case .collect: 2
        case .rank: 3
        case .ablate: 4
        case .edit: 5
        case .audit: 6
        }
    }
}

public enum Seeds {
    /// The seed of the `index`-th draw for `purpose` in `stage`, from the recipe's seed.
    public static func seed(_ recipeSeed: UInt64, _ stage: StageName, _ purpose: SeedPurpose,
                            _ index: Int = 0) -> UInt64 {
        var state = recipeSeed
        for part in [stage.seedCode, purpose.rawValue, UInt64(truncatingIfNeeded: index)] {
            state = finalize(state ^ finalize(part &+ 0x9E37_79B9_7F4A_7C15))
        }
        return state
    }

    /// SplitMix64's finalizer: a bijection of 64-bit words that spreads every input bit over the output.
    static func finalize(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension Stage {
    /// The seed of this stage's `index`-th draw for `purpose` (see `Seeds`).
    func seed(_ purpose: SeedPurpose, _ index: Int = 0) -> UInt64 {
        Seeds.seed(experiment.recipe.seed, Self.name, purpose, index)
    }
}

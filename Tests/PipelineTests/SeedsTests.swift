import Testing
import Pipeline

/// Seeds are one function of (recipe seed, stage, purpose, index): distinct draws get distinct seeds, and
/// the function never changes (a change would move every published figure).
@Suite struct SeedsTests {
    @Test func distinctDrawsGetDistinctSeeds() {
        var seen: [UInt64: String] = [:]
        let purposes: [SeedPurpose] = [.promptInit, .headInit, .epochOrder, .marginBootstrap, .permutations,
                                       .scoreBootstrap, .randomSets, .skillNoise, .controlNoise, .comparison,
                                       .transferSample,
                                       .randomControl, .batchOrder, .auditIntervals, .auditSample]
        for recipeSeed: UInt64 in [0, 1, 13, 14] {
            for stage in StageName.allCases { for purpose in purposes { for index in 0..<50 {
                let seed = Seeds.seed(recipeSeed, stage, purpose, index)
                let draw = "\(recipeSeed) \(stage) \(purpose) \(index)"
                #expect(seen[seed] == nil, "\(draw) has the seed of \(seen[seed] ?? "")")
                seen[seed] = draw
            } } }
        }
    }

    /// Pinned values, computed by an independent reimplementation of the documented mix (SplitMix64's
    /// finalizer folding stage code, purpose code and index into the recipe's seed).
    @Test func theFunctionIsStable() {
        #expect(Seeds.seed(13, .rank, .permutations, 0) == 4_811_596_731_929_151_596)
        #expect(Seeds.seed(13, .ablate, .controlNoise, 2) == 11_981_655_987_430_858_048)
    }
}

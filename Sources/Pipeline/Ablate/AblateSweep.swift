import AtomicFiles
import Foundation
import Interventions

/// The ablate stage's sweep: for every mode and every point of its axis (k, or the strength), the top set's
/// intervention and the same intervention on each matched random set, compared three ways.
///
///     plan  = zero/mean: (k, 0) for each k · noise: (k, σ) for each k · amplify: (amplify_k, s) for each s
///     units = (point s, set j) for s in plan, j = 0 (the top set), 1 … R (random set j − 1)
///
/// A sweep is two steps. `evaluate` runs units through the model, each on its own: a unit's result does
/// not depend on which other units the process ran, so a shard (`ablate --shard i/N`) runs units
/// u ≡ i (mod N) and the merge hands their results to `assemble`, as a single run hands all of them.
/// `assemble` compares each point with its controls, seeded by the point's place in the plan, and writes
/// the points' intervention files: the same evaluations give the same bytes, whatever N.
struct AblateSweep {
    let stage: AblateStage
    let options: AblateStage.Options
    let statistics: AblateStage.NeuronStatistics
    let sets: AblateStage.NeuronSets
    /// The ranked neurons swept, best first (the largest top set).
    let ranked: [Intervention.Neuron]
    /// Where each point's intervention file is written.
    let folder: URL

    typealias Step = (mode: Intervention.Mode, k: Int, strength: Double)

    /// One evaluation: point `step` of the plan under the top set (`set` 0) or random set `set` − 1.
    struct Unit: Hashable, Comparable {
        var step: Int, set: Int
        static func < (a: Unit, b: Unit) -> Bool { (a.step, a.set) < (b.step, b.set) }
    }

    /// What a unit gives: the evaluated examples' summary and, for a decoder with general text, the KL.
    struct Evaluation {
        var summary: AblateStage.Summary
        var generalKL: Double?
    }

    /// Every point of every mode, in the recipe's order of modes.
    var plan: [Step] {
        var plan: [Step] = []
        for mode in options.modes {
            switch mode {
            case .amplify: for s in options.strengths { plan.append((mode, options.amplifyK, s)) }
            case .noise: for k in options.ks { plan.append((mode, k, options.noiseSigma)) }
            default: for k in options.ks { plan.append((mode, k, 0)) }
            }
        }
        return plan
    }

    /// Every unit, in plan order, each point's top set before its random sets.
    var units: [Unit] {
        plan.indices.flatMap { s in (0...options.randomSets).map { Unit(step: s, set: $0) } }
    }

    /// The units shard i of N runs: every N-th, so that each shard gets its share of every k.
    func units(shard: (Int, Int)?) -> [Unit] {
        guard let (i, n) = shard else { return units }
        return units.enumerated().filter { $0.offset % n == i }.map(\.element)
    }

    /// The intervention a unit applies: the top set, or a random set with its own noise seed.
    func intervention(_ unit: Unit) -> Intervention {
        let step = plan[unit.step]
        if unit.set == 0 {
            return intervention(step.mode, sets.top[step.k]!, step.strength, seed: stage.seed(.skillNoise))
        }
        let r = unit.set - 1
        return intervention(step.mode, sets.random[step.k]![r], step.strength, seed: stage.seed(.controlNoise, r))
    }

    func intervention(_ mode: Intervention.Mode, _ neurons: [Intervention.Neuron],
                      _ strength: Double, seed: UInt64) -> Intervention {
        Intervention(mode: mode, strength: strength, neurons: neurons,
                     values: mode == .mean ? neurons.map { statistics[$0]?.mean ?? 0 } : nil,
                     sigmas: mode == .noise ? neurons.map { statistics[$0]?.std ?? 0 } : nil, seed: seed,
                     scope: options.scope == .all ? nil : options.scope)
    }

    /// Runs the units through the model, in order, with progress.
    func evaluate(_ units: [Unit], with evaluate: (Intervention?) throws -> AblateStage.Summary,
                  general: GeneralTextEvaluator?, quiet: Bool, shard: Bool = false) throws -> [Unit: Evaluation] {
        let progress = ProgressReporter(AblateStage.name.rawValue, total: units.count, unit: "runs")
        progress.quiet = quiet
        var evaluations: [Unit: Evaluation] = [:]
        for (done, unit) in units.enumerated() {
            let intervention = intervention(unit)
            evaluations[unit] = Evaluation(summary: try evaluate(intervention), generalKL: general?.kl(intervention))
            let step = plan[unit.step]
            progress.update(done + 1, "\(step.mode.rawValue) " +
                            (step.mode == .amplify ? "×\(step.strength)" : "k=\(step.k)") +
                            (unit.set == 0 ? " top" : " random \(unit.set)"))
            if shard && done == 0 { Shards.holdForTesting() }
        }
        return evaluations
    }

    /// The curves, from every unit's evaluation and the unablated summary; writes each point's file.
    func assemble(_ evaluations: [Unit: Evaluation],
                  base: AblateStage.Summary) throws -> (curves: [AblateStage.Curve], written: [String]) {
        var curves: [AblateStage.Curve] = [], written: [String] = []
        let plan = plan, r = options.randomSets
        for mode in options.modes {
            var points: [AblateStage.Point] = []
            for (s, step) in plan.enumerated() where step.mode == mode {
                let skill = evaluations[Unit(step: s, set: 0)]!
                let random = (1...max(1, r)).prefix(r).map { evaluations[Unit(step: s, set: $0)]! }
                // Seeded by the count of units up to this point's last control, as the plan orders them.
                let done = (s + 1) * (r + 1)
                let point = AblateStage.compare(x: mode == .amplify ? step.strength : Double(step.k),
                                                skill: skill.summary, skillGeneralKL: skill.generalKL, base: base,
                                                random: random.map(\.summary), randomGeneral: random.compactMap(\.generalKL),
                                                seeds: (stage.seed(.comparison, 2 * done),
                                                        stage.seed(.comparison, 2 * done + 1)))
                written.append(try save(intervention(Unit(step: s, set: 0)),
                                        name: AblateStage.interventionFile(mode, x: point.x)))
                points.append(point)
            }
            curves.append(AblateStage.Curve(mode: mode, axis: mode == .amplify ? "strength" : "k",
                                            fixed: mode == .amplify ?
                                                Double(options.amplifyK) : (mode == .noise ? options.noiseSigma : 0),
                                            points: points))
        }
        return (curves, written)
    }

    /// The point's intervention as a file `scalpel generate --intervene` applies.
    func save(_ skill: Intervention, name: String) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let url = folder.appendingPathComponent(name)
        try AtomicFile.write(try encoder.encode(skill), to: url)
        return url.path
    }
}

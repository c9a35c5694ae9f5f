import AtomicFiles
import Foundation
import Interventions

/// The ablate stage's sweep: for every mode and every point of its axis (k, or the strength), the top set's
/// intervention and the same intervention on each matched random set, compared three ways.
///
///     plan = zero/mean: (k, 0) for each k · noise: (k, σ) for each k · amplify: (amplify_k, s) for each s
///
/// The runs are counted in order (`done`): the comparison of a point is seeded by the count after its
/// controls, so the order of the plan is part of the figures.
struct AblateSweep {
    let stage: AblateStage
    let options: AblateStage.Options
    let statistics: AblateStage.NeuronStatistics
    let sets: AblateStage.NeuronSets
    /// The summary of the evaluated examples under an intervention (nil: none).
    let evaluate: (Intervention?) throws -> AblateStage.Summary
    let general: GeneralTextEvaluator?
    /// The unablated summary.
    let base: AblateStage.Summary
    /// Where each point's intervention file is written.
    let folder: URL
    private(set) var curves: [AblateStage.Curve] = []
    private(set) var written: [String] = []
    private var done = 0

    init(stage: AblateStage, options: AblateStage.Options,
         statistics: AblateStage.NeuronStatistics, sets: AblateStage.NeuronSets,
         evaluate: @escaping (Intervention?) throws -> AblateStage.Summary, general: GeneralTextEvaluator?,
         folder: URL) throws {
        self.stage = stage
        self.options = options
        self.statistics = statistics
        self.sets = sets
        self.evaluate = evaluate
        self.general = general
        base = try evaluate(nil)
        self.folder = folder
    }

    typealias Step = (mode: Intervention.Mode, k: Int, strength: Double)

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

    mutating func run(quiet: Bool) throws {
        let plan = plan
        let progress = ProgressReporter(AblateStage.name.rawValue, total: plan.count * (1 + options.randomSets),
                                        unit: "runs")
        progress.quiet = quiet
        for mode in options.modes {
            var points: [AblateStage.Point] = []
            for step in plan where step.mode == mode { points.append(try point(step, progress: progress)) }
            curves.append(AblateStage.Curve(mode: mode, axis: mode == .amplify ? "strength" : "k",
                                            fixed: mode == .amplify ?
                                                Double(options.amplifyK) : (mode == .noise ? options.noiseSigma : 0),
                                            points: points))
        }
    }

    /// One point: the top set's intervention, its random controls, their comparison, and its file.
    mutating func point(_ step: Step, progress: ProgressReporter) throws -> AblateStage.Point {
        let mode = step.mode
        let skill = intervention(mode, sets.top[step.k]!, step.strength, seed: stage.seed(.skillNoise))
        let s = try evaluate(skill)
        let skillKL = general?.kl(skill)
        done += 1
        progress.update(done, "\(mode.rawValue) \(mode == .amplify ? "×\(step.strength)" : "k=\(step.k)")")
        var randomSummaries: [AblateStage.Summary] = [], randomGeneral: [Double] = []
        for (r, neurons) in sets.random[step.k]!.enumerated() {
            let control = intervention(mode, neurons, step.strength, seed: stage.seed(.controlNoise, r))
            randomSummaries.append(try evaluate(control))
            if let general { randomGeneral.append(general.kl(control)) }
            done += 1
            progress.update(done)
        }
        let point = AblateStage.compare(x: mode == .amplify ? step.strength : Double(step.k),
                                        skill: s, skillGeneralKL: skillKL, base: base,
                                        random: randomSummaries, randomGeneral: randomGeneral,
                                        seeds: (stage.seed(.comparison, 2 * done),
                                                stage.seed(.comparison, 2 * done + 1)))
        try save(skill, name: AblateStage.interventionFile(mode, x: point.x))
        return point
    }

    func intervention(_ mode: Intervention.Mode, _ neurons: [Intervention.Neuron],
                      _ strength: Double, seed: UInt64) -> Intervention {
        Intervention(mode: mode, strength: strength, neurons: neurons,
                     values: mode == .mean ? neurons.map { statistics[$0]?.mean ?? 0 } : nil,
                     sigmas: mode == .noise ? neurons.map { statistics[$0]?.std ?? 0 } : nil, seed: seed,
                     scope: options.scope == .all ? nil : options.scope)
    }

    /// The point's intervention as a file `scalpel generate --intervene` applies.
    mutating func save(_ skill: Intervention, name: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(skill), to: folder.appendingPathComponent(name))
        written.append(folder.appendingPathComponent(name).path)
    }
}

import AtomicFiles
import Datasets
import Foundation
import HDF5Kit
import Interventions
import Models
import Recipes
import Statistics
import TensorCore
import Training

/// Stage 5: causal validation. The top-k neurons of the ranking are zeroed, set to their mean, noised or
/// amplified on the test split, over a sweep of k (and of strength for amplification). Every point is
/// run beside R random sets with the same number of neurons in every layer, drawn from outside the
/// selection, and compared with them three ways: the empirical p-value and z-score of the accuracy
/// drop among the random sets, and a paired sign-flip test over examples of the loss difference.
public struct AblateStage: Stage {
    public static let name = StageName.ablate
    public static let dependencies: [StageName] = [.prompt, .collect, .rank]

    /// One point of a dose-response curve.
    public struct Point: Sendable {
        public var x: Double                   // k, or the strength
        public var accuracy: Double
        public var macroF1: Double
        public var meanConfidence: Double
        public var meanLoss: Double
        public var klTask: Double
        public var klGeneral: Double?
        public var randomAccuracy: [Double]
        public var randomKLTask: [Double]
        public var randomKLGeneral: [Double]
        public var empiricalP: Double          // accuracy drop vs the random drops, (1 + #{≥}) / (R + 1)
        public var z: Double                   // (skill drop − mean random drop) / sd of random drops
        public var pairedP: Double             // sign-flip test on per-example loss differences
        // bootstrap 95% of accuracy(skill) − mean accuracy(random)
        public var differenceInterval: (low: Double, high: Double)?
    }

    public struct Curve: Sendable {
        public var mode: Intervention.Mode
        public var axis: String                // "k" or "strength"
        public var fixed: Double               // the strength (ablations) or k (amplification)
        public var points: [Point]
    }

    public struct Result: Sendable {
        public var baselineAccuracy: Double
        public var baselineMacroF1: Double
        public var testExamples: Int
        public var randomSets: Int
        public var curves: [Curve]
        public var interventions: [String]
        public var archive: String
        public var seconds: Double
    }

    public let place: StagePlace
    public init(_ place: StagePlace) { self.place = place }

    public struct Options {
        var modes: [Intervention.Mode]
        var ks: [Int]
        var strengths: [Double]
        var amplifyK: Int
        var randomSets: Int
        var noiseSigma: Double
        var examples: Int?
        var generalTexts: Int
        var generalPath: String
        var batchSize: Int
        var scope: Intervention.Scope
        var precision: Precision
    }

    public func options() throws -> Options {
        let r = experiment.recipe, s = r.settings
        var problems = RecipeProblems(r, file: experiment.recipeFile)
        var modes: [Intervention.Mode] = []
        for entry in s.list("ablate.modes")! {
            if let m = Intervention.Mode(rawValue: entry) { modes.append(m) } else {
                problems.add("ablate.modes", "'\(entry)' is not a mode; use zero, mean, noise, amplify")
            }
        }
        // Types and ranges were checked with the recipe (RecipeSchema's bounds).
        let ks = s.ints("ablate.k")!
        let strengths = s.numbers("ablate.strengths")!
        let randomSets = s.int("ablate.random_sets")!
        let sigma = s.number("ablate.noise_sigma")!
        let scope = Intervention.Scope(rawValue: s.string("ablate.positions")!)
        if scope == nil { problems.add("ablate.positions", "must be all or last") }
        let precision = Precision(rawValue: s.string("ablate.precision")!) ?? .fp32
        if let problem = experiment.precisionProblem(precision, path: "ablate.precision") {
            problems.add(problem.path, problem.message)
        }
        let amplifyK = r.int("ablate.amplify_k") ?? ks.first.map { _ in ks[ks.count / 2] } ?? 50
        try problems.check()
        return Options(modes: modes, ks: ks.sorted(), strengths: strengths, amplifyK: amplifyK,
                       randomSets: randomSets, noiseSigma: sigma,
                       examples: s.int("ablate.examples"), generalTexts: s.int("ablate.general_texts")!,
                       generalPath: s.string("ablate.general_text")!,
                       batchSize: s.int("ablate.batch_size")!,
                       scope: scope ?? .all, precision: precision)
    }

    /// The ranking's neurons, best first, and every neuron's training mean and standard deviation.
    ///
    /// Interventions act at every position, so one statistic per neuron is needed: the one measured at
    /// `last` when it was collected (the position the task reads), else at the first collected position.
    func rankedNeurons() throws -> (ranked: [Intervention.Neuron],
                                    statistics: [Intervention.Neuron: (mean: Double, std: Double)]) {
        let url = EvidenceArchive.url(folder)
        guard folder.record("rank") != nil, FileManager.default.fileExists(atPath: url.path) else {
            throw CollectError.corruptStore(path: url.path, detail: "there is no ranking; " +
                                            "run `scalpel rank \(experiment.recipeFile)` first")
        }
        let file = try EvidenceArchive.open(url)
        let rank = try file.root.group("rank")
        guard case .string(let primary) = try rank.attribute("primary_metric"),
              case .string(let statistic) = try rank.attribute("statistic"),
              case .ints(let layers) = try rank.attribute("layers"),
              case .int(let width) = try rank.attribute("neurons_per_layer"),
              case .strings(let positions) = try rank.attribute("positions") else {
            throw CollectError.corruptStore(path: url.path, detail: "/rank is incomplete; run `scalpel rank --force`")
        }
        let scores = try rank.group("metrics").group(RankStage.groupName(primary)).group(statistic)
            .read("score", as: Double.self).values
        let columns = layers.count * Int(width)
        let reference = positions.contains("last") ? "last" : positions[0]
        let collect = try file.root.group("collect").group(reference)
        let means = try collect.read("mean", as: Double.self).values,
            stds = try collect.read("std", as: Double.self).values
        var statistics: [Intervention.Neuron: (mean: Double, std: Double)] = [:]
        var ranked: [(Intervention.Neuron, Double)] = []
        for j in 0..<columns {
            let neuron = Intervention.Neuron(layer: Int(layers[j / Int(width)]), neuron: j % Int(width))
            statistics[neuron] = (means[j], stds[j])
            var best = Double.nan
            for p in positions.indices where !scores[p * columns + j].isNaN {
                best = best.isNaN ? abs(scores[p * columns + j]) : max(best, abs(scores[p * columns + j]))
            }
            if !best.isNaN { ranked.append((neuron, best)) }
        }
        ranked.sort { $0.1 != $1.1 ? $0.1 > $1.1 : ($0.0.layer, $0.0.neuron) < ($1.0.layer, $1.0.neuron) }
        return (ranked.map(\.0), statistics)
    }

    /// What the sweep depends on besides its options: the ranking, the prompt, the model, data and task.
    public func dependencyInputs(_ options: Options) throws -> [String: String] {
        let r = experiment.recipe
        var inputs = ["rank": try dependencyRecord(.rank).inputsDigest, "basis": SHA256.hex(r.canonicalBasis)]
        let prompt = folder.promptFile
        if r.stages.contains("prompt") { inputs["prompt"] = try SHA256.file(prompt.path) }
        return inputs
    }

    public func read(_ record: RunFolder.StageRecord, reused: Bool) throws -> Result {
        var result = try Self.load(EvidenceArchive.url(folder), order: try options().modes)
        result.seconds = record.seconds
        return result
    }

    /// The record's figures: the unablated accuracy and the test size.
    public func headline(_ result: Result) -> [String: Figure] {
        ["baseline_accuracy": .number(result.baselineAccuracy), "test_examples": .number(Double(result.testExamples))]
    }

    /// The sweep, in the options' precision.
    public func compute(_ run: StageRun<Options>) throws -> StageOutcome {
        try Precision.$current.withValue(run.options.precision) { try computeInPrecision(run) }
    }

    /// The story of a sweep: the ranking's top sets and their matched random sets, the test split and its
    /// unablated pass, then every intervention of the plan beside its random controls.
    private func computeInPrecision(_ run: StageRun<Options>) throws -> StageOutcome {
        let options = run.options, quiet = run.quiet
        let started = Date()
        if !quiet {
            ProgressReporter.say("ablate: unablated pass over the test split " +
                                 "(its lower layers are reused by every intervention)")
        }
        let (ranked, statistics) = try rankedNeurons()
        let sets = try neuronSets(ranked, options)
        let test = try testSplit(options)
        let (task, prompt) = try PromptStage(experiment: experiment, folder: folder).trained(orUntuned: true)
        let sequences = test.map { task.ids(experiment.dataset.examples[$0].text) }
        let labels = test.map { experiment.dataset.examples[$0].label! }
        let startLayers = Set(sets.top.values.compactMap { $0.map(\.layer).min() })
        let evaluator = try TaskEvaluator(task: task, prompt: prompt, sequences: sequences,
                                          labels: labels, batchSize: options.batchSize, cacheLayers: startLayers)
        let general = try generalTextEvaluator(options, cacheLayers: startLayers, quiet: quiet)
        let baseline = try evaluator.classLogProbabilities(nil)
        var sweep = AblateSweep(stage: self, options: options, statistics: statistics, sets: sets,
                                evaluator: evaluator, general: general, labels: labels, classes: task.classes,
                                baseline: baseline, folder: try folder.stage(Self.name.rawValue))
        try sweep.run(quiet: quiet)
        let result = Result(baselineAccuracy: sweep.base.accuracy, baselineMacroF1: sweep.base.macroF1,
                            testExamples: test.count, randomSets: options.randomSets,
                            curves: sweep.curves, interventions: sweep.written,
                            archive: EvidenceArchive.url(folder).path, seconds: Date().timeIntervalSince(started))
        return StageOutcome(notes: ["precision": options.precision.rawValue]) { group in
            try group.setAttribute("precision", .string(options.precision.rawValue))
            try Self.write(result, ranked: Array(ranked.prefix(sets.maxK)), randomSets: sets.random, into: group)
        }
    }

    /// The top k of the ranking for every k swept, and R matched random sets of each.
    struct NeuronSets {
        var top: [Int: [Intervention.Neuron]] = [:]
        var random: [Int: [[Intervention.Neuron]]] = [:]
        /// The largest set: random sets are drawn from outside it.
        var maxK: Int
    }

    func neuronSets(_ ranked: [Intervention.Neuron], _ options: Options) throws -> NeuronSets {
        let maxK = max(options.ks.max() ?? 0, options.modes.contains(.amplify) ? options.amplifyK : 0)
        guard ranked.count >= maxK else {
            throw CollectError.badPlan(path: experiment.recipeFile,
                                       detail: "ablate asks for \(maxK) neurons but the ranking scored only " +
                                       "\(ranked.count); lower ablate.k")
        }
        let selected = Set(ranked.prefix(maxK))
        var sets = NeuronSets(maxK: maxK)
        for k in Set(options.ks + (options.modes.contains(.amplify) ? [options.amplifyK] : [])) {
            sets.top[k] = Array(ranked.prefix(k))
        }
        for (k, set) in sets.top {
            sets.random[k] = try matchedRandomSets(for: set, count: options.randomSets,
                                                   width: experiment.loaded.model.ffnWidth,
                                                   excluding: selected, seed: seed(.randomSets, k))
        }
        return sets
    }

    /// The test split's examples (at most `ablate.examples`).
    func testSplit(_ options: Options) throws -> [Int] {
        let recipe = experiment.recipe
        let splits = Splits(count: experiment.dataset.examples.count, train: recipe.data.train,
                            dev: recipe.data.dev, seed: recipe.data.splitSeed)
        var test = splits.test
        if let cap = options.examples { test = Array(test.prefix(cap)) }
        guard !test.isEmpty else {
            throw CollectError.badPlan(path: experiment.recipeFile,
                                       detail: "the test split is empty; give data.split.test a share")
        }
        return test
    }

    /// The KL on general text of a decoder, when the recipe asks for texts and the file is there.
    func generalTextEvaluator(_ options: Options, cacheLayers: Set<Int>,
                              quiet: Bool) throws -> GeneralTextEvaluator? {
        guard case .decoder(let m) = experiment.loaded.model, options.generalTexts > 0 else { return nil }
        let path = Experiment.resolve(options.generalPath, root: experiment.root)
        guard FileManager.default.fileExists(atPath: path) else {
            if !quiet {
                ProgressReporter.say("ablate: \(path) is missing, so there is no KL on general text; run Scripts/fetch")
            }
            return nil
        }
        let texts = try DatasetLoader.load(DatasetSpec(format: .wikitext, path: path)).examples
            .prefix(options.generalTexts)
        let ids = texts.map {
            Array(experiment.loaded.tokenizer.encodeData($0.text, addSpecialTokens: true).prefix(48))
        }.filter { $0.count > 1 }
        return ids.isEmpty ? nil : GeneralTextEvaluator(model: m, sequences: ids, cacheLayers: cacheLayers)
    }

    /// The file of a point's intervention in the stage's folder: `intervention-<mode>-top<k>.json`, or
    /// `intervention-amplify-x<strength>.json`.
    static func interventionFile(_ mode: Intervention.Mode, x: Double) -> String {
        "intervention-\(mode.rawValue)-" + (mode == .amplify ? "x\(x)" : "top\(Int(x))") + ".json"
    }

    /// Reads a finished sweep back from the archive: its curves in `order` (the recipe's modes), or in
    /// `Intervention.Mode.allCases`'s order for the modes `order` leaves out.
    public static func load(_ url: URL, order: [Intervention.Mode] = []) throws -> Result {
        let file = try EvidenceArchive.open(url)
        let group = try file.root.group(Self.name.rawValue)
        guard case .double(let accuracy) = try group.attribute("baseline_accuracy"),
              case .double(let f1) = try group.attribute("baseline_macro_f1"),
              case .int(let examples) = try group.attribute("test_examples"),
              case .int(let r) = try group.attribute("random_sets") else {
            throw CollectError.corruptStore(path: url.path, detail: "/ablate is incomplete")
        }
        var curves: [Curve] = []
        let modes = order + Intervention.Mode.allCases.filter { !order.contains($0) }
        for mode in modes where group.kind(of: mode.rawValue) == .group {
            let g = try group.group(mode.rawValue)
            guard case .string(let axis) = try g.attribute("axis"),
                  case .double(let fixed) = try g.attribute("fixed") else { continue }
            func column(_ name: String) throws -> [Double] { try g.read(name, as: Double.self).values }
            let x = try column("x"), n = x.count, rr = Int(r)
            let (acc, macro, conf, loss, klTask, klGeneral) = (try column("accuracy"), try column("macro_f1"),
                                                               try column("confidence"), try column("loss"),
                                                               try column("kl_task"), try column("kl_general"))
            let (empirical, z, paired, low, high) = (try column("empirical_p"), try column("z"),
                                                     try column("paired_p"),
                                                     try column("ci_low"), try column("ci_high"))
            let (randomAccuracy, randomKL, randomGeneral) = (try column("random_accuracy"),
                                                             try column("random_kl_task"),
                                                             try column("random_kl_general"))
            guard [acc, macro, conf, loss, klTask, klGeneral, empirical,
                   z, paired, low, high].allSatisfy({ $0.count == n }),
                  [randomAccuracy, randomKL, randomGeneral].allSatisfy({ $0.count == n * rr }) else {
                throw CollectError.corruptStore(path: url.path,
                                                detail: "/ablate/\(mode.rawValue) has datasets of different lengths")
            }
            curves.append(Curve(mode: mode, axis: axis, fixed: fixed, points: (0..<n).map { i in
                Point(x: x[i], accuracy: acc[i], macroF1: macro[i], meanConfidence: conf[i], meanLoss: loss[i],
                      klTask: klTask[i],
                      klGeneral: klGeneral[i].isNaN ? nil : klGeneral[i],
                      randomAccuracy: Array(randomAccuracy[(i * rr)..<((i + 1) * rr)]),
                      randomKLTask: Array(randomKL[(i * rr)..<((i + 1) * rr)]),
                      randomKLGeneral: randomGeneral[i * rr].isNaN ? [] :
                                  Array(randomGeneral[(i * rr)..<((i + 1) * rr)]),
                      empiricalP: empirical[i], z: z[i], pairedP: paired[i],
                      differenceInterval: low[i].isNaN ? nil : (low[i], high[i]))
            }))
        }
        let folder = url.deletingLastPathComponent().appendingPathComponent(Self.name.rawValue)
        let interventions = curves.flatMap { curve in curve.points.map { interventionFile(curve.mode, x: $0.x) } }
            .map { folder.appendingPathComponent($0).path }.filter { FileManager.default.fileExists(atPath: $0) }
        return Result(baselineAccuracy: accuracy, baselineMacroF1: f1, testExamples: Int(examples),
                      randomSets: Int(r), curves: curves,
                      interventions: interventions, archive: url.path, seconds: 0)
    }

    struct Summary {
        var accuracy: Double, macroF1: Double, confidence: Double, loss: Double, kl: Double
        var losses: [Double], correct: [Bool]
    }

    static func summarize(_ logProbabilities: [[Double]], labels: [Int],
                          classes: Int, reference: [[Double]]) -> Summary {
        let predictions = logProbabilities.map { row in row.indices.max { row[$0] < row[$1] }! }
        let evaluation = Evaluation(predictions: predictions, labels: labels,
                                    confidences: logProbabilities.map { Float(exp($0.max()!)) },
                                    losses: zip(logProbabilities, labels).map { Float(-$0[$1]) })
        var kl = 0.0
        for (p, q) in zip(reference, logProbabilities) { for j in p.indices { kl += exp(p[j]) * (p[j] - q[j]) } }
        let n = Double(max(1, labels.count))
        return Summary(accuracy: evaluation.accuracy, macroF1: evaluation.macroF1(classes: classes),
                       confidence: logProbabilities.reduce(0) { $0 + exp($1.max()!) } / n,
                       loss: zip(logProbabilities, labels).reduce(0) { $0 - $1.0[$1.1] } / n, kl: max(0, kl / n),
                       losses: zip(logProbabilities, labels).map { -$0[$1] }, correct: evaluation.correct)
    }

    static func compare(x: Double, skill: Summary, skillGeneralKL: Double?, base: Summary,
                        random: [Summary], randomGeneral: [Double], seeds: (UInt64, UInt64)) -> Point {
        let skillDrop = base.accuracy - skill.accuracy
        let randomDrops = random.map { base.accuracy - $0.accuracy }
        let r = Double(random.count)
        let mean = randomDrops.reduce(0, +) / r
        let sd = random.count > 1 ? (randomDrops.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (r - 1))
            .squareRoot() : 0
        let empirical = Double(1 + randomDrops.filter { abs($0) >= abs(skillDrop) }.count) / (r + 1)
        // Per example: the skill set's loss minus the mean loss over the random sets.
        let differences = skill.losses.indices.map { i in skill.losses[i] - random.reduce(0) { $0 + $1.losses[i] } / r }
        let paired = signFlipTest(differences, flips: 10_000, seed: seeds.0)
        let interval = bootstrapInterval(examples: skill.correct.count, resamples: 1000, seed: seeds.1) { sample in
            let n = Double(sample.count)
            let a = sample.reduce(0) { $0 + (skill.correct[$1] ? 1.0 : 0) } / n
            let b = random.reduce(0.0) { total, run in
                total + sample.reduce(0) { $0 + (run.correct[$1] ? 1.0 : 0) } / n
            } / r
            return a - b
        }
        return Point(x: x, accuracy: skill.accuracy, macroF1: skill.macroF1,
                     meanConfidence: skill.confidence, meanLoss: skill.loss, klTask: skill.kl,
                     klGeneral: skillGeneralKL, randomAccuracy: random.map(\.accuracy),
                     randomKLTask: random.map(\.kl), randomKLGeneral: randomGeneral,
                     empiricalP: empirical, z: sd > 0 ? (skillDrop - mean) / sd : .nan,
                     pairedP: paired, differenceInterval: interval)
    }

    /// `/ablate` of the evidence archive: attributes `baseline_accuracy`, `baseline_macro_f1`, `test_examples`,
    /// `random_sets`, `tests`; `neurons` int64 [K, 2] (the ranked neurons swept, best first);
    /// `random_sets/k<k>` int64 [R, k, 2]; and per mode `<mode>/` with attributes `axis` and `fixed` and
    /// float64 datasets over the points: `x`, `accuracy`, `macro_f1`, `confidence`, `loss`, `kl_task`,
    /// `kl_general`, `empirical_p`, `z`, `paired_p`, `ci_low`, `ci_high`, and [points, R]:
    /// `random_accuracy`, `random_kl_task`, `random_kl_general`.
    static func write(_ result: Result, ranked: [Intervention.Neuron],
                      randomSets: [Int: [[Intervention.Neuron]]], into group: HDF5Group) throws {
        try group.setAttribute("baseline_accuracy", .double(result.baselineAccuracy))
        try group.setAttribute("baseline_macro_f1", .double(result.baselineMacroF1))
        try group.setAttribute("test_examples", .int(Int64(result.testExamples)))
        try group.setAttribute("random_sets", .int(Int64(result.randomSets)))
        try group.setAttribute("tests", .string(
            "empirical_p: (1 + #{random accuracy drops ≥ the skill set's, in magnitude}) / (R + 1); z: the skill " +
            "drop in standard deviations of the random drops; paired_p: two-sided sign-flip test (10,000 flips) of " +
            "the per-example loss under the skill set minus its mean under the R random sets; ci: 95% bootstrap " +
            "interval of accuracy(skill) − mean accuracy(random)"))
        try group.writeNeurons("neurons", ranked)
        let setsGroup = try group.createGroup("random_sets")
        for (k, sets) in randomSets.sorted(by: { $0.key < $1.key }) {
            try setsGroup.write("k\(k)", sets.flatMap { $0.flatMap { [Int64($0.layer), Int64($0.neuron)] } },
                                shape: [sets.count, k, 2])
        }
        for curve in result.curves {
            let g = try group.createGroup(curve.mode.rawValue)
            try g.setAttribute("axis", .string(curve.axis))
            try g.setAttribute("fixed", .double(curve.fixed))
            let p = curve.points, n = p.count, r = result.randomSets
            func column(_ name: String, _ values: [Double]) throws { try g.write(name, values, shape: [n]) }
            try column("x", p.map(\.x)); try column("accuracy", p.map(\.accuracy))
            try column("macro_f1", p.map(\.macroF1))
            try column("confidence", p.map(\.meanConfidence)); try column("loss", p.map(\.meanLoss))
            try column("kl_task", p.map(\.klTask))
            try column("kl_general", p.map { $0.klGeneral ?? .nan }); try column("empirical_p", p.map(\.empiricalP))
            try column("z", p.map(\.z))
            try column("paired_p", p.map(\.pairedP)); try column("ci_low", p.map { $0.differenceInterval?.low ?? .nan })
            try column("ci_high", p.map { $0.differenceInterval?.high ?? .nan })
            try g.write("random_accuracy", p.flatMap(\.randomAccuracy), shape: [n, r])
            try g.write("random_kl_task", p.flatMap(\.randomKLTask), shape: [n, r])
            try g.write("random_kl_general", p.flatMap {
                $0.randomKLGeneral.isEmpty ? [Double](repeating: .nan, count: r) : $0.randomKLGeneral
            }, shape: [n, r])
        }
    }
}

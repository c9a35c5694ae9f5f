import AtomicFiles
import Datasets
import Foundation
import HDF5Kit
import Interventions
import AuxiliaryMetrics
import Models
import Recipes
import Statistics
import TensorCore
import Training

/// Stage 5: causal validation. The top-k neurons of the ranking are zeroed, set to their mean, noised or
/// amplified on the test split, over a sweep of k (and of strength for amplification). Every point is
/// run beside R random sets with the same number of neurons in every layer, drawn from outside the
/// selection, and compared with them: the empirical p of the accuracy drop among the random sets' drops,
/// a parametric p from a normal fit to them, a paired sign-flip test over examples of the loss
/// difference, and a bootstrap interval of the accuracy difference. The headline point and the test it
/// quotes are chosen in AblateHeadline.swift.
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
        public var empiricalP: Double          // the drop's rank among the random drops (RandomSetComparison)
        public var parametricP: Double         // one more draw from a normal fit to the random drops, t(R − 1)
        public var z: Double                   // (skill drop − mean random drop) / sd of random drops
        public var pairedP: Double             // sign-flip test on per-example loss differences
        // bootstrap 95% of accuracy(skill) − mean accuracy(random)
        public var differenceInterval: (low: Double, high: Double)?
        /// The side measure, when the task has one (`Result.side`): its mean under the skill set and
        /// under each random set, and the skill set's value ranked among theirs (empirical and parametric p).
        public var side: SideMeasure? = nil
    }

    /// A per-example measure reported beside accuracy, compared with the random sets as accuracy is:
    /// with `ablate.shortcut`, the share of answers taking the shortcut; for a continuation task, the
    /// mean log-loss of the generated tokens under the unablated model (its exp is their perplexity).
    public struct SideMeasure: Sendable {
        public var value: Double
        public var randomValues: [Double]
        public var empiricalP: Double
        public var parametricP: Double
    }

    public struct Curve: Sendable {
        public var mode: Intervention.Mode
        public var axis: String                // "k" or "strength"
        public var fixed: Double               // the strength (ablations) or k (amplification)
        public var points: [Point]
    }

    /// The point the run's one-line summary quotes, and the test it quotes.
    public struct Headline: Sendable {
        public var mode: Intervention.Mode
        public var x: Double
        /// Declared in the recipe before the run, or chosen as the sweep's largest gap.
        public var declared: Bool
        /// The quoted p: the point's empirical p when declared, else the sweep-corrected one.
        public var p: Double
        /// What `p` is, in words.
        public var test: String
        /// p ≤ 0.05 and the difference interval excludes 0.
        public var significant: Bool
    }

    public struct Result: Sendable {
        public var baselineAccuracy: Double
        public var baselineMacroF1: Double
        public var testExamples: Int
        public var randomSets: Int
        public var curves: [Curve]
        public var headline: Headline?
        /// The side measure's name (the shortcut's, or `generated_nll`) and its unablated value.
        public var side: (name: String, baseline: Double)? = nil
        /// What "accuracy" holds: `accuracy`, or `bleu` for a continuation task (mean sentence BLEU).
        public var score = "accuracy"
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
        /// `ablate.headline`: the declared point, as (mode, k or strength).
        var headline: (mode: Intervention.Mode, x: Double)?
        /// `ablate.metric`: the ranking whose top neurons are swept (nil: the rank stage's primary metric).
        var metric: String?
        /// `ablate.shortcut`.
        var shortcut: Shortcut?
        /// `ablate.data` and `ablate.neurons_from` (AblateTransfer.swift).
        var transfer: Transfer
        /// Language-modelling tasks: `ablate.continuation`'s prompt and continuation lengths, in tokens.
        var continuation: (promptTokens: Int, tokens: Int)
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
        if scope == .last, r.task.answer != nil {
            problems.add("ablate.positions", "an answer task's loss is read at every answer token, not the " +
                         "last: use positions: all")
        }
        let precision = Precision(rawValue: s.string("ablate.precision")!) ?? .fp32
        if let problem = experiment.precisionProblem(precision, path: "ablate.precision") {
            problems.add(problem.path, problem.message)
        }
        let amplifyK = r.int("ablate.amplify_k") ?? ks.first.map { _ in ks[ks.count / 2] } ?? 50
        let headline = declaredHeadline(modes: modes, ks: ks, strengths: strengths, amplifyK: amplifyK,
                                        problems: &problems)
        let transfer = transfer(&problems)
        let shortcut = shortcutMetric(&problems)
        let continuation = continuationLengths(&problems)
        try problems.check()
        return Options(modes: modes, ks: ks.sorted(), strengths: strengths, amplifyK: amplifyK,
                       randomSets: randomSets, noiseSigma: sigma,
                       examples: s.int("ablate.examples"), generalTexts: s.int("ablate.general_texts")!,
                       generalPath: s.string("ablate.general_text")!,
                       batchSize: s.int("ablate.batch_size")!,
                       scope: scope ?? .all, precision: precision, headline: headline,
                       metric: r.string("ablate.metric"), shortcut: shortcut, transfer: transfer,
                       continuation: continuation)
    }

    /// `ablate.continuation`, which only a language-modelling task on a decoder reads.
    func continuationLengths(_ problems: inout RecipeProblems) -> (promptTokens: Int, tokens: Int) {
        let r = experiment.recipe
        if experiment.isLanguageModelling, case .bert = experiment.loaded.model {
            problems.add("task", "an encoder cannot continue text: ablating a language-modelling task needs a " +
                         "decoder, or frame the task with verbalizers")
        }
        if r.node("ablate.continuation") != nil, !experiment.isLanguageModelling {
            problems.add("ablate.continuation", "only a language-modelling task (no verbalizers, no answer) is " +
                         "scored by its continuations; remove it")
        }
        let lengths = (promptTokens: r.settings.int("ablate.continuation.prompt_tokens")!,
                       tokens: r.settings.int("ablate.continuation.tokens")!)
        if experiment.isLanguageModelling, case .decoder(let model) = experiment.loaded.model,
           lengths.promptTokens + lengths.tokens > model.config.contextLength {
            problems.add("ablate.continuation", "prompt_tokens + tokens = \(lengths.promptTokens + lengths.tokens) " +
                         "exceeds the model's context of \(model.config.contextLength) tokens; shorten them")
        }
        return lengths
    }

    /// The name of the side measure the sweep reports, if any: the shortcut's, or a continuation task's
    /// `generated_nll`.
    func sideName(_ options: Options) -> String {
        options.shortcut?.name ?? "generated_nll"
    }

    /// `ablate.shortcut`: an answer task's metric expression, declared in collect.metrics.
    func shortcutMetric(_ problems: inout RecipeProblems) -> Shortcut? {
        let r = experiment.recipe
        guard let name = r.string("ablate.shortcut") else { return nil }
        guard r.task.answer != nil else {
            problems.add("ablate.shortcut", "a shortcut grades the model's greedy answers: it needs an answer " +
                         "task (task.answer)")
            return nil
        }
        for entry in r.settings.list("collect.metrics") ?? [] {
            if let metric = try? Metric.parse(entry), case .expression(let declared, _) = metric, declared == name {
                return Shortcut(name: name, metric: metric)
            }
        }
        problems.add("ablate.shortcut", "'\(name)' is not a metric of collect.metrics; declare it there as " +
                     "\(name) = EXPRESSION (e.g. copies = prediction == n0 || prediction == n1)")
        return nil
    }

    /// `ablate.headline`, which must name a point of the sweep: a mode it runs, with one of its k, or for
    /// amplify one of its strengths.
    func declaredHeadline(modes: [Intervention.Mode], ks: [Int], strengths: [Double], amplifyK: Int,
                          problems: inout RecipeProblems) -> (mode: Intervention.Mode, x: Double)? {
        let r = experiment.recipe
        guard r.node("ablate.headline") != nil else { return nil }
        guard let name = r.string("ablate.headline.mode"), let mode = Intervention.Mode(rawValue: name) else {
            problems.add("ablate.headline.mode", "name the headline's mode (zero, mean, noise or amplify)")
            return nil
        }
        guard modes.contains(mode) else {
            problems.add("ablate.headline.mode", "\(name) is not among ablate.modes \(modes.map(\.rawValue)); " +
                         "add it there or declare another mode")
            return nil
        }
        if mode == .amplify {
            guard let strength = r.number("ablate.headline.strength"), strengths.contains(strength) else {
                problems.add("ablate.headline.strength", "amplify's headline needs a strength among " +
                             "ablate.strengths \(strengths)")
                return nil
            }
            if let k = r.int("ablate.headline.k"), k != amplifyK {
                problems.add("ablate.headline.k", "amplification runs the top \(amplifyK) (ablate.amplify_k), " +
                             "not \(k); leave k out or set amplify_k")
            }
            return (mode, strength)
        }
        guard let k = r.int("ablate.headline.k"), ks.contains(k) else {
            problems.add("ablate.headline.k", "\(name)'s headline needs a k among ablate.k \(ks)")
            return nil
        }
        if r.node("ablate.headline.strength") != nil {
            problems.add("ablate.headline.strength", "only amplify has a strength; leave it out for \(name)")
        }
        return (mode, Double(k))
    }

    /// The ranking's neurons, best first, and every neuron's training mean and standard deviation.
    ///
    /// Interventions act at every position, so one statistic per neuron is needed: the one measured at
    /// `last` when it was collected (the position the task reads), else at the first collected position.
    /// With `options`, from the run `ablate.neurons_from` names, if it names one.
    func rankedNeurons(_ options: Options? = nil) throws -> (ranked: [Intervention.Neuron],
                                                             statistics: NeuronStatistics) {
        let other = options?.transfer.run
        let run = other.map { RunFolder(unchecked: $0) } ?? folder
        let url = EvidenceArchive.url(run)
        guard run.record("rank") != nil, FileManager.default.fileExists(atPath: url.path) else {
            let recipe = other == nil ? experiment.recipeFile : "the recipe of \(run.url.path)"
            throw CollectError.corruptStore(path: url.path, detail: "there is no ranking; run `scalpel rank " +
                                            "\(recipe)` first")
        }
        if let other { try checkSameModel(other) }
        let ranking = try Self.ranking(in: url, metric: options?.metric, for: experiment.recipeFile,
                                       key: "ablate.metric")
        return (ranking.ranked, ranking.statistics)
    }

    /// Every scored neuron of an archive's ranking of `metric` (nil: the primary metric), best first by
    /// its largest |score| over the positions, with its training mean and deviation (at `last` when it was
    /// collected, else at the first position). Errors name `file` and `key`, where the metric was chosen.
    public static func ranking(in url: URL, metric chosen: String?, for file: String, key: String) throws
        -> (metric: String, ranked: [Intervention.Neuron], statistics: NeuronStatistics) {
        let archive = try EvidenceArchive.open(url)
        let rank = try archive.root.group("rank")
        guard case .string(let primary) = try rank.attribute("primary_metric"),
              case .string(let statistic) = try rank.attribute("statistic"),
              case .ints(let layers) = try rank.attribute("layers"),
              case .int(let width) = try rank.attribute("neurons_per_layer"),
              case .strings(let positions) = try rank.attribute("positions") else {
            throw CollectError.corruptStore(path: url.path, detail: "/rank is incomplete; run `scalpel rank --force`")
        }
        let metric = chosen ?? primary
        let metrics = try rank.group("metrics")
        guard metrics.kind(of: RankStage.groupName(metric)) == .group else {
            throw CollectError.badPlan(path: file, detail: "\(key) '\(metric)' was not ranked in \(url.path); " +
                                       "name one of collect.metrics")
        }
        let ranking = try metrics.group(RankStage.groupName(metric))
        guard ranking.kind(of: statistic) == .group else {
            var why = "it has no \(statistic) ranking"
            if try ranking.attributeNames().contains("excluded"),
               case .string(let reason) = try ranking.attribute("excluded") {
                why = "the ranking excluded it: \(reason)"
            }
            throw CollectError.badPlan(path: file, detail: "\(key) '\(metric)' cannot choose neurons, as \(why); " +
                                       "name another of collect.metrics")
        }
        let scores = try ranking.group(statistic).read("score", as: Double.self).values
        let columns = layers.count * Int(width)
        let reference = positions.contains("last") ? "last" : positions[0]
        let collect = try archive.root.group("collect").group(reference)
        let means = try collect.read("mean", as: Double.self).values,
            stds = try collect.read("std", as: Double.self).values
        guard scores.count == positions.count * columns, means.count == columns, stds.count == columns else {
            throw CollectError.corruptStore(path: url.path, detail: "/rank and /collect disagree on the number of " +
                                            "neurons; run `scalpel rank --force`")
        }
        var statistics: NeuronStatistics = [:]
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
        return (metric, ranked.map(\.0), statistics)
    }

    /// What the sweep depends on besides its options: the ranking, the prompt, the model, data and task.
    public func dependencyInputs(_ options: Options) throws -> [String: String] {
        let r = experiment.recipe
        var inputs = ["basis": SHA256.hex(r.canonicalBasis)]
        if let other = options.transfer.run {
            let run = RunFolder(unchecked: other)
            guard let rank = run.record("rank") else {
                throw CollectError.corruptStore(path: other.path, detail: "ablate.neurons_from names a run with " +
                                                "no finished ranking; run that recipe's rank stage first")
            }
            inputs["rank"] = rank.inputsDigest
            if FileManager.default.fileExists(atPath: run.promptFile.path) {
                inputs["prompt"] = try SHA256.file(run.promptFile.path)
            }
        } else {
            inputs["rank"] = try dependencyRecord(.rank).inputsDigest
            if r.stages.contains("prompt") { inputs["prompt"] = try SHA256.file(folder.promptFile.path) }
        }
        if let data = options.transfer.data { inputs["data"] = try SHA256.file(data.path) }
        return inputs
    }

    public func read(_ record: RunFolder.StageRecord, reused: Bool) throws -> Result {
        // The recipe's order of modes, without reading the options again (a transfer dataset would load).
        let order = (experiment.recipe.settings.list("ablate.modes") ?? []).compactMap(Intervention.Mode.init)
        var result = try Self.load(EvidenceArchive.url(folder), order: order)
        result.seconds = record.seconds
        return result
    }

    /// The record's figures: the unablated accuracy, the test size, the random sets and the headline's p.
    public func headline(_ result: Result) -> [String: Figure] {
        var figures: [String: Figure] = ["baseline_accuracy": .number(result.baselineAccuracy),
                                         "test_examples": .number(Double(result.testExamples)),
                                         "random_sets": .number(Double(result.randomSets))]
        if let h = result.headline {
            figures["headline_p"] = .number(h.p)
            figures["headline_significant"] = .number(h.significant ? 1 : 0)
        }
        return figures
    }

    /// The sweep, in the options' precision.
    public func compute(_ run: StageRun<Options>) throws -> StageOutcome {
        try Precision.$current.withValue(run.options.precision) { try computeInPrecision(run) }
    }

    /// The story of a sweep: the ranking's top sets and their matched random sets, the test split and its
    /// unablated pass, every intervention of the plan beside its random controls, and their comparison.
    private func computeInPrecision(_ run: StageRun<Options>) throws -> StageOutcome {
        let started = Date()
        let sweep = try self.sweep(run.options)
        let pass = try evaluatedUnits(sweep, shard: nil, quiet: run.quiet)
        return try outcome(sweep, pass, started: started)
    }

    /// The sweep of these options: its neuron sets, and the folder its intervention files go to.
    func sweep(_ options: Options) throws -> AblateSweep {
        let (ranked, statistics) = try rankedNeurons(options)
        let sets = try neuronSets(ranked, options)
        return AblateSweep(stage: self, options: options, statistics: statistics, sets: sets,
                           ranked: Array(ranked.prefix(sets.maxK)), folder: try folder.stage(Self.name.rawValue))
    }

    /// What a process evaluates: the unablated pass, and its units (all, or a shard's).
    struct Pass {
        var base: Summary
        var examples: Int
        var evaluations: [AblateSweep.Unit: AblateSweep.Evaluation]
    }

    func evaluatedUnits(_ sweep: AblateSweep, shard: (Int, Int)?, quiet: Bool) throws -> Pass {
        let options = sweep.options
        if !quiet {
            ProgressReporter.say("ablate: unablated pass over the evaluated examples " +
                                 "(its lower layers are reused by every intervention)")
        }
        let startLayers = Set(sweep.sets.top.values.compactMap { $0.map(\.layer).min() })
        let (evaluate, examples) = try evaluation(options, cacheLayers: startLayers)
        let general = try generalTextEvaluator(options, cacheLayers: startLayers, quiet: quiet)
        let base = try evaluate(nil)
        let evaluations = try sweep.evaluate(sweep.units(shard: shard), with: evaluate, general: general, quiet: quiet,
                                             shard: shard != nil)
        return Pass(base: base, examples: examples, evaluations: evaluations)
    }

    /// The stage's result from every unit's evaluation: the curves, the headline, and the archive group.
    func outcome(_ sweep: AblateSweep, _ pass: Pass, started: Date) throws -> StageOutcome {
        let options = sweep.options
        let (curves, written) = try sweep.assemble(pass.evaluations, base: pass.base)
        let result = Result(baselineAccuracy: pass.base.accuracy, baselineMacroF1: pass.base.macroF1,
                            testExamples: pass.examples, randomSets: options.randomSets, curves: curves,
                            headline: Self.chooseHeadline(curves, base: pass.base.accuracy, declared: options.headline),
                            side: pass.base.sideMean.map { (sideName(options), $0) },
                            score: experiment.isLanguageModelling ? "bleu" : "accuracy",
                            interventions: written,
                            archive: EvidenceArchive.url(folder).path, seconds: Date().timeIntervalSince(started))
        return StageOutcome(notes: ["precision": options.precision.rawValue]) { group in
            try group.setAttribute("precision", .string(options.precision.rawValue))
            try group.setAttribute("examples_from", .string(options.transfer.data.map {
                "\($0.format.rawValue) \($0.path)" } ?? "the test split"))
            try group.setAttribute("neurons_from", .string(options.transfer.run?.path ?? "this run"))
            if let metric = options.metric { try group.setAttribute("neurons_metric", .string(metric)) }
            try Self.write(result, ranked: sweep.ranked, randomSets: sweep.sets.random, into: group)
        }
    }

    /// How the sweep evaluates an intervention, and on how many examples: the task's class
    /// distribution; for an answer task the graded greedy answers (AnswerEvaluator); for a
    /// language-modelling task its continuations of held-out text (ContinuationEvaluator).
    func evaluation(_ options: Options, cacheLayers: Set<Int>) throws
        -> (evaluate: (Intervention?) throws -> Summary, examples: Int) {
        let examples = try evaluationExamples(options)
        if experiment.isLanguageModelling, case .decoder(let model) = experiment.loaded.model {
            let evaluator = try ContinuationEvaluator(
                experiment: experiment, model: model, examples: examples,
                promptTokens: options.continuation.promptTokens, tokens: options.continuation.tokens,
                batchSize: options.batchSize)
            return ({ try evaluator.summary($0) }, evaluator.count)
        }
        if experiment.recipe.task.answer != nil, case .decoder(let model) = experiment.loaded.model {
            let evaluator = try AnswerEvaluator(experiment: experiment, model: model, examples: examples,
                                                batchSize: options.batchSize, shortcut: options.shortcut?.metric)
            return ({ try evaluator.summary($0) }, examples.count)
        }
        let (task, prompt) = try taskAndPrompt(options)
        let labels = examples.map { $0.label! }, classes = task.classes
        let evaluator = try TaskEvaluator(task: task, prompt: prompt, sequences: examples.map { task.ids($0.text) },
                                          labels: labels, batchSize: options.batchSize, cacheLayers: cacheLayers)
        let baseline = try evaluator.classLogProbabilities(nil)
        return ({ intervention in
            Self.summarize(intervention == nil ? baseline : try evaluator.classLogProbabilities(intervention),
                           labels: labels, classes: classes, reference: baseline)
        }, examples.count)
    }

    /// Every neuron's training mean and standard deviation, for mean and noise ablation.
    public typealias NeuronStatistics = [Intervention.Neuron: (mean: Double, std: Double)]

    /// The top k of the ranking for every k swept, and R matched random sets of each, nested as the top
    /// sets are (`nestedMatchedRandomSets`): random set r is one draw followed across the sweep.
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
        sets.random = try nestedMatchedRandomSets(for: sets.top, count: options.randomSets,
                                                  width: experiment.loaded.model.ffnWidth,
                                                  excluding: selected) { seed(.randomSets, $0) }
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
            // Archives from before the parametric p have none.
            let parametric = g.kind(of: "parametric_p") == nil ?
                [Double](repeating: .nan, count: n) : try column("parametric_p")
            let (randomAccuracy, randomKL, randomGeneral) = (try column("random_accuracy"),
                                                             try column("random_kl_task"),
                                                             try column("random_kl_general"))
            guard [acc, macro, conf, loss, klTask, klGeneral, empirical, parametric,
                   z, paired, low, high].allSatisfy({ $0.count == n }),
                  [randomAccuracy, randomKL, randomGeneral].allSatisfy({ $0.count == n * rr }) else {
                throw CollectError.corruptStore(path: url.path,
                                                detail: "/ablate/\(mode.rawValue) has datasets of different lengths")
            }
            var sides: [SideMeasure]?
            if g.kind(of: "side") != nil {
                let (value, empiricalP, parametricP) = (try column("side"), try column("side_empirical_p"),
                                                        try column("side_parametric_p"))
                let randomValues = try column("random_side")
                guard [value, empiricalP, parametricP].allSatisfy({ $0.count == n }),
                      randomValues.count == n * rr else {
                    throw CollectError.corruptStore(path: url.path, detail: "/ablate/\(mode.rawValue)'s " +
                                                    "side-measure datasets have the wrong lengths")
                }
                sides = (0..<n).map {
                    SideMeasure(value: value[$0], randomValues: Array(randomValues[($0 * rr)..<(($0 + 1) * rr)]),
                                empiricalP: empiricalP[$0], parametricP: parametricP[$0])
                }
            }
            curves.append(Curve(mode: mode, axis: axis, fixed: fixed, points: (0..<n).map { i in
                Point(x: x[i], accuracy: acc[i], macroF1: macro[i], meanConfidence: conf[i], meanLoss: loss[i],
                      klTask: klTask[i],
                      klGeneral: klGeneral[i].isNaN ? nil : klGeneral[i],
                      randomAccuracy: Array(randomAccuracy[(i * rr)..<((i + 1) * rr)]),
                      randomKLTask: Array(randomKL[(i * rr)..<((i + 1) * rr)]),
                      randomKLGeneral: randomGeneral[i * rr].isNaN ? [] :
                                  Array(randomGeneral[(i * rr)..<((i + 1) * rr)]),
                      empiricalP: empirical[i], parametricP: parametric[i], z: z[i], pairedP: paired[i],
                      differenceInterval: low[i].isNaN ? nil : (low[i], high[i]), side: sides?[i])
            }))
        }
        let folder = url.deletingLastPathComponent().appendingPathComponent(Self.name.rawValue)
        let interventions = curves.flatMap { curve in curve.points.map { interventionFile(curve.mode, x: $0.x) } }
            .map { folder.appendingPathComponent($0).path }.filter { FileManager.default.fileExists(atPath: $0) }
        return Result(baselineAccuracy: accuracy, baselineMacroF1: f1, testExamples: Int(examples),
                      randomSets: Int(r), curves: curves, headline: try readHeadline(group),
                      side: try readSide(group), score: try readScore(group),
                      interventions: interventions, archive: url.path, seconds: 0)
    }

    struct Summary {
        var accuracy: Double, macroF1: Double, confidence: Double, loss: Double, kl: Double
        /// Per example: the loss the paired test compares, and the score whose mean is the accuracy
        /// (1 or 0 for a class or an answer; sentence BLEU for a continuation).
        var losses: [Double], scores: [Double]
        /// Per example, the task's side measure (`SideMeasure`), if it has one.
        var side: [Double]? = nil

        var sideMean: Double? { side.map { $0.reduce(0, +) / Double(max(1, $0.count)) } }
    }

    /// `ablate.shortcut`: a 0/1 metric of collect.metrics whose share of answers is reported per point.
    struct Shortcut {
        var name: String
        var metric: Metric
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
                       losses: zip(logProbabilities, labels).map { -$0[$1] },
                       scores: evaluation.correct.map { $0 ? 1 : 0 })
    }

    static func compare(x: Double, skill: Summary, skillGeneralKL: Double?, base: Summary,
                        random: [Summary], randomGeneral: [Double], seeds: (UInt64, UInt64)) -> Point {
        let skillDrop = base.accuracy - skill.accuracy
        let randomDrops = random.map { base.accuracy - $0.accuracy }
        let r = Double(random.count)
        let mean = randomDrops.reduce(0, +) / r
        let sd = random.count > 1 ? (randomDrops.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (r - 1))
            .squareRoot() : 0
        // Per example: the skill set's loss minus the mean loss over the random sets.
        let differences = skill.losses.indices.map { i in skill.losses[i] - random.reduce(0) { $0 + $1.losses[i] } / r }
        let paired = signFlipTest(differences, flips: 10_000, seed: seeds.0)
        let interval = bootstrapInterval(examples: skill.scores.count, resamples: 1000, seed: seeds.1) { sample in
            let n = Double(sample.count)
            let a = sample.reduce(0) { $0 + skill.scores[$1] } / n
            let b = random.reduce(0.0) { total, run in total + sample.reduce(0) { $0 + run.scores[$1] } / n } / r
            return a - b
        }
        var side: SideMeasure?
        if let value = skill.sideMean {
            let values = random.compactMap(\.sideMean)
            side = SideMeasure(value: value, randomValues: values,
                               empiricalP: RandomSetComparison.empiricalP(value, values),
                               parametricP: RandomSetComparison.parametricP(value, values))
        }
        return Point(x: x, accuracy: skill.accuracy, macroF1: skill.macroF1,
                     meanConfidence: skill.confidence, meanLoss: skill.loss, klTask: skill.kl,
                     klGeneral: skillGeneralKL, randomAccuracy: random.map(\.accuracy),
                     randomKLTask: random.map(\.kl), randomKLGeneral: randomGeneral,
                     empiricalP: RandomSetComparison.empiricalP(skillDrop, randomDrops),
                     parametricP: RandomSetComparison.parametricP(skillDrop, randomDrops),
                     z: sd > 0 ? (skillDrop - mean) / sd : .nan,
                     pairedP: paired, differenceInterval: interval, side: side)
    }

    /// `/ablate` of the evidence archive: attributes `baseline_accuracy`, `baseline_macro_f1`, `test_examples`,
    /// `random_sets`, `tests`; `neurons` int64 [K, 2] (the ranked neurons swept, best first);
    /// `random_sets/k<k>` int64 [R, k, 2]; and per mode `<mode>/` with attributes `axis` and `fixed` and
    /// float64 datasets over the points: `x`, `accuracy`, `macro_f1`, `confidence`, `loss`, `kl_task`,
    /// `kl_general`, `empirical_p`, `parametric_p`, `z`, `paired_p`, `ci_low`, `ci_high`, and [points, R]:
    /// `random_accuracy`, `random_kl_task`, `random_kl_general`; with a side measure also `side`,
    /// `side_empirical_p`, `side_parametric_p` and [points, R] `random_side` (attributes `side_measure`
    /// name it and `baseline_side` give its unablated value).
    static func write(_ result: Result, ranked: [Intervention.Neuron],
                      randomSets: [Int: [[Intervention.Neuron]]], into group: HDF5Group) throws {
        try group.setAttribute("baseline_accuracy", .double(result.baselineAccuracy))
        try group.setAttribute("baseline_macro_f1", .double(result.baselineMacroF1))
        try group.setAttribute("test_examples", .int(Int64(result.testExamples)))
        try group.setAttribute("random_sets", .int(Int64(result.randomSets)))
        try group.setAttribute("score", .string(result.score))
        if let side = result.side {
            try group.setAttribute("side_measure", .string(side.name))
            try group.setAttribute("baseline_side", .double(side.baseline))
        }
        try write(result.headline, into: group)
        try group.setAttribute("tests", .string(
            "empirical_p: #{sets among the skill set and the R random sets whose accuracy drop is at least as far " +
            "from the sets' mean drop as the skill set's} / (R + 1); parametric_p: two-sided, the skill drop as " +
            "one more draw from a normal fitted to the random drops, on Student's t with R − 1 degrees of " +
            "freedom (t = (drop − mean) / (sd √(1 + 1/R))); z: the skill " +
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
            try column("z", p.map(\.z)); try column("parametric_p", p.map(\.parametricP))
            try column("paired_p", p.map(\.pairedP)); try column("ci_low", p.map { $0.differenceInterval?.low ?? .nan })
            try column("ci_high", p.map { $0.differenceInterval?.high ?? .nan })
            try g.write("random_accuracy", p.flatMap(\.randomAccuracy), shape: [n, r])
            try g.write("random_kl_task", p.flatMap(\.randomKLTask), shape: [n, r])
            try g.write("random_kl_general", p.flatMap {
                $0.randomKLGeneral.isEmpty ? [Double](repeating: .nan, count: r) : $0.randomKLGeneral
            }, shape: [n, r])
            let sides = p.compactMap(\.side)
            if sides.count == n, n > 0 {
                try column("side", sides.map(\.value))
                try column("side_empirical_p", sides.map(\.empiricalP))
                try column("side_parametric_p", sides.map(\.parametricP))
                try g.write("random_side", sides.flatMap(\.randomValues), shape: [n, r])
            }
        }
    }

    static func readScore(_ group: HDF5Group) throws -> String {
        guard try group.attributeNames().contains("score"), case .string(let score) = try group.attribute("score")
        else { return "accuracy" }
        return score
    }

    static func readSide(_ group: HDF5Group) throws -> (name: String, baseline: Double)? {
        guard try group.attributeNames().contains("side_measure"),
              case .string(let name) = try group.attribute("side_measure"),
              case .double(let baseline) = try group.attribute("baseline_side") else { return nil }
        return (name, baseline)
    }
}

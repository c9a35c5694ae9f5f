import ArgumentParser
import Foundation
import Scalpel

/// A recipe's forward stages in each precision, one after the other in one process, each against fp32's:
/// the collection's speed beside what it changes downstream, so that nobody reads one without the other.
///
///   collect   tokens/s, and × fp32
///   rank      Spearman's ρ between the two runs' scores of every neuron (the recipe's statistic and
///             metric), and how many of fp32's top N the precision also puts in its top N
///   ablate    the largest |Δ accuracy| over the baseline and every point of the sweep, in points: each
///             precision ablating the neurons it ranked itself, and ablating fp32's (the ablate stage's
///             own arithmetic, apart from which neurons the precision's ranking selects)
///   logits    the model's last-position logits on the recipe's first texts: max |Δ|, mean KL, top-1
///
/// Each precision runs in a temporary copy of the run folder, with the trained prompt of the recipe's own
/// run. Rank's permutations and bootstrap are cut (no score depends on them), and the ablation's random sets
/// and general texts too (its accuracies do not depend on them).
struct PrecisionBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "precision",
        abstract: "A recipe's collect, rank and ablate per precision: speed beside fidelity to fp32.",
        discussion: """
        A recipe with a prompt stage needs its prompt trained first (scalpel tune-prompt RECIPE): every precision \
        collects with that same prompt.
        """)

    @Argument(help: "Recipe file.") var recipe: String
    @Option(help: """
        Precisions, comma-separated; fp32 always runs first, as the reference. Default: every precision this \
        machine runs.
        """)
    var precisions: String?
    @Option(parsing: .unconditional, help: "Training examples collected, at most.") var examples = 400
    @Option(parsing: .unconditional, help: "Test examples the ablation evaluates, at most (0 skips it).")
    var ablateExamples = 200
    @Option(parsing: .unconditional, help: "Texts whose last-position logits are compared.") var texts = 32
    @Option(parsing: .unconditional, help: "Size of the top selections compared.") var top = 50
    @Flag(help: "Print JSON.") var json = false

    func chosen() throws -> [Precision] {
        guard let precisions else { return Precision.allCases.filter { $0.unavailable == nil } }
        return try Precision.againstFloat32(precisions)
    }

    func validate() throws {
        _ = try chosen()
        try Bounds.atLeast(3).check("examples", examples)
        try Bounds.atLeast(0).check("ablate-examples", ablateExamples)
        try Bounds.atLeast(1, atMost: .value(10_000)).check("texts", texts)
        try Bounds.atLeast(1).check("top", top)
    }

    /// An ablation of fp32's ranking: its sweep, the precision its archive records, and whether the
    /// ranking it ablated is fp32's, score for score.
    struct Ablation {
        var accuracies: [(point: String, accuracy: Double)]
        var ranIn: String?
        var rankingIsFloat32s: Bool
    }

    /// What one precision's run gave.
    struct Outcome {
        var precision: Precision
        var tokensPerSecond: Double
        var seconds: Double
        var scores: [Double]
        var accuracies: [(point: String, accuracy: Double)]    // "baseline", then "<mode> <k or strength>"
        var scoreGroup: [String]                                 // where the archive keeps the scores
        var ablatedIn: String?                                   // the precision the ablate group records
        var float32Neurons: Ablation?                            // ablating fp32's ranking
        var logits: [[Float]]
    }

    func run() throws {
        let original = try Recipe(contentsOf: URL(fileURLWithPath: recipe))
        let source = try Experiment(recipe: original, file: recipe)
        for stage in ["collect", "rank"] where !original.stages.contains(stage) {
            throw ValidationError("bench precision compares the collect and rank stages; \(recipe) has no \(stage)")
        }
        let prompt = original.stages.contains("prompt") ? source.runFolder.appendingPathComponent("prompt") : nil
        if let prompt, (try? RunFolder(source.runFolder).record("prompt")) == nil {
            throw ValidationError("\(recipe) trains a prompt, and every precision collects with the same one: " +
                                  "run `scalpel tune-prompt \(recipe)` first (it found none in \(prompt.path))")
        }
        let scratch = FileManager.default.temporaryDirectory
            .appendingPathComponent("scalpel-bench-precision-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }

        var outcomes: [Outcome] = []
        for skipped in Precision.allCases where precisions == nil && skipped.unavailable != nil {
            Output.progress("bench precision: \(skipped.rawValue) skipped: \(skipped.unavailable!)")
        }
        for precision in try chosen() {
            Output.progress("bench precision: \(precision.rawValue)…")
            let output = scratch.appendingPathComponent(precision.rawValue)
            try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
            if let prompt {
                try FileManager.default.copyItem(at: prompt, to: output.appendingPathComponent("prompt"))
                let evidence = source.runFolder.appendingPathComponent("evidence.h5")
                if FileManager.default.fileExists(atPath: evidence.path) {
                    try FileManager.default.copyItem(at: evidence, to: output.appendingPathComponent("evidence.h5"))
                }
            }
            outcomes.append(try measure(original, precision: precision, output: output))
        }
        let reference = scratch.appendingPathComponent(Precision.fp32.rawValue)
        for i in outcomes.indices.dropFirst() where !outcomes[i].accuracies.isEmpty {
            let precision = outcomes[i].precision
            Output.progress("bench precision: \(precision.rawValue), ablating fp32's neurons…")
            outcomes[i].float32Neurons = try ablateFloat32Ranking(
                original, precision: precision, reference: reference, float32: outcomes[0],
                output: scratch.appendingPathComponent("\(precision.rawValue)-fp32-neurons"))
        }
        report(outcomes, model: source.loaded)
    }

    /// Whether the runs ablate: the recipe does, and --ablate-examples is not 0.
    func runsAblation(_ original: Recipe) -> Bool { ablateExamples > 0 && original.stages.contains("ablate") }

    /// The recipe for a run in `output` (collect and rank in `collect`, ablate in `ablate`) and its folder.
    func setUp(_ original: Recipe, collect: Precision, ablate: Precision, output: URL) throws
        -> (Experiment, RunFolder) {
        let ablates = runsAblation(original)
        var values: [String: Any] = [
            "output": output.path, "collect.precision": collect.rawValue, "ablate.precision": ablate.rawValue,
            "collect.max_examples": min(original.int("collect.max_examples") ?? examples, examples),
            "rank.permutations": 10, "rank.bootstrap": 0,
            "stages": original.stages.filter { ["prompt", "collect", "rank"].contains($0) || ($0 == "ablate" && ablates) },
        ]
        if ablates {
            values["ablate.examples"] = min(original.int("ablate.examples") ?? ablateExamples, ablateExamples)
            values["ablate.random_sets"] = 1
            values["ablate.general_texts"] = 0
        }
        let experiment = try Experiment(recipe: try original.setting(values, file: recipe), file: recipe)
        try experiment.checkStageOptions()
        return (experiment, try RunFolder(experiment.runFolder))
    }

    /// The recipe's collect, rank and ablate in `precision`, in the run folder `output`.
    func measure(_ original: Recipe, precision: Precision, output: URL) throws -> Outcome {
        let ablates = runsAblation(original)
        let (experiment, folder) = try setUp(original, collect: precision, ablate: precision, output: output)
        let started = Date()
        let collected = try CollectStage(experiment: experiment, folder: folder).run(force: true)
        let seconds = Date().timeIntervalSince(started)
        let ranked = try RankStage(experiment: experiment, folder: folder).run(force: true)
        let scoreGroup = ["rank", "metrics", RankStage.groupName(ranked.primaryMetric), ranked.statistic.rawValue]
        let accuracies = ablates ? try Self.sweep(AblateStage(experiment: experiment, folder: folder)) : []
        let archived = try Self.archived(folder, scoreGroup: scoreGroup)
        return Outcome(precision: precision, tokensPerSecond: collected.tokensPerSecond, seconds: seconds,
                       scores: archived.scores, accuracies: accuracies, scoreGroup: scoreGroup,
                       ablatedIn: ablates ? archived.ablatedIn : nil,
                       logits: try Precision.$current.withValue(precision) { try lastLogits(experiment) })
    }

    /// fp32's ranking ablated in `precision`: a copy of fp32's run folder (`reference`) in `output`, whose
    /// ablate stage alone runs again in `precision`.
    func ablateFloat32Ranking(_ original: Recipe, precision: Precision, reference: URL, float32: Outcome,
                              output: URL) throws -> Ablation {
        try FileManager.default.copyItem(at: reference, to: output)
        let (experiment, folder) = try setUp(original, collect: .fp32, ablate: precision, output: output)
        let accuracies = try Self.sweep(AblateStage(experiment: experiment, folder: folder))
        let archived = try Self.archived(folder, scoreGroup: float32.scoreGroup)
        return Ablation(accuracies: accuracies, ranIn: archived.ablatedIn,
                        rankingIsFloat32s: archived.scores.map(\.bitPattern) == float32.scores.map(\.bitPattern))
    }

    /// What a run folder's archive holds: the scores under `scoreGroup`, and the precision its ablate group
    /// records (nil without one).
    static func archived(_ folder: RunFolder, scoreGroup: [String]) throws -> (scores: [Double], ablatedIn: String?) {
        let archive = try EvidenceArchive.open(EvidenceArchive.url(folder))
        let group = try scoreGroup.reduce(archive.root) { try $0.group($1) }
        let ablatedIn: String? = if case .string(let name)? = try? archive.root.group("ablate").attribute("precision") {
            name
        } else { nil }
        return (try group.read("score", as: Double.self).values, ablatedIn)
    }

    /// The ablate stage's accuracies: the baseline, then every point of every curve.
    static func sweep(_ stage: AblateStage) throws -> [(point: String, accuracy: Double)] {
        let swept = try stage.run(force: true)
        return [("baseline", swept.baselineAccuracy)] + swept.curves.flatMap { curve in
            curve.points.map { ("\(curve.mode.rawValue) \(String(format: "%g", $0.x))", $0.accuracy) }
        }
    }

    /// The model's logits at the last position of the dataset's first `texts` texts (a decoder's; none
    /// for an encoder).
    func lastLogits(_ experiment: Experiment) throws -> [[Float]] {
        guard case .decoder(let model) = experiment.loaded.model else { return [] }
        return try experiment.dataset.examples.prefix(texts).map { example in
            let ids = Array(experiment.loaded.tokenizer.encode([TextPart(example.text, parsesSpecial: false)],
                                                                addSpecialTokens: true).prefix(128))
            let batch = TokenBatch([ids])
            return model.forward(embeddings: try model.embed(batch), batch: batch, logitRows: batch.lastRows)
                .logits!.value.scalars
        }
    }

    /// Each precision beside fp32 (the first outcome).
    func report(_ outcomes: [Outcome], model: LoadedModel) {
        let reference = outcomes[0]
        var rows: [[String: Any]] = []
        for outcome in outcomes {
            var row: [String: Any] = [
                "precision": outcome.precision.rawValue, "collect_tokens_per_second": outcome.tokensPerSecond,
                "collect_seconds": outcome.seconds,
                "over_fp32": outcome.tokensPerSecond / reference.tokensPerSecond,
                "score_spearman": Self.spearmanOfFinite(reference.scores, outcome.scores),
                "top_overlap": Self.topOverlap(reference.scores, outcome.scores, count: top),
            ]
            func largestDifference(_ accuracies: [(point: String, accuracy: Double)]) -> Double {
                zip(reference.accuracies, accuracies).map { abs($0.accuracy - $1.accuracy) * 100 }.max() ?? 0
            }
            if !outcome.accuracies.isEmpty {
                row["ablation_max_abs_accuracy_difference_points"] = largestDifference(outcome.accuracies)
                row["ablation_accuracies"] = Dictionary(outcome.accuracies) { a, _ in a }
                row["ablation_precision"] = outcome.ablatedIn
            }
            if let ablation = outcome.float32Neurons {
                row["ablation_of_fp32_neurons_max_abs_accuracy_difference_points"] =
                    largestDifference(ablation.accuracies)
                row["ablation_of_fp32_neurons_accuracies"] = Dictionary(ablation.accuracies) { a, _ in a }
                row["ablation_of_fp32_neurons_precision"] = ablation.ranIn
                row["ablation_of_fp32_neurons_ranking_is_fp32s"] = ablation.rankingIsFloat32s
            }
            if !outcome.logits.isEmpty { row.merge(logitFidelity(reference.logits, outcome.logits)) { a, _ in a } }
            rows.append(row)
        }
        if json {
            Output.printJSON(["benchmark": "precision", "recipe": recipe, "examples": examples, "top": top,
                              "texts": texts, "kernels": KernelPath.record, "cores": Parallelism.cores,
                              "peak_rss_mb": MachineMemory.peakResidentMegabytes, "results": rows]
                .merging(modelRecord(model)) { a, _ in a })
            return
        }
        print("\(recipe): collect, rank and ablate per precision against fp32 (kernel path " +
              "\(KernelPath.current.rawValue), \(Parallelism.cores) cores)")
        print("precision  collect tok/s  × fp32  score ρ   top-\(top) shared  ablation max |Δ| (pts), " +
              "own neurons  fp32's  logits max |Δ|  mean KL")
        for r in rows {
            func number(_ key: String, _ format: String) -> String {
                (r[key] as? Double).map { String(format: format, $0) } ?? "–"
            }
            print(String(format: "%-9@  %13.1f  %6.2f  %7.4f   %11d  %35@  %6@  %14@  %7@",
                         r["precision"] as! String as NSString, r["collect_tokens_per_second"] as! Double,
                         r["over_fp32"] as! Double, r["score_spearman"] as! Double, r["top_overlap"] as! Int,
                         number("ablation_max_abs_accuracy_difference_points", "%.2f") as NSString,
                         number("ablation_of_fp32_neurons_max_abs_accuracy_difference_points", "%.2f") as NSString,
                         number("max_abs_logit_difference", "%.4f") as NSString, number("mean_kl", "%.2e") as NSString))
        }
    }

    /// Spearman's ρ over the neurons scored in both runs (a constant neuron has no score).
    static func spearmanOfFinite(_ a: [Double], _ b: [Double]) -> Double {
        let both = zip(a, b).filter { $0.0.isFinite && $0.1.isFinite }
        return spearman(both.map(\.0), both.map(\.1))
    }

    /// How many of a's `count` largest |scores| are among b's.
    static func topOverlap(_ a: [Double], _ b: [Double], count: Int) -> Int {
        func best(_ s: [Double]) -> Set<Int> {
            Set(s.indices.filter { s[$0].isFinite }.sorted { abs(s[$0]) > abs(s[$1]) }.prefix(count))
        }
        return best(a).intersection(best(b)).count
    }
}

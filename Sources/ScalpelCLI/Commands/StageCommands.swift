import ArgumentParser
import Foundation
import Scalpel

/// `scalpel collect RECIPE [--shard i/N]`: stages 2–3 alone.
struct CollectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "collect",
        abstract: "Record the FFN sites and auxiliary metrics of the recipe's examples into the activation store.",
        discussion: """
        With --shard i/N only the i-th of N slices of the examples is collected, into collect/shard-i-of-N.h5; \
        run every shard (on any machines sharing the run folder), then `scalpel merge RECIPE`.
        """)
    @Argument(help: "Recipe file.") var recipe: String
    @Option(help: "Collect only slice i of N (0-based), e.g. 2/8.") var shard: String?
    @Flag(help: "Recompute even if an up-to-date store exists.") var force = false
    @Flag(help: "Print a JSON summary.") var json = false

    func validate() throws { _ = try ShardOption.parse(shard) }

    func run() throws {
        let shard = try ShardOption.parse(shard)
        let collect = { try Runner.run(recipePath: recipe, from: force ? "collect" : nil, only: ["collect"], shard: shard) }
        let summary = try shard.map { try ShardCommand.run(recipe: recipe, stage: .collect, shard: $0, collect) } ??
            collect()
        Runner.report(summary, json: json)
    }
}

/// `--shard i/N`, as collect and ablate take it.
enum ShardOption {
    static func parse(_ shard: String?) throws -> (Int, Int)? {
        guard let shard else { return nil }
        let parts = shard.split(separator: "/", omittingEmptySubsequences: false).map { Int($0) }
        guard parts.count == 2, let i = parts[0], let n = parts[1], n >= 1, i >= 0, i < n else {
            throw ValidationError("--shard must be i/N with 0 ≤ i < N, e.g. 0/4 (got '\(shard)')")
        }
        return (i, n)
    }
}

/// `scalpel merge RECIPE [--stage collect|ablate] [SHARDS…]`: finishes a sharded stage.
struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "merge",
        abstract: "Merge the shards of a sharded collection or ablation sweep into what a single run writes.",
        discussion: """
        The merged store, archive group and files are the single run's bytes, /provenance aside, whatever the \
        number of shards (when every shard ran on the same kind of kernel). Shards that are missing, given twice, \
        or from another recipe or Scalpel version are refused by name, and nothing is written.
        """)
    @Argument(help: "Recipe file.") var recipe: String
    @Argument(help: "Shard files (default: every <stage>/shard-*-of-N.h5 of the run folder).") var shards: [String] = []
    @Option(help: "The stage to merge: collect or ablate (default: the later stage that has shard files).")
    var stage: String?
    @Flag(help: "Print a JSON summary.") var json = false

    func validate() throws {
        if let stage, !["collect", "ablate"].contains(stage) {
            throw ValidationError("--stage must be collect or ablate (got '\(stage)'); only they run in shards")
        }
    }

    func run() throws {
        let recipe = try Recipe(contentsOf: URL(fileURLWithPath: self.recipe))
        let experiment = try Experiment(recipe: recipe, file: self.recipe)
        try experiment.checkStageOptions()
        let folder = try RunFolder(experiment.runFolder)
        let files = shards.isEmpty ? nil : shards.map { URL(fileURLWithPath: $0) }
        var summary: [String: Any] = ["recipe": recipe.name, "run": folder.url.path]
        switch try chosenStage(folder) {
        case "ablate":
            let result = try AblateStage(experiment: experiment, folder: folder).merge(shards: files)
            summary["ablate"] = StageSummaries.ablate(result)
            summary["ablation"] = StageSummaries.headline(result)
        default:
            let result = try CollectStage(experiment: experiment, folder: folder).merge(shards: files)
            summary["collect"] = StageSummaries.collect(result)
        }
        Runner.report(summary, json: json)
    }

    func chosenStage(_ folder: RunFolder) throws -> String {
        if let stage { return stage }
        let sharded = ["ablate", "collect"].filter { !Shards.status(of: folder.url.appendingPathComponent($0)).isEmpty }
        guard let stage = sharded.first else {
            throw ValidationError("\(folder.url.path) holds no shards of collect or ablate; " +
                                  "run `scalpel collect|ablate RECIPE --shard i/N` first")
        }
        return stage
    }
}

/// `scalpel status RECIPE`: each stage's state, and its shards, for a scheduler's retries.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status",
        abstract: "Show which stages of a recipe's run are done, and which shards are done, running, failed or missing.",
        discussion: """
        A stage is done when it has finished (`scalpel run` checks it is up to date with the recipe, model and \
        data, and reruns it if not). A shard is done when its file is there, failed when it threw or its \
        process on this host is gone, running while its process lives (or on another host), and missing \
        otherwise. Rerun failed and missing shards, then `scalpel merge`.
        """)
    @Argument(help: "Recipe file.") var recipe: String
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        // Light on purpose (a login node, a scheduler's retry loop): the records and shard files only; no
        // model is loaded and nothing is written.
        let recipe = try Recipe(contentsOf: URL(fileURLWithPath: self.recipe))
        let folder = RunFolder(unchecked: URL(fileURLWithPath: Experiment.resolve(recipe.output,
                                                                                  root: ModelAliases.root())))
        var stages: [String: Any] = [:]
        for name in StageName.allCases where recipe.stages.contains(name.rawValue) {
            var entry: [String: Any] = ["state": folder.record(name.rawValue) == nil ? "not run" : "done"]
            let shards = Shards.status(of: folder.url.appendingPathComponent(name.rawValue))
            if let s = shards.last {
                if shards.count > 1 { entry["other_shard_counts"] = shards.dropLast().map(\.count) }
                entry["shards"] = s.count
                entry["done"] = s.done
                entry["running"] = s.running
                entry["failed"] = s.failed
                entry["missing"] = s.missing
                entry["errors"] = Dictionary(uniqueKeysWithValues: s.errors.map { ("\($0.key)", $0.value) })
                if entry["state"] as? String != "done" { entry["state"] = s.complete ? "ready to merge" : "sharded" }
            }
            stages[name.rawValue] = entry
        }
        let summary: [String: Any] = ["recipe": recipe.name, "run": folder.url.path, "stages": stages]
        if json { Output.printJSON(summary); return }
        print("\(recipe.name): \(folder.url.path)")
        for name in StageName.allCases {
            guard let entry = stages[name.rawValue] as? [String: Any] else { continue }
            var line = "  \(name.rawValue): \(entry["state"]!)"
            if let n = entry["shards"] as? Int {
                let list = { (key: String) in (entry[key] as! [Int]).map(String.init).joined(separator: ",") }
                line += " · \(n) shards: done [\(list("done"))] running [\(list("running"))] " +
                    "failed [\(list("failed"))] missing [\(list("missing"))]"
            }
            print(line)
        }
    }
}

/// A shard's whole command under its markers, so that a failure before the stage starts (the recipe, the
/// model, a missing ranking) is recorded as the shard's, for `scalpel status`.
enum ShardCommand {
    static func run<T>(recipe path: String, stage: StageName, shard: (Int, Int), _ body: () throws -> T) throws -> T {
        let recipe = try Recipe(contentsOf: URL(fileURLWithPath: path))
        let folder = URL(fileURLWithPath: Experiment.resolve(recipe.output, root: ModelAliases.root()))
            .appendingPathComponent(stage.rawValue)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return try Shards.run(in: folder, shard: shard, body)
    }
}

/// `scalpel rank RECIPE`: stage 4 alone.
struct RankCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rank",
        abstract: "Score every neuron against every metric, with p- and q-values, and select the skill neurons.")
    @Argument(help: "Recipe file.") var recipe: String
    @Flag(help: "Recompute even if an up-to-date ranking exists.") var force = false
    @Flag(help: "Print a JSON summary.") var json = false

    func run() throws {
        Runner.report(try Runner.run(recipePath: recipe, from: force ? "rank" : nil, only: ["rank"]), json: json)
    }
}

/// `scalpel ablate RECIPE`: stage 5 alone.
struct AblateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ablate",
        abstract: "Ablate or amplify the top neurons over a sweep, each point beside matched random neuron sets.",
        discussion: """
        Each point's intervention is saved as ablate/intervention-*.json; `scalpel generate --intervene FILE` \
        applies one while generating. With --shard i/N only every N-th evaluation of the sweep (the top and \
        random sets of every point) runs, into ablate/shard-i-of-N.h5; run every shard, then \
        `scalpel merge RECIPE --stage ablate`.
        """)
    @Argument(help: "Recipe file.") var recipe: String
    @Option(help: "Evaluate only shard i of N (0-based) of the sweep's evaluations, e.g. 2/8.") var shard: String?
    @Flag(help: "Recompute even if an up-to-date sweep exists.") var force = false
    @Flag(help: "Print a JSON summary.") var json = false

    func validate() throws { _ = try ShardOption.parse(shard) }

    func run() throws {
        guard let shard = try ShardOption.parse(shard) else {
            Runner.report(try Runner.run(recipePath: recipe, from: force ? "ablate" : nil, only: ["ablate"]), json: json)
            return
        }
        let recipe = try Recipe(contentsOf: URL(fileURLWithPath: self.recipe))
        let (result, folder) = try ShardCommand.run(recipe: self.recipe, stage: .ablate, shard: shard) {
            let experiment = try Experiment(recipe: recipe, file: self.recipe)
            try experiment.checkStageOptions()
            let folder = try RunFolder(experiment.runFolder)
            return (try AblateStage(experiment: experiment, folder: folder).run(shard: shard), folder)
        }
        Runner.report(["recipe": recipe.name, "run": folder.url.path,
                       "ablate_shard": ["shard": result.shard, "file": result.file, "evaluations": result.evaluations,
                                        "peak_rss_mb": MachineMemory.peakResidentMegabytes]], json: json)
    }
}

/// `scalpel edit RECIPE`: stage 6 alone.
struct EditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "edit",
        abstract: "Train only the selected neurons' weights and write the edited GGUF (runs/<name>/edit/edited.gguf).")
    @Argument(help: "Recipe file.") var recipe: String
    @Flag(help: "Print a JSON summary.") var json = false

    func run() throws { Runner.report(try Runner.run(recipePath: recipe, from: "edit", only: ["edit"]), json: json) }
}

/// `scalpel audit --base A --edited B [--recipe R]`: an edited checkpoint against its base.
struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "audit",
        abstract: "Compare an edited checkpoint with its base: task metrics, general-text perplexity and KL, " +
            "bias score, and a weight diff.")
    @Option(help: "The base checkpoint (path or alias); default: the recipe's model.") var base: String?
    @Option(help: """
        The edited checkpoint; default: the recipe run's edit/edited.gguf (edit/hf for a Hugging Face base).
        """)
    var edited: String?
    @Option(help: """
        A recipe whose test split and framing to evaluate. With no --base and --edited, its run's edit is \
        audited and the result goes into its evidence archive.
        """)
    var recipe: String?
    @Option(help: "General text for perplexity and KL.") var generalText = AuditStage.defaultGeneralText
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        if recipe == nil && (base == nil || edited == nil) {
            throw ValidationError("give --base and --edited, or --recipe (to audit its run's edit)")
        }
    }

    func run() throws {
        guard let base, let edited else {
            Runner.report(try Runner.run(recipePath: recipe!, from: "audit", only: ["audit"]), json: json)
            return
        }
        var experiment: Experiment?
        if let recipe {
            experiment = try Experiment(recipe: try Recipe(contentsOf: URL(fileURLWithPath: recipe)), file: recipe)
        }
        let report = try AuditStage.compare(base: base, edited: edited, experiment: experiment,
                                            generalText: generalText)
        let summary = StageSummaries.audit(report)
        if json { Output.printJSON(summary) } else { StageSummaries.printAudit(summary) }
        if report.outsideMask > 0 { throw ExitCode(2) }
    }
}

/// The JSON and text forms of each stage's result.
enum StageSummaries {
    static func edit(_ r: EditStage.Result) -> [String: Any] {
        ["neurons": r.neurons.count, "objective": r.objective, "checkpoint": r.checkpoint,
         "huggingface_export": r.huggingFace.map { $0 as Any } ?? NSNull(), "write_mode": r.mode,
         "trainable_weights": r.trainableWeights, "optimizer_state_floats": r.optimizerStateFloats,
         "seconds": r.seconds,
         "float32_test_accuracy": r.float32Accuracy.map(number) ?? NSNull(),
         "loss_first": number(r.losses.first ?? .nan), "loss_last": number(r.losses.last ?? .nan),
         "losses": r.losses.map(number),
         "kl_penalties": r.klPenalties.map(number), "neuron_list": r.neurons.map { "L\($0.layer).\($0.neuron)" }]
    }

    static func audit(_ r: Audit.Report) -> [String: Any] {
        func pair(_ p: (Double, Double)?) -> Any { p.map { [number($0.0), number($0.1)] as Any } ?? NSNull() }
        func value(_ x: Double?) -> Any { x.map(number) ?? NSNull() }
        // The figures and intervals under the archive's names, from the table /audit is written with.
        var json: [String: Any] = [:]
        for (key, figure) in Audit.Report.figures { json[key] = value(r[keyPath: figure]) }
        for (key, interval) in Audit.Report.intervals { json[key] = pair(r[keyPath: interval]) }
        return json.merging([
            "task_examples": r.taskExamples, "bias_pairs": r.biasPairs,
            "edited_neurons": r.neurons.map { $0.map { "L\($0.layer).\($0.neuron)" } as Any } ?? NSNull(),
            "unchanged_tensors": r.unchangedTensors, "changed_weights_outside_mask": r.outsideMask,
            "changed_tensors": r.changes.map {
                ["name": $0.name, "changed_rows": $0.changedRows.count, "changed_columns": $0.changedColumns.count,
                 "delta_norm": $0.deltaNorm, "max_abs_delta": $0.maxAbsDelta, "outside_mask": $0.outsideMask,
                 "changed_bytes": $0.changedBytes.map { $0 as Any } ?? NSNull(),
                 "changed_blocks": $0.changedBlocks.map { $0 as Any } ?? NSNull(),
                 "blocks_outside_mask": $0.blocksOutsideMask.map { $0 as Any } ?? NSNull()] as [String: Any]
            }]) { $1 }
    }

    static func printAudit(_ a: [String: Any]) {
        func f(_ key: String) -> String { (a[key] as? Double).map { String(format: "%.4f", $0) } ?? "–" }
        print("audit:")
        if a["task_examples"] as? Int ?? 0 > 0 {
            print("  task accuracy \(f("accuracy_before")) → \(f("accuracy_after")) on \(a["task_examples"]!) " +
                  "test examples; difference 95% CI \(a["accuracy_difference_ci"]!)")
            if a["accuracy_after_float32_edit"] is Double {
                print("  the edit in Float32, before rounding into the file's format: " +
                      "\(f("accuracy_after_float32_edit"))")
            }
        }
        print("  WikiText perplexity \(f("wikitext_perplexity_before")) → \(f("wikitext_perplexity_after")), " +
              "KL \(f("kl_general"))")
        if a["bias_score_before"] is Double {
            print("  bias score (share of \(a["bias_pairs"]!) pairs preferring the stereotype) " +
                  "\(f("bias_score_before")) \(a["bias_score_before_ci"]!) → " +
                  "\(f("bias_score_after")) \(a["bias_score_after_ci"]!); " +
                  "difference 95% CI \(a["bias_score_difference_ci"]!)")
        }
        for t in a["changed_tensors"] as? [[String: Any]] ?? [] {
            print(String(format: "  %@: %d rows, %d columns changed, |Δ| %.4g, max %.3g, outside the mask %d",
                         t["name"] as! String, t["changed_rows"] as! Int, t["changed_columns"] as! Int,
                         t["delta_norm"] as! Double, t["max_abs_delta"] as! Double, t["outside_mask"] as! Int))
            if let bytes = t["changed_bytes"] as? Int, let blocks = t["changed_blocks"] as? Int,
               let outside = t["blocks_outside_mask"] as? Int {
                print("    \(bytes) bytes in \(blocks) blocks changed, " +
                      "\(outside) of those blocks outside the edited neurons'")
            }
        }
        print("  \(a["unchanged_tensors"]!) tensors byte-identical; " +
              "\(a["changed_weights_outside_mask"]!) weights changed outside the mask")
    }

    static func ablate(_ r: AblateStage.Result) -> [String: Any] {
        ["baseline_accuracy": r.baselineAccuracy, "baseline_macro_f1": number(r.baselineMacroF1),
         "test_examples": r.testExamples, "score": r.score,
         "random_sets": r.randomSets, "seconds": r.seconds, "headline": headline(r),
         "side": r.side.map { ["name": $0.name, "baseline": $0.baseline] as [String: Any] } ?? NSNull(),
         "archive": r.archive, "interventions": r.interventions,
         "curves": r.curves.map { curve in
            ["mode": curve.mode.rawValue, "axis": curve.axis, "fixed": curve.fixed, "points": curve.points.map { p in
                // Answer tasks have no macro-F1 or task KL (NaN), which JSON cannot hold.
                ["x": p.x, "accuracy": p.accuracy, "macro_f1": number(p.macroF1),
                 "confidence": number(p.meanConfidence), "loss": number(p.meanLoss), "kl_task": number(p.klTask),
                 "kl_general": p.klGeneral.map(number) ?? NSNull(),
                 "random_accuracy": p.randomAccuracy,
                 "random_accuracy_mean": p.randomAccuracy.reduce(0, +) / Double(max(1, p.randomAccuracy.count)),
                 "random_kl_task": p.randomKLTask.map(number), "random_kl_general": p.randomKLGeneral.map(number),
                 "empirical_p": p.empiricalP, "parametric_p": number(p.parametricP), "z": number(p.z),
                 "paired_p": p.pairedP,
                 "side": p.side.map { s in
                    ["value": s.value, "random_values": s.randomValues, "empirical_p": s.empiricalP,
                     "parametric_p": number(s.parametricP)] as [String: Any]
                 } ?? NSNull(),
                 "difference_ci": p.differenceInterval.map { [$0.low, $0.high] as Any } ?? NSNull()] as [String: Any]
            }] as [String: Any]
         }]
    }

    /// The headline point (AblateHeadline.swift), for the run's one-line summary.
    static func headline(_ r: AblateStage.Result) -> [String: Any] {
        guard let h = r.headline, let curve = r.curves.first(where: { $0.mode == h.mode }),
              let p = curve.points.first(where: { $0.x == h.x }) else { return [:] }
        let random = p.randomAccuracy
        return ["mode": h.mode.rawValue, "x": h.x, "axis": curve.axis, "declared": h.declared,
                "accuracy_before": r.baselineAccuracy, "accuracy_after": p.accuracy,
                "random_sets": random.count,
                "random_accuracy_after_mean": random.reduce(0, +) / Double(max(1, random.count)),
                "random_accuracy_after_min": random.min() ?? .nan,
                "random_accuracy_after_max": random.max() ?? .nan,
                "p_value": h.p, "test": h.test, "significant": h.significant,
                "empirical_p": p.empiricalP, "parametric_p": number(p.parametricP), "paired_p": p.pairedP,
                "z": number(p.z),
                "difference_ci": p.differenceInterval.map { [$0.low, $0.high] as Any } ?? NSNull(),
                "sentence": h.sentence(in: r)]
    }

    static func printAblate(_ a: [String: Any]) {
        // A continuation task's "accuracy" is its mean BLEU (0–1).
        let score = a["score"] as? String == "bleu" ? "BLEU" : "accuracy"
        print(String(format: "ablate: %d test examples, unablated %@ %.4f, " +
                             "%d matched random sets per point (%.0f s)",
                     a["test_examples"] as! Int, score as NSString, a["baseline_accuracy"] as! Double,
                     a["random_sets"] as! Int, a["seconds"] as! Double))
        for curve in a["curves"] as? [[String: Any]] ?? [] {
            let axis = curve["axis"] as! String
            print("  \(curve["mode"]!) " +
                  "(\(axis == "k" ? "neurons" : "× strength, k = \(Int(curve["fixed"] as! Double))")):")
            let column = score == "BLEU" ? "skill BLEU random BLEU" : "skill acc  random acc"
            print("    \(axis.padding(toLength: 8, withPad: " ", startingAt: 0)) \(column) " +
                  "(min–max)    z      paired p  empirical p  t p     KL task  KL text")
            for p in curve["points"] as? [[String: Any]] ?? [] {
                let random = p["random_accuracy"] as! [Double]
                print(String(format: "    %-8@ %8.4f  %8.4f (%.3f–%.3f)  %6.2f  %8.4f  %8.3f  %6.4f  %7.4f  %7@",
                             (axis == "k" ? String(Int(p["x"] as! Double)) : String(p["x"] as! Double)) as NSString,
                             p["accuracy"] as! Double, p["random_accuracy_mean"] as! Double, random.min() ?? .nan,
                             random.max() ?? .nan, p["z"] as? Double ?? .nan, p["paired_p"] as! Double,
                             p["empirical_p"] as! Double, p["parametric_p"] as? Double ?? .nan,
                             p["kl_task"] as? Double ?? .nan,
                             ((p["kl_general"] as? Double).map { String(format: "%.4f", $0) } ?? "–") as NSString))
            }
        }
        if let side = a["side"] as? [String: Any], let name = side["name"] as? String {
            print(String(format: "  %@: unablated %.4f", name as NSString, side["baseline"] as! Double))
            for curve in a["curves"] as? [[String: Any]] ?? [] {
                for p in curve["points"] as? [[String: Any]] ?? [] {
                    guard let s = p["side"] as? [String: Any], let random = s["random_values"] as? [Double]
                    else { continue }
                    print(String(format: "    %@ %@: %.4f, random %.4f (%.3f–%.3f), empirical p %.3f",
                                 curve["mode"] as! String as NSString, String(p["x"] as! Double) as NSString,
                                 s["value"] as! Double,
                                 random.reduce(0, +) / Double(max(1, random.count)), random.min() ?? .nan,
                                 random.max() ?? .nan, s["empirical_p"] as! Double))
                }
            }
        }
        if let sentence = (a["headline"] as? [String: Any])?["sentence"] as? String {
            print("  headline: \(sentence)")
        }
        print("  archive: \(a["archive"]!)")
    }

    static func collect(_ r: CollectStage.Result) -> [String: Any] {
        ["store": r.store, "train_rows": r.trainRows, "dev_rows": r.devRows, "columns": r.columns,
         "positions": r.positions, "metrics": r.metrics, "tokens_per_second": r.tokensPerSecond, "reused": r.reused]
    }

    static func number(_ x: Double) -> Any { x.isFinite ? x : NSNull() }

    static func neuron(_ n: ScoredNeuron, positions: [String]) -> [String: Any] {
        ["layer": n.layer, "neuron": n.neuron,
         "position": positions.indices.contains(n.position) ? positions[n.position] : String(n.position),
         "score": number(n.score), "p_value": number(n.pValue), "q_value": number(n.qValue)]
    }

    static func rank(_ r: RankStage.Result) -> [String: Any] {
        let positions = r.constantNeurons.keys.sorted()
        let ordered = positionsInOrder(r)
        var metrics: [[String: Any]] = []
        for report in r.reports {
            var entry: [String: Any] = ["metric": report.metric]
            if let reason = report.excluded { entry["excluded"] = reason; metrics.append(entry); continue }
            let top10 = Array(report.top.prefix(10))
            entry["top10_mean_abs"] = number(top10.reduce(0) { $0 + abs($1.score) } / Double(max(1, top10.count)))
            entry["top1_abs"] = number(abs(report.top.first?.score ?? .nan))
            entry["top50_mean_abs"] = number(report.top.prefix(50).reduce(0) { $0 + abs($1.score) } /
                                             Double(max(1, min(50, report.top.count))))
            entry["top10"] = top10.map { neuron($0, positions: ordered) }
            entry["top10_layers"] = top10.map(\.layer)
            entry["selected"] = report.selection.count
            entry["selection"] = zip(report.selection, report.intervals + [(low: Double, high: Double)?](
                repeating: nil, count: max(0, report.selection.count - report.intervals.count))).map { n, ci in
                var item = neuron(n, positions: ordered)
                item["ci"] = ci.map { [number($0.low), number($0.high)] as Any } ?? NSNull()
                return item
            }
            entry["selection_layers"] = Dictionary(grouping: report.selection, by: \.layer)
                .map { ["layer": $0.key, "count": $0.value.count] }
                .sorted { ($0["layer"] as! Int) < ($1["layer"] as! Int) }
            if let p = report.topPredictivity { entry["top10_predictivity"] = p.map(number) }
            metrics.append(entry)
        }
        var out: [String: Any] = ["statistic": r.statistic.rawValue, "rule": r.rule.description,
                "primary_metric": r.primaryMetric, "permutations": r.permutations,
                "train_rows": r.trainRows, "dev_rows": r.devRows,
                "constant_neurons": Dictionary(uniqueKeysWithValues: positions.map { ($0, r.constantNeurons[$0]!) }),
                "metrics": metrics, "archive": r.archive, "reused": r.reused,
                "overlaps": r.overlaps.map {
                    ["a": $0.a, "b": $0.b, "jaccard": $0.jaccard, "shared": $0.shared.map(\.description)]
                }]
        if let c = r.contrast {
            out["contrast"] = ["a": c.a, "b": c.b, "significant_only_for_a": c.onlyA, "significant_only_for_b": c.onlyB,
                               "neurons": c.neurons.map { n -> [String: Any] in
                                   ["layer": n.layer, "neuron": n.neuron,
                                    "position": n.position < ordered.count ? ordered[n.position] : "\(n.position)",
                                    "score_a": number(n.scoreA), "score_b": number(n.scoreB), "q_a": number(n.qA),
                                    "q_b": number(n.qB)]
                               }] as [String: Any]
        }
        return out
    }

    /// Position names in the archive's order (prompt.0…, last, mean), for naming neurons' best positions.
    static func positionsInOrder(_ r: RankStage.Result) -> [String] {
        (try? RankStage.positions(r.archive)) ?? r.constantNeurons.keys.sorted()
    }

    static func topCorrelation(_ r: RankStage.Result) -> [String: Any] {
        guard let report = r.reports.first(where: { $0.metric == r.primaryMetric }) else { return [:] }
        let top = report.top.prefix(10)
        return ["metric": report.metric, "statistic": r.statistic.rawValue, "k": top.count,
                "mean_abs_r": number(top.reduce(0) { $0 + abs($1.score) } / Double(max(1, top.count)))]
    }

    static func printCollect(_ c: [String: Any]) {
        print("collect: \(c["train_rows"]!) training + \(c["dev_rows"]!) dev examples, " +
              "\(c["columns"]!) neurons at \((c["positions"] as? [String] ?? []).joined(separator: ", "))")
        print("  metrics: \((c["metrics"] as? [String] ?? []).joined(separator: ", "))")
        if let rate = c["tokens_per_second"] as? Double, rate > 0 { print(String(format: "  %.0f tokens/s", rate)) }
        print("  store: \(c["store"]!)")
    }

    static func printRank(_ r: [String: Any]) {
        print("rank: \(r["statistic"]!) against each metric, \(r["permutations"]!) permutations; " +
              "selection: \(r["rule"]!) by \(r["primary_metric"]!)")
        if let constant = r["constant_neurons"] as? [String: Int] {
            print("  constant neurons excluded: " +
                  constant.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        }
        for m in r["metrics"] as? [[String: Any]] ?? [] {
            if let reason = m["excluded"] { print("  \(m["metric"]!): excluded (\(reason))"); continue }
            let mean = m["top10_mean_abs"] as? Double ?? .nan
            print(String(format: "  %@: top-10 mean |score| %.3f (top-1 %.3f, top-50 %.3f), layers %@",
                         m["metric"] as! String, mean, m["top1_abs"] as? Double ?? .nan,
                         m["top50_mean_abs"] as? Double ?? .nan, "\(m["top10_layers"] ?? [])"))
            if let p = m["top10_predictivity"] as? [Any] {
                print("    predictivity of those 10: " +
                      p.map { ($0 as? Double).map { String(format: "%.3f", $0) } ?? "–" }.joined(separator: " "))
            }
            for n in (m["selection"] as? [[String: Any]] ?? []).prefix(5) {
                let ci = (n["ci"] as? [Any]).map {
                    """
                     CI [\($0.map { ($0 as? Double).map { String(format: "%.3f", $0) } ?? "–" }
                        .joined(separator: ", "))]
                    """
                } ?? ""
                print(String(format: "    L%d.%d @%@ %.3f p=%.4f q=%.4f%@", n["layer"] as! Int, n["neuron"] as! Int,
                             n["position"] as! String, n["score"] as? Double ?? .nan, n["p_value"] as? Double ?? .nan,
                             n["q_value"] as? Double ?? .nan, ci))
            }
        }
        for o in r["overlaps"] as? [[String: Any]] ?? [] {
            print(String(format: "  overlap %@ / %@: Jaccard %.3f, %d shared", o["a"] as! String, o["b"] as! String,
                         o["jaccard"] as! Double, (o["shared"] as! [String]).count))
        }
        if let c = r["contrast"] as? [String: Any] {
            print("  neurons that track \(c["a"]!) more than \(c["b"]!) (\(c["significant_only_for_a"]!) " +
                  "significant only for \(c["a"]!), \(c["significant_only_for_b"]!) only for \(c["b"]!)):")
            for n in (c["neurons"] as? [[String: Any]] ?? []).prefix(10) {
                print(String(format: "    L%d.%d @%@ %@ %.3f (q %.4f), %@ %.3f (q %.4f)", n["layer"] as! Int,
                             n["neuron"] as! Int, n["position"] as! String,
                             c["a"] as! String, n["score_a"] as? Double ?? .nan, n["q_a"] as? Double ?? .nan,
                             c["b"] as! String, n["score_b"] as? Double ?? .nan, n["q_b"] as? Double ?? .nan))
            }
        }
        print("  archive: \(r["archive"]!)")
    }
}

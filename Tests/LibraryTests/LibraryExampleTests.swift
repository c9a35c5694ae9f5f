import Testing
import Foundation
import Scalpel
import TestSupport

/// The library example of docs/library.md, compiled and run on a tiny model: if the API it shows changes, this fails.
@Suite struct LibraryExampleTests {
    @Test func theReadmeExampleRuns() throws {
        let directory = try Fixtures.scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = TinyModels.llamaConfig(vocabulary: 260)
        let modelPath = directory.appendingPathComponent("tiny.gguf").path
        try TinyModels.writeLlamaGGUF(URL(fileURLWithPath: modelPath), tensors: TinyModels.llamaTensors(config), config: config)
        var rows = "text,label\n"
        for i in 0..<80 { rows += (i % 2 == 0 ? "good film \(i)" : "bad film \(i)") + ",\(i % 2 == 0 ? "pos" : "neg")\n" }
        try rows.write(to: directory.appendingPathComponent("data.csv"), atomically: true, encoding: .utf8)
        let recipeText = """
        name: library-example
        model: \(modelPath)
        output: \(directory.appendingPathComponent("run").path)
        stages: [collect, rank]
        data: {loader: csv, path: \(directory.appendingPathComponent("data.csv").path), text: text, label: label}
        task: {template: "{text} =", verbalizers: ["a", "b"]}
        collect: {positions: [last], metrics: [label]}
        rank: {permutations: 50, top_k: 5}
        """

        // --- docs/library.md: "Using Scalpel as a library" ---
        let recipe = try Recipe(text: recipeText, file: "example.yaml")
        let experiment = try Experiment(recipe: recipe, file: "example.yaml")
        let folder = try RunFolder(experiment.runFolder)
        _ = try CollectStage(experiment: experiment, folder: folder).run(quiet: true)
        let ranking = try RankStage(experiment: experiment, folder: folder).run(quiet: true)
        let label = ranking.reports.first { $0.metric == "label" }!
        for neuron in label.selection { print("L\(neuron.layer).\(neuron.neuron)  r = \(neuron.score)  q = \(neuron.qValue)") }

        // Read the FFN sites of one text, and turn the selected neurons off while generating.
        let loaded = try ModelLoader.load(modelPath)
        guard case .decoder(let model) = loaded.model else { return }
        let ids = loaded.tokenizer.encode("good film", addSpecialTokens: true)
        let batch = TokenBatch([ids])
        var hooks = HookSet()
        hooks.collect(HookName.mlpSite(1)) { site in print("layer 1 site:", site.shape) }   // [tokens, F]
        _ = model.forward(embeddings: try model.embed(batch), batch: batch, hooks: hooks, logitRows: [])
        var off = HookSet()
        for (layer, neurons) in Dictionary(grouping: label.selection, by: \.layer) {
            off.add(HookName.mlpSite(layer), .scale(rows: nil, columns: neurons.map(\.neuron), by: 0))
        }
        let text = loaded.tokenizer.decode(try model.generate(prompt: ids, maxTokens: 5, hooks: off))

        // The evidence as data, and as a page.
        let evidence = try EvidenceReader.read(EvidenceArchive.url(folder))
        try ReportPage.html(evidence).write(to: folder.url.appendingPathComponent("report.html"), atomically: true, encoding: .utf8)
        // --- end of the example ---

        #expect(label.selection.count == 5 && evidence.rank?.metrics.first?.selection.count == 5)
        #expect(!text.isEmpty && FileManager.default.fileExists(atPath: folder.url.appendingPathComponent("report.html").path))
    }
}

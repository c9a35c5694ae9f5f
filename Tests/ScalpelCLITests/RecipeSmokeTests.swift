import Testing
import Foundation
import TestSupport
import Yams

/// Every shipped recipe runs end to end in a tiny configuration: its model swapped for a tiny random one of
/// the same family, its training cut to a few examples and its sizes shrunk, every other key kept. So a recipe
/// cannot silently rot when the stages change. The real data must be fetched (CI fetches it).
@Suite struct RecipeSmokeTests {
    static let root = InspectCommandTests.root
    static var recipes: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("Recipes").path)) ?? [])
            .filter { $0.hasSuffix(".yaml") }.sorted()
    }

    /// The recipe with a tiny model and tiny sizes, written into `directory`.
    static func shrink(_ text: String, model: String, directory: URL,
                       neuronsFrom: String? = nil) throws -> (recipe: String, dataPath: String) {
        var r = try #require(try Yams.load(yaml: text) as? [String: Any])
        func section(_ name: String, _ body: (inout [String: Any]) -> Void) {
            guard var s = r[name] as? [String: Any] else { return }
            body(&s)
            r[name] = s
        }
        r["model"] = model
        r["output"] = directory.appendingPathComponent("run").path
        var dataPath = ""
        section("data") { d in
            let path = d["path"] as? String ?? ""
            dataPath = path.hasPrefix("/") ? path : root.appendingPathComponent(path).path
            d["path"] = dataPath   // all rows: files can be sorted by label, so the first few would hold one class
        }
        section("task") { t in if t["verbalizers"] != nil { t["verbalizers"] = ["a", "b"] } }
        section("prompt") { p in p["length"] = 2; p["epochs"] = 1; p["max_train_examples"] = 16; p["batch_size"] = 8 }
        section("collect") { c in c["max_examples"] = 30; c["batch_size"] = 4; c["max_tokens"] = 8 }
        section("rank") { k in k["permutations"] = 20; k["bootstrap"] = 10; if k["top_k"] != nil { k["top_k"] = 4 } }
        section("ablate") { a in
            a["k"] = ["2"]; a["amplify_k"] = 2; a["random_sets"] = 2; a["general_texts"] = 2; a["examples"] = 16
            if var headline = a["headline"] as? [String: Any], headline["k"] != nil {
                headline["k"] = 2
                a["headline"] = headline
            }
            if let neuronsFrom { a["neurons_from"] = neuronsFrom }
            // A tiny random model never copies an operand, so a shortcut metric is constant and ranks
            // nothing: the ablation takes the ranking's own metric (the shortcut's share is still reported).
            if a["metric"] != nil, let metric = (r["rank"] as? [String: Any])?["metric"] { a["metric"] = metric }
        }
        section("edit") { e in e["neurons"] = 3; e["steps"] = 2; e["batch_size"] = 4 }
        if var audit = r["audit"] as? [String: Any], let general = audit["general_text"] as? String, !general.hasPrefix("/") {
            audit["general_text"] = root.appendingPathComponent(general).path
            r["audit"] = audit
        }
        let file = directory.appendingPathComponent("recipe.yaml")
        try Yams.dump(object: r).write(to: file, atomically: true, encoding: .utf8)
        return (file.path, dataPath)
    }

    @Test(arguments: recipes)
    func runsEndToEndOnATinyModel(_ name: String) throws {
        let directory = try Self.workDirectory(name)
        defer { if Self.keep == nil { try? FileManager.default.removeItem(at: directory) } }
        let text = try String(contentsOf: Self.root.appendingPathComponent("Recipes/\(name)"), encoding: .utf8)
        let original = try #require(try Yams.load(yaml: text) as? [String: Any])
        // The tiny stand-in of the recipe's model family.
        let model: String
        switch original["model"] as? String {
        case "minilm":
            try TinyModels.writeBertFolder(directory.appendingPathComponent("bert"))
            model = directory.appendingPathComponent("bert/model.safetensors").path
        case "gemma3":
            let c = TinyModels.gemmaConfig(vocabulary: 260)
            model = directory.appendingPathComponent("tiny-gemma.gguf").path
            try TinyModels.writeLlamaGGUF(URL(fileURLWithPath: model), architecture: "gemma3", tensors: TinyModels.gemmaTensors(c), config: c)
        default:
            let c = TinyModels.llamaConfig(vocabulary: 260)
            model = directory.appendingPathComponent("tiny.gguf").path
            try TinyModels.writeLlamaGGUF(URL(fileURLWithPath: model), tensors: TinyModels.llamaTensors(c), config: c)
        }
        // A transfer recipe reads another recipe's run (`ablate.neurons_from: runs/<name>`): that recipe,
        // shrunk onto the same tiny model, runs first.
        var neuronsFrom: String?
        if let from = (original["ablate"] as? [String: Any])?["neurons_from"] as? String {
            let source = try String(contentsOf: Self.root.appendingPathComponent(
                "Recipes/\(URL(fileURLWithPath: from).lastPathComponent).yaml"), encoding: .utf8)
            let folder = directory.appendingPathComponent("source")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let (sourceRecipe, sourceData) = try Self.shrink(source, model: model, directory: folder)
            guard Fixtures.isFetched(recipeDataPath: sourceData) else {
                print("skipped \(name): its source run's data \(sourceData) is not fetched (run Scripts/fetch data)")
                return
            }
            let run = try runScalpel(["run", sourceRecipe, "--json"], in: Self.root)
            #expect(run.status == 0, "\(name)'s source run: \(run.stderr.suffix(2000))")
            neuronsFrom = folder.appendingPathComponent("run").path
        }
        let (recipe, dataPath) = try Self.shrink(text, model: model, directory: directory, neuronsFrom: neuronsFrom)
        guard Fixtures.isFetched(recipeDataPath: dataPath) else {
            print("skipped \(name): its data \(dataPath) is not fetched (run Scripts/fetch data)")
            return
        }
        let run = try runScalpel(["run", recipe, "--json"], in: Self.root)
        #expect(run.status == 0, "\(name): \(run.stderr.suffix(2000))")
        guard run.status == 0 else { return }
        if Self.keep != nil { try Data(run.stdout.utf8).write(to: directory.appendingPathComponent("cli-summary.json")) }
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        let stages = original["stages"] as? [String] ?? ["prompt"]
        if stages.contains("rank") { #expect(summary["report"] is String, "\(name): no report") }
        if stages.contains("edit") {
            let edited = try #require(summary["edited_checkpoint"] as? String)
            #expect(FileManager.default.fileExists(atPath: edited))
        }
        if stages.contains("prompt") { #expect(summary["prompt_accuracy"] is Double) }
        // Again without --json: every stage is reused and its tables printed for a person (NaN figures of
        // answer and continuation tasks once crashed the ablation's table).
        let printed = try runScalpel(["run", recipe], in: Self.root)
        #expect(printed.status == 0 && printed.stdout.contains("summary:"), "\(name): \(printed.stderr.suffix(2000))")
    }

    /// SCALPEL_KEEP_SMOKE_RUNS=DIR runs each recipe in DIR/<recipe> and keeps it, with the command's JSON
    /// (cli-summary.json): the same paths on every run, so tools/archive_identity.py can compare the folders
    /// before and after a change of structure.
    static let keep = ProcessInfo.processInfo.environment["SCALPEL_KEEP_SMOKE_RUNS"]

    static func workDirectory(_ name: String) throws -> URL {
        guard let keep else { return try Fixtures.scratchDirectory() }
        let directory = URL(fileURLWithPath: keep).appendingPathComponent(String(name.dropLast(5)))
        try? FileManager.default.removeItem(at: directory)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }
}

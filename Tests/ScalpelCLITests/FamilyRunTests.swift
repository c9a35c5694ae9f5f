import Testing
import Foundation
import Models
import TestSupport

/// Every stage of a recipe — prompt, collect, rank, ablate, edit (with both exports) and the audit — on
/// each golden family's tiny model, from its GGUF and from its Hugging Face folder. The exported folder
/// then loads back in Scalpel and gives the edited model's logits exactly.
@Suite(.enabled(if: FileManager.default.fileExists(atPath: Fixtures.goldenRoot.appendingPathComponent("families").path),
                "../shared/golden/families is missing"))
struct FamilyRunTests {
    static let families = ["llama3", "mistral", "qwen2", "qwen3", "phi3", "gemma2", "gpt2", "gptneox"]
    static let cases: [(String, String)] = families.flatMap { [($0, "model-f32.gguf"), ($0, "hf")] }

    func write(_ directory: URL, family: String, source: String) throws -> URL {
        var rows = "text,label\n"
        for i in 0..<60 { rows += (i % 2 == 0 ? "good film \(i)" : "bad film \(i)") + ",\(i % 2)\n" }
        try rows.write(to: directory.appendingPathComponent("data.csv"), atomically: true, encoding: .utf8)
        let general = (0..<110).map { "{\"text\": \"The film \($0) was shown in the city of \($0 * 7) people.\"}" }.joined(separator: "\n")
        try general.write(to: directory.appendingPathComponent("general.jsonl"), atomically: true, encoding: .utf8)
        let model = Fixtures.goldenRoot.appendingPathComponent("families/\(family)/\(source)").path
        let recipe = directory.appendingPathComponent("recipe.yaml")
        try """
        name: \(family)
        model: \(model)
        seed: 3
        output: \(directory.appendingPathComponent("run").path)
        stages: [prompt, collect, rank, ablate, edit, audit]
        data: {loader: csv, path: \(directory.appendingPathComponent("data.csv").path), text: text, label: label, split: {train: 0.6, dev: 0.2, test: 0.2}}
        task: {template: "{text} =", verbalizers: ["a", "b"]}
        prompt: {length: 2, epochs: 1, batch_size: 8}
        collect: {max_examples: 30, batch_size: 4}
        rank: {permutations: 20, bootstrap: 10, top_k: 6}
        ablate: {k: [2], random_sets: 2, general_texts: 2, general_text: \(directory.appendingPathComponent("general.jsonl").path)}
        edit: {neurons: 3, steps: 2, batch_size: 4, kl_weight: 0.1, general_texts: 4}
        audit: {general_text: \(directory.appendingPathComponent("general.jsonl").path)}
        """.write(to: recipe, atomically: true, encoding: .utf8)
        return recipe
    }

    @Test(arguments: cases)
    func everyStageRuns(family: String, source: String) throws {
        let directory = try Fixtures.scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let recipe = try write(directory, family: family, source: source)
        let run = try runScalpel(["run", recipe.path, "--json"])
        #expect(run.status == 0, "\(family) \(source): \(run.stderr.suffix(3000))")
        guard run.status == 0 else { return }
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        let edited = try #require(summary["edited_checkpoint"] as? String)
        let stage = directory.appendingPathComponent("run/edit")
        #expect(FileManager.default.fileExists(atPath: stage.appendingPathComponent("hf/model.safetensors").path))
        #expect(FileManager.default.fileExists(atPath: stage.appendingPathComponent("hf/config.json").path))
        #expect(source == "hf" || FileManager.default.fileExists(atPath: stage.appendingPathComponent("edited.gguf").path))

        // The export loads on its own (the folder's tokenizer files copied, or the GGUF's vocabulary written
        // as tokenizer.json), tokenizes as the edited checkpoint does, and gives its logits.
        let export = stage.appendingPathComponent("hf")
        let (editedModel, exported) = (try ModelLoader.load(edited), try ModelLoader.load(export.path))
        let text = "The film 12 was shown to 84 people<|im_end|>, naïvely."
        #expect(exported.tokenizer.encode(text) == editedModel.tokenizer.encode(text), "\(family) \(source)")
        guard case .decoder(let a) = editedModel.model, case .decoder(let b) = exported.model else {
            Issue.record("not decoders"); return
        }
        let batch = TokenBatch([[5, 80, 200, 31, 7, 300, 44]])
        let fromEdit = a.forward(embeddings: try a.embed(batch), batch: batch).logits!.value.scalars
        let fromExport = b.forward(embeddings: try b.embed(batch), batch: batch).logits!.value.scalars
        // From a GGUF, two exports round: Gemma's norms are written as w − 1, and Llama 3.1's RoPE divisors
        // become rope_parameters, whose frequencies differ in the last bits. Every other export is exact.
        let exact = source == "hf" || !["gemma2", "llama3"].contains(family)
        if exact { #expect(fromEdit == fromExport, "\(family) \(source)") }
        #expect(compareClose(fromEdit, fromExport, absolute: 1e-4) == nil, "\(family) \(source)")
    }
}

/// `scalpel forward --ids` runs given token ids on a folder or any GGUF, with the reference's predictions;
/// `scalpel inspect` reads sharded folders.
@Suite(.enabled(if: FileManager.default.fileExists(atPath: Fixtures.goldenRoot.appendingPathComponent("families").path),
                "../shared/golden/families is missing"))
struct ForwardIDsTests {
    @Test(arguments: ["gpt2/hf", "gptneox/model-q8_0.gguf", "phi3/model-f32.gguf"])
    func idsRunAsGiven(_ model: String) throws {
        let family = String(model.split(separator: "/")[0])
        let golden = "families/\(family)"
        let ids = try Fixtures.goldenInts(golden, "p0_ids.i32")
        let path = Fixtures.goldenRoot.appendingPathComponent("families/\(model)").path
        let run = try runScalpel(["forward", "--model", path, "--ids", ids.map(String.init).joined(separator: ","), "--top", "1", "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        #expect((object["ids"] as? [Int]) == ids.map(Int.init))
        let positions = try #require(object["positions"] as? [[String: Any]])
        if !model.contains("q8_0") {
            let logits = try Fixtures.goldenFloats(golden, "p0_logits.f32"), v = logits.count / ids.count
            let expected = (0..<ids.count).map { t in (0..<v).max { logits[t * v + $0] < logits[t * v + $1] }! }
            #expect(positions.map { $0["argmax"] as? Int } == expected)
            let loss = Double(try Fixtures.goldenFloats(golden, "p0_loss.f32")[0])
            #expect(abs((object["loss"] as? Double ?? 0) - loss) <= 1e-5 * loss)
        }
    }

    @Test(arguments: [("12,x", "entry 2 is 'x'"), ("12,99999", "outside"), ("-3", "entry 1")])
    func badIDsAreRefused(ids: String, fragment: String) throws {
        let path = Fixtures.goldenRoot.appendingPathComponent("families/gpt2/model-f32.gguf").path
        let run = try runScalpel(["forward", "--model", path, "--ids=\(ids)", "--json"])
        #expect(run.status != 0)
        let object = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
        #expect(((object?["error"] as? [String: Any])?["message"] as? String)?.contains(fragment) == true, "\(run.stdout) \(run.stderr)")
    }

    @Test func inspectReadsAShardedFolder() throws {
        let run = try runScalpel(["inspect", Fixtures.goldenRoot.appendingPathComponent("families/llama3/hf").path, "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        #expect(object["architecture"] as? String == "llama" && object["parameters"] as? Int == 195_008)
        #expect((object["tensors"] as? [Any])?.count == 30)
    }
}

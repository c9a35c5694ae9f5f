import Foundation
import Testing
import Checkpoints
import TestSupport

/// `bench precision` on a tiny Llama whose block matrices are Q8_0, so that int8 reads them.
@Suite struct PrecisionBenchTests {
    /// Each precision ablates the neurons it ranked itself and fp32's; both sweeps have fp32's points, and
    /// the ablation of fp32's neurons runs in the precision's own arithmetic (its archive says so), on
    /// fp32's scores bit for bit, so its baseline is the precision's.
    @Test func int8AblatesItsOwnNeuronsAndFloat32s() throws {
        let (directory, _, data) = try tinyRunFolder()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = TinyModels.llamaConfig(hidden: 32, ffn: 64, vocabulary: 260)
        let model = directory.appendingPathComponent("tiny-q8_0.gguf")
        try TinyModels.writeLlamaGGUF(model, tensors: TinyModels.llamaTensors(config), config: config) { name, t in
            guard name.hasPrefix("blk."), t.shape.count == 2 else { return nil }
            return (.q8_0, try quantize(t.scalars, to: .q8_0))
        }
        let recipe = directory.appendingPathComponent("r.yaml")
        try """
        name: tiny
        model: \(model.path)
        output: \(directory.appendingPathComponent("run").path)
        stages: [collect, rank, ablate]
        data: {loader: csv, path: \(data.path), text: text, label: label}
        task: {template: "{text} =", verbalizers: ["a", "b"]}
        collect: {positions: [last], metrics: [label, confidence]}
        rank: {permutations: 10, top_k: 3, bootstrap: 0}
        ablate: {modes: [zero], k: ["2", "8"], random_sets: 1, general_texts: 0}
        """.write(to: recipe, atomically: true, encoding: .utf8)
        let result = try runScalpel(["bench", "precision", recipe.path, "--precisions", "int8", "--examples", "30",
                                     "--ablate-examples", "12", "--texts", "2", "--top", "5", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let rows = try #require(json["results"] as? [[String: Any]])
        #expect(rows.map { $0["precision"] as? String } == ["fp32", "int8"])
        let fp32 = try #require(rows[0]["ablation_accuracies"] as? [String: Double])
        #expect(rows[0]["ablation_max_abs_accuracy_difference_points"] as? Double == 0)
        #expect(rows[0]["ablation_of_fp32_neurons_accuracies"] == nil, "fp32 is the reference")
        let own = try #require(rows[1]["ablation_accuracies"] as? [String: Double])
        let float32Neurons = try #require(rows[1]["ablation_of_fp32_neurons_accuracies"] as? [String: Double])
        #expect(Set(fp32.keys) == ["baseline", "zero 2", "zero 8"])
        #expect(Set(own.keys) == Set(fp32.keys) && Set(float32Neurons.keys) == Set(fp32.keys))
        #expect(float32Neurons["baseline"] == own["baseline"], "the baseline ablates nothing, in int8 both times")
        // What the archives record: each ablation's precision, and the ranking the second one ablated.
        #expect(rows[0]["ablation_precision"] as? String == "fp32")
        #expect(rows[1]["ablation_precision"] as? String == "int8")
        #expect(rows[1]["ablation_of_fp32_neurons_precision"] as? String == "int8")
        #expect(rows[1]["ablation_of_fp32_neurons_ranking_is_fp32s"] as? Bool == true)
        let largest = try #require(rows[1]["ablation_of_fp32_neurons_max_abs_accuracy_difference_points"] as? Double)
        let expected = fp32.keys.map { abs(fp32[$0]! - float32Neurons[$0]!) * 100 }.max()!
        #expect(abs(largest - expected) < 1e-9)
    }
}

import Testing
import Foundation
import Checkpoints
import Models
import TensorCore
import TestSupport
import Tokenizers

/// Passes in int8 (Precision.int8): weights in ggml blocks times activations quantized per 32, in a
/// decoding step's few rows and in a full pass's many alike. They differ from fp32 by the activations'
/// rounding alone, and leave fp32 passes untouched.
@Suite(.serialized) struct IntegerDecodingTests {
    /// A tiny Llama with a tensor of every block type, rows whole K-blocks.
    static func everyTypeModel() throws -> String {
        let config = TinyModels.llamaConfig(layers: 2, hidden: 256, heads: 4, kvHeads: 2, ffn: 512, vocabulary: 300)
        let tensors = TinyModels.llamaTensors(config, seed: 9)
        let types: [GGMLType] = [.q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K]
        let matrices = tensors.keys.filter { tensors[$0]!.rank == 2 }.sorted()
        let url = try Fixtures.scratchDirectory().appendingPathComponent("int8-types.gguf")
        try TinyModels.writeLlamaGGUF(url, tensors: tensors, config: config) { name, tensor in
            guard let index = matrices.firstIndex(of: name) else { return nil }
            return (types[index % types.count], try quantize(tensor.scalars, to: types[index % types.count]))
        }
        return url.path
    }

    /// Logits of a decoding step (two rows) and of a full pass (more rows than row products take).
    static func logits(_ model: DecoderModel, _ precision: Precision) throws -> (step: [Float], pass: [Float]) {
        try Precision.$current.withValue(precision) {
            let step = TokenBatch([[5], [250]]), pass = TokenBatch([[1, 2, 3, 250, 7, 9, 11]])
            return (model.forward(embeddings: try model.embed(step), batch: step).logits!.value.scalars,
                    model.forward(embeddings: try model.embed(pass), batch: pass).logits!.value.scalars)
        }
    }

    static func klDivergence(_ p: ArraySlice<Float>, _ q: ArraySlice<Float>) -> Double {
        func logSoftmax(_ x: ArraySlice<Float>) -> [Double] {
            let m = Double(x.max()!), total = log(x.reduce(0.0) { $0 + exp(Double($1) - m) })
            return x.map { Double($0) - m - total }
        }
        return zip(logSoftmax(p), logSoftmax(q)).reduce(0.0) { $0 + exp($1.0) * ($1.0 - $1.1) }
    }

    @Test func int8StepsAreCloseToFp32() throws {
        let loaded = try ModelLoader.load(try Self.everyTypeModel(), storage: .asStored)
        guard case .decoder(let model) = loaded.model else { throw ModelError.emptyInput }
        let fp32 = try Self.logits(model, .fp32), int8 = try Self.logits(model, .int8)
        // (Bools, not arrays, in the expectations: a failing array comparison is diffed, slowly.)
        let passSame = int8.pass.map(\.bitPattern) == fp32.pass.map(\.bitPattern)
        let stepSame = int8.step.map(\.bitPattern) == fp32.step.map(\.bitPattern)
        #expect(!passSame, "the pass of 7 rows ran in int8")
        #expect(!stepSame, "the step ran in int8")
        let again = try Self.logits(model, .fp32)
        #expect(again.pass.map(\.bitPattern) == fp32.pass.map(\.bitPattern), "fp32 is untouched by an int8 pass")
        let v = model.config.vocabularySize
        for (name, a, b) in [("step", fp32.step, int8.step), ("pass", fp32.pass, int8.pass)] {
            for row in 0..<(a.count / v) {
                let range = (row * v)..<((row + 1) * v)
                let kl = Self.klDivergence(a[range], b[range])
                #expect(kl < 1e-2, "\(name) row \(row): KL(fp32 ‖ int8) = \(kl)")
            }
        }
        // Every path's bits equal the scalar reference's: IntegerKernelTests, which names the path per call
        // (choosing one here would change the process-wide path under the suites running beside this one).
    }

    /// Gemma 3 270M in Q4_K_M: int8 decoding steps against fp32 on real weights.
    @Test func gemma3InQ4_K_M() throws {
        let path = Fixtures.checkpoint("gemma3")
        guard FileManager.default.fileExists(atPath: path) else {
            print("IntegerDecodingTests: Gemma 3 is not fetched (Scripts/fetch gemma3); skipping its int8 check")
            return
        }
        let loaded = try ModelLoader.load(path, storage: .asStored)
        guard case .decoder(let model) = loaded.model else { throw ModelError.emptyInput }
        let ids = loaded.tokenizer.encode([TextPart("The capital of France is", parsesSpecial: false)], addSpecialTokens: true)
        func steps(_ precision: Precision) throws -> [[Float]] {
            try Precision.$current.withValue(precision) {
                let cache = KVCache(layers: model.config.layers)
                var out = [try model.step(ids, cache: cache)]
                for token: Int32 in [12101, 236761, 108] { out.append(try model.step([token], cache: cache)) }
                return out
            }
        }
        let (fp32, int8) = (try steps(.fp32), try steps(.int8))
        // Every product in blocks is int8: the prompt's many rows and each step's one.
        for i in 0..<fp32.count {
            let kl = Self.klDivergence(fp32[i][...], int8[i][...])
            #expect(kl < 1e-2, "step \(i): KL(fp32 ‖ int8) = \(kl)")
        }
    }
}

import Testing
import Foundation
import Autodiff
import Checkpoints
import Models
import TensorCore
import TestSupport

/// The safetensors export: Hugging Face names and shapes, `config.json`, and Q/K rows in HF's order, so
/// that HF's rotate-half RoPE on the exported weights gives the same attention scores as the model's
/// interleaved RoPE on the GGUF weights.
@Suite struct HuggingFaceExportTests {
    @Test func namesShapesConfigAndRoPEOrder() throws {
        let model = try TinyModels.llama()
        let directory = try Fixtures.scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try model.exportHuggingFace(to: directory, metadata: ["scalpel.edit.neurons": "0:1"])
        let file = try SafetensorsFile(path: directory.appendingPathComponent("model.safetensors").path)
        let c = model.config
        var expected: [String: [Int]] = ["model.embed_tokens.weight": [c.vocabularySize, c.hiddenSize], "model.norm.weight": [c.hiddenSize]]
        for l in 0..<c.layers {
            let p = "model.layers.\(l)."
            expected[p + "self_attn.q_proj.weight"] = [c.heads * c.headDim, c.hiddenSize]
            expected[p + "self_attn.k_proj.weight"] = [c.kvHeads * c.headDim, c.hiddenSize]
            expected[p + "self_attn.v_proj.weight"] = [c.kvHeads * c.headDim, c.hiddenSize]
            expected[p + "self_attn.o_proj.weight"] = [c.hiddenSize, c.heads * c.headDim]
            expected[p + "mlp.gate_proj.weight"] = [c.intermediateSize, c.hiddenSize]
            expected[p + "mlp.up_proj.weight"] = [c.intermediateSize, c.hiddenSize]
            expected[p + "mlp.down_proj.weight"] = [c.hiddenSize, c.intermediateSize]
            expected[p + "input_layernorm.weight"] = [c.hiddenSize]
            expected[p + "post_attention_layernorm.weight"] = [c.hiddenSize]
        }
        #expect(Dictionary(uniqueKeysWithValues: file.tensors.map { ($0.name, $0.shape) }) == expected)
        #expect(file.metadata["scalpel.edit.neurons"] == "0:1")
        let config = try DecoderFamily.llama.config(huggingFace: HuggingFaceConfig(folder: directory.path), tensorShapes: [:])
        #expect(config == c)

        // Attention scores of one layer: interleaved RoPE on the model's Q/K equals rotate-half RoPE on the export's.
        let x = randomTensor([5, c.hiddenSize], seed: 3)
        let table = RoPETable(positions: Array(0..<5), rotaryDims: c.headDim, base: c.rope!.base)
        func scores(_ wq: Tensor, _ wk: Tensor, _ layout: RoPELayout) -> [Float] {
            let q = rope(linear(Variable(x), weight: Variable(wq)), table: table, layout: layout, heads: c.heads, headDim: c.headDim).value
            let k = rope(linear(Variable(x), weight: Variable(wk)), table: table, layout: layout, heads: c.kvHeads, headDim: c.headDim).value
            var out: [Float] = []
            let group = c.heads / c.kvHeads
            for h in 0..<c.heads { for t in 0..<5 { for s in 0..<5 {
                var dot: Float = 0
                for d in 0..<c.headDim { dot += q.scalars[t * c.heads * c.headDim + h * c.headDim + d] * k.scalars[s * c.kvHeads * c.headDim + (h / group) * c.headDim + d] }
                out.append(dot)
            } } }
            return out
        }
        let gguf = scores(model.parameters["blk.1.attn_q.weight"]!.materialized(), model.parameters["blk.1.attn_k.weight"]!.materialized(), .interleaved)
        let hfQ = Tensor(shape: [c.heads * c.headDim, c.hiddenSize], scalars: try file.floats("model.layers.1.self_attn.q_proj.weight"))
        let hfK = Tensor(shape: [c.kvHeads * c.headDim, c.hiddenSize], scalars: try file.floats("model.layers.1.self_attn.k_proj.weight"))
        let hf = scores(hfQ, hfK, .rotateHalf)
        #expect(zip(gguf, hf).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($0)) })
        #expect(hfQ.scalars != model.parameters["blk.1.attn_q.weight"]!.materialized().scalars)   // the rows did move
        #expect(HuggingFaceLayout.ropePermutedQuery.toGGUF(hfQ.scalars, hfShape: hfQ.shape, config: c).values == model.parameters["blk.1.attn_q.weight"]!.materialized().scalars)
    }
}

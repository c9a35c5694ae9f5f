import Testing
import Foundation
import Autodiff
import Checkpoints
import Models
import TensorCore
import TestSupport

/// Gemma 3's own paths on a tiny random model: gradients through every Gemma-only op, the sliding window,
/// the KV cache across it, padding, soft-capping, and loading from a gemma3 GGUF.
@Suite struct TinyGemmaTests {
    let ids: [[Int32]] = [[3, 14, 15, 9, 2, 6, 11, 4], [5, 35, 8]]

    func logits(_ model: DecoderModel, _ batch: TokenBatch) throws -> Tensor {
        model.forward(embeddings: try model.embed(batch), batch: batch).logits!.value
    }

    @Test func wholeModelGradientsMatchFiniteDifferences() throws {
        let model = try TinyModels.gemma(trainable: NeuronSelection([0: [2, 5]]))
        let batch = TokenBatch(ids)
        let base = try model.embed(batch).value
        let up = model.parameters["blk.0.ffn_up.weight"]!
        let width = model.config.hiddenSize
        let packed = Tensor(shape: [2, width], scalars: [2, 5].flatMap { r in Array(up.value.scalars[(r * width)..<((r + 1) * width)]) })
        func set(_ x: Tensor) { for (j, r) in [2, 5].enumerated() { for c in 0..<width { up.value[r, c] = x[j, c] } } }
        let report = GradientCheck().check(inputs: [base, packed], forward: { x in
            set(x[1])
            return nextTokenLoss(logits: model.forward(embeddings: Variable(x[0]), batch: batch).logits!, batch: batch).value
        }, backward: { x, seed in
            set(x[1])
            up.zeroGradient()
            let embeddings = Variable(x[0], requiresGrad: true)
            nextTokenLoss(logits: model.forward(embeddings: embeddings, batch: batch).logits!, batch: batch).backward(seed: seed)
            return [embeddings.grad, up.maskedGrad]
        })
        #expect(report.passed, "\(report)")
    }

    /// With every layer local (window 3, two layers), position t sees back to t − 4 only: changing token 0
    /// leaves the logits from position 5 on untouched, and changes those before.
    @Test func slidingWindowLimitsWhatEachPositionSees() throws {
        var c = TinyModels.gemmaConfig()
        c.attention.windows = c.attention.windows.map { _ in 3 }
        let model = try DecoderModel(config: c, tensors: TinyModels.gemmaTensors(c))
        let a = try logits(model, TokenBatch([ids[0]]))
        var changed = ids[0]
        changed[0] = 40
        let b = try logits(model, TokenBatch([changed]))
        let v = c.vocabularySize
        for t in 0..<ids[0].count {
            let rowA = Array(a.scalars[(t * v)..<((t + 1) * v)]), rowB = Array(b.scalars[(t * v)..<((t + 1) * v)])
            if t >= 5 { #expect(compareClose(rowA, rowB, absolute: 1e-6) == nil, "position \(t) saw outside its window") }
            else { #expect(compareClose(rowA, rowB, absolute: 1e-4) != nil, "position \(t) should see token 0") }
        }
        // With the default pattern the second layer is global, so every position sees token 0.
        let global = try TinyModels.gemma()
        let ga = try logits(global, TokenBatch([ids[0]])), gb = try logits(global, TokenBatch([changed]))
        #expect(compareClose(Array(ga.scalars.suffix(v)), Array(gb.scalars.suffix(v)), absolute: 1e-4) != nil)
    }

    @Test func cachedGreedyDecodingEqualsRecomputingAcrossTheWindow() throws {
        let model = try TinyModels.gemma()
        let generated = try model.generate(prompt: Array(ids[0].prefix(4)), maxTokens: 8)
        var context = Array(ids[0].prefix(4))
        let v = model.config.vocabularySize
        for token in generated {
            let last = Array(try logits(model, TokenBatch([context])).scalars.suffix(v))
            #expect(Int32(last.indices.max { last[$0] < last[$1] }!) == token)
            context.append(token)
        }
    }

    @Test func paddedBatchEqualsOneAtATimeAndLogitsAreCapped() throws {
        let model = try TinyModels.gemma(softcap: 0.5)
        let batch = TokenBatch(ids)
        let together = try logits(model, batch)
        let v = model.config.vocabularySize
        for (b, sequence) in ids.enumerated() {
            let alone = try logits(model, TokenBatch([sequence]))
            #expect(compareClose(Array(together.scalars[(b * batch.length * v)..<((b * batch.length + sequence.count) * v)]), alone.scalars, absolute: 1e-5) == nil)
        }
        #expect(together.scalars.allSatisfy { abs($0) <= 0.5 } && together.scalars.contains { abs($0) > 0.3 })
    }

    @Test func aGemmaGGUFLoadsWithItsOptions() throws {
        let directory = try Fixtures.scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let c = TinyModels.gemmaConfig(vocabulary: 260)
        let tensors = TinyModels.gemmaTensors(c)
        let url = directory.appendingPathComponent("gemma.gguf")
        try TinyModels.writeLlamaGGUF(url, architecture: "gemma3", tensors: tensors, config: c)
        let loaded = try ModelLoader.load(url.path)
        guard case .decoder(let model) = loaded.model else { Issue.record("not a decoder"); return }
        #expect(loaded.architecture == "gemma3" && model.config == c && model.config.headDim == 8)
        let direct = try DecoderModel(config: c, tensors: tensors)
        #expect(try logits(model, TokenBatch([ids[0]])).scalars == logits(direct, TokenBatch([ids[0]])).scalars)
        // A Gemma file without its norms is refused by name.
        var missing = tensors
        missing["blk.1.post_ffw_norm.weight"] = nil
        try TinyModels.writeLlamaGGUF(url, architecture: "gemma3", tensors: missing, config: c)
        #expect { try ModelLoader.load(url.path) } throws: { "\($0)".contains("blk.1.post_ffw_norm.weight") }
    }
}

import Testing
import Foundation
import Autodiff
import Models
import TensorCore
import TestSupport

/// Gemma-3-270M (gemma3 GGUF, K-quants) loaded once.
enum Gemma3 {
    static let loaded: LoadedModel? = {
        guard Fixtures.has("gemma3") else { return nil }
        return try? ModelLoader.load(Fixtures.checkpoint("gemma3"))
    }()
    static var model: DecoderModel? { if case .decoder(let m)? = loaded?.model { m } else { nil } }
    static let golden = "gemma3-270m"
    static var available: Bool { Fixtures.has("gemma3") && Fixtures.hasGolden(golden) }
}

@Suite(.enabled(if: Gemma3.available, "gemma3 or ../shared/golden is missing: run Scripts/fetch gemma3"), .serialized)
struct Gemma3ReferenceTests {
    func ids(_ p: Int) throws -> [Int32] { try Fixtures.goldenInts(Gemma3.golden, "p\(p)_ids.i32") }

    @Test func theConfigComesFromTheMetadata() throws {
        let config = try #require(Gemma3.model).config
        #expect(config.layers == 18 && config.heads == 4 && config.kvHeads == 1 && config.headDim == 256 && config.hiddenSize == 640)
        #expect(config.rope?.base == 1_000_000 && config.rope?.localBase == 10_000 && config.rope?.layout == .rotateHalf)
        #expect(config.attention.windows.compactMap { $0 } == Array(repeating: 512, count: 15))
        #expect((0..<18).filter { config.attention.windows[$0] == nil } == [5, 11, 17])
        #expect(config.attention.qkNorm && config.norm.sandwich && config.norm.weightOffset == 0 && config.embeddingScale == Float(640.0.squareRoot()))
        #expect(config.finalLogitSoftcap == nil)   // Gemma 3 sets none
    }

    /// Logits (max |Δ| ≤ 1e-3), loss and every layer's FFN site of both prompts. The loss is held within 2e-6
    /// relative of the loss the golden logits define, computed in Double (`nextTokenLossInDouble`): the stored
    /// float32 loss is 9.6e-6 below that on prompt 0, from PyTorch's float32 log-softmax sum over 262,144 entries.
    @Test(arguments: 0..<2)
    func logitsLossAndSites(prompt p: Int) throws {
        let model = try #require(Gemma3.model), tokenizer = try #require(Gemma3.loaded?.tokenizer)
        let text = ((try Fixtures.goldenManifest(Gemma3.golden)["meta"] as! [String: Any])["prompts"] as! [String])[p]
        let ids = try ids(p)
        #expect(tokenizer.encode(text) == ids)
        let batch = TokenBatch([ids])
        var sites: [Int: Tensor] = [:]
        var hooks = HookSet()
        for l in 0..<18 { hooks.collect(HookName.mlpSite(l)) { sites[l] = $0 } }
        let logits = try #require(model.forward(embeddings: try model.embed(batch), batch: batch, hooks: hooks).logits)
        let expected = try Fixtures.goldenFloats(Gemma3.golden, "p\(p)_logits.f32")
        #expect(compareClose(logits.value.scalars, expected, absolute: 1e-3) == nil)
        let loss = Double(nextTokenLoss(logits: logits, batch: batch).value.scalars[0])
        let expectedLoss = nextTokenLossInDouble(logits: expected, ids: ids)
        #expect(abs(loss - expectedLoss) <= 2e-6 * expectedLoss, "loss \(loss) vs \(expectedLoss)")
        // The stored loss is of the same positions and targets, less its float32 summation error.
        let storedLoss = Double(try Fixtures.goldenFloats(Gemma3.golden, "p\(p)_loss.f32")[0])
        #expect(abs(storedLoss - expectedLoss) <= 2e-5 * expectedLoss, "stored loss \(storedLoss) vs \(expectedLoss)")
        let siteExpected = try Fixtures.goldenFloats(Gemma3.golden, "p\(p)_ffn_site.f32")
        #expect(compareClose((0..<18).flatMap { sites[$0]!.scalars }, siteExpected, absolute: 1e-3, relative: 1e-3) == nil)
    }

    @Test func greedyGenerationWithTheKVCache() throws {
        let model = try #require(Gemma3.model)
        #expect(try model.generate(prompt: try ids(0), maxTokens: 8) == (try Fixtures.goldenInts(Gemma3.golden, "p0_greedy8.i32")))
    }

    /// A right-padded batch of sequences of different lengths gives each one's unbatched logits.
    @Test func paddedBatchEqualsOneAtATime() throws {
        let model = try #require(Gemma3.model)
        let prompts = [try ids(0), Array(try ids(1).prefix(7)), try ids(1)]
        for (b, difference) in try paddedBatchDifferences(model, prompts).enumerated() {
            #expect(difference == nil, "prompt \(b)")
        }
    }
}

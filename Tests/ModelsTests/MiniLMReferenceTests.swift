import Testing
import Foundation
import Autodiff
import Models
import TensorCore
import TestSupport

enum MiniLM {
    static let loaded: LoadedModel? = Fixtures.has("minilm") ? try? ModelLoader.load(Fixtures.checkpoint("minilm")) : nil
    static var model: BertModel? { if case .bert(let m)? = loaded?.model { m } else { nil } }
    static let golden = "all-minilm-l6-v2"
    static var available: Bool { Fixtures.has("minilm") && Fixtures.hasGolden(golden) }
}

@Suite(.enabled(if: MiniLM.available, "minilm or ../shared/golden is missing: run Scripts/fetch minilm"))
struct MiniLMReferenceTests {
    /// Last hidden state, sentence embedding and FFN sites of both sentences, alone and as one padded batch.
    @Test func hiddenStatesEmbeddingsAndSites() throws {
        let model = try #require(MiniLM.model), tokenizer = try #require(MiniLM.loaded?.tokenizer)
        let manifest = try Fixtures.goldenManifest(MiniLM.golden)
        let sentences = (manifest["meta"] as! [String: Any])["sentences"] as! [String]
        let ids = try (0..<2).map { try Fixtures.goldenInts(MiniLM.golden, "s\($0)_ids.i32") }
        for s in 0..<2 { #expect(tokenizer.encode(sentences[s]) == ids[s]) }

        for s in 0..<2 {
            let batch = TokenBatch([ids[s]])
            var sites: [Int: Tensor] = [:]
            var hooks = HookSet()
            for l in 0..<6 { hooks.collect(HookName.mlpSite(l)) { sites[l] = $0 } }
            let hidden = model.forward(embeddings: try model.embed(batch), batch: batch, hooks: hooks)
            #expect(compareClose(hidden.value.scalars, try Fixtures.goldenFloats(MiniLM.golden, "s\(s)_last_hidden.f32"), absolute: 1e-4, relative: 1e-4) == nil)
            let embedding = model.sentenceEmbeddings(hidden: hidden, batch: batch)
            #expect(compareClose(embedding.value.scalars, try Fixtures.goldenFloats(MiniLM.golden, "s\(s)_embedding.f32"), absolute: 1e-5) == nil)
            #expect(compareClose((0..<6).flatMap { sites[$0]!.scalars }, try Fixtures.goldenFloats(MiniLM.golden, "s\(s)_ffn_site.f32"), absolute: 1e-4, relative: 1e-4) == nil)
        }

        // Padded batch: the shorter sentence's embedding ignores its padding.
        let batch = TokenBatch(ids)
        let embeddings = model.sentenceEmbeddings(hidden: model.forward(embeddings: try model.embed(batch), batch: batch), batch: batch)
        for s in 0..<2 {
            let row = Array(embeddings.value.scalars[(s * 384)..<((s + 1) * 384)])
            #expect(compareClose(row, try Fixtures.goldenFloats(MiniLM.golden, "s\(s)_embedding.f32"), absolute: 1e-5) == nil)
        }
    }
}

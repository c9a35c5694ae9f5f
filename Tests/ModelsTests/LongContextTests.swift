import Testing
import Foundation
import JSON
import Autodiff
import Models
import TensorCore
import TestSupport

/// Positions far beyond the golden prompts: a 594-token text against an independent float64 NumPy forward
/// written from Hugging Face's modeling_llama.py (un-permuted Q/K, rotate-half RoPE); see
/// Tests/Fixtures/generate/llama_long_context.py.
@Suite(.enabled(if: Fixtures.has("smollm2"), Fixtures.missingReason("smollm2")), .serialized)
struct LongContextTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    func reference() throws -> (ids: [Int32], rows: [Int], loss: Double, logits: [Float]) {
        let data = try Data(contentsOf: Self.fixtures.appendingPathComponent("long_context.json"))
        let json = try data.withUnsafeBytes { try StrictJSONParser.parse($0) }
        guard case .array(let ids)? = json["ids"], case .array(let rows)? = json["logit_rows"], case .number(let loss)? = json["loss"] else {
            throw ModelError.emptyInput
        }
        let raw = try Data(contentsOf: Self.fixtures.appendingPathComponent("long_context_logits.f32"))
        let logits = raw.withUnsafeBytes { b in (0..<(raw.count / 4)).map { Float(bitPattern: b.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)) } }
        func int(_ v: JSONValue) -> Int { if case .integer(let i) = v { Int(i) } else { -1 } }
        return (ids.map { Int32(int($0)) }, rows.map(int), loss, logits)
    }

    @Test func logitsAndLossAt594Tokens() throws {
        let model = try #require(SmolLM2.model)
        let ref = try reference()
        let batch = TokenBatch([ref.ids])
        let logits = model.forward(embeddings: try model.embed(batch), batch: batch).logits!
        let loss = Double(nextTokenLoss(logits: logits, batch: batch).value.scalars[0])
        #expect(abs(loss - ref.loss) <= 1e-5 * ref.loss, "loss \(loss) vs \(ref.loss)")
        let v = model.config.vocabularySize
        let rows = ref.rows.flatMap { Array(logits.value.scalars[($0 * v)..<(($0 + 1) * v)]) }
        #expect(compareClose(rows, ref.logits, absolute: 1e-3) == nil)
    }

    /// The KV-cache path agrees with the full forward at the end of the long text.
    @Test func cachedDecodingMatchesTheFullForward() throws {
        let model = try #require(SmolLM2.model)
        let ref = try reference()
        let cache = KVCache(layers: model.config.layers)
        _ = try model.step(Array(ref.ids.prefix(ref.ids.count - 3)), cache: cache)
        var last: [Float] = []
        for id in ref.ids.suffix(3) { last = try model.step([id], cache: cache) }
        let v = model.config.vocabularySize
        #expect(compareClose(last, Array(ref.logits[v...]), absolute: 1e-3) == nil)
    }
}

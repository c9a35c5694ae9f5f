import Testing
import Foundation
import TestSupport
import Tokenizers

/// `encodeSentence`: the ids for scoring a whole sentence put a start token before it, so that its first
/// token gets a log-probability too (CrowS-Pairs sentences often differ only in their first word).
@Suite struct SentenceScoringTests {
    func tokenizer(bos: Int32?, eos: Int32?, addBOS: Bool) throws -> BPETokenizer {
        let tokens = (0..<260).map { i in i < 256 ? String(ByteLevel.byteToScalar[i]) : "<s\(i)>" }
        return try BPETokenizer(tokens: tokens, merges: [], specialTokens: [256, 257], isolateDigits: false, bosID: bos, eosID: eos, addBOS: addBOS)
    }

    @Test func theStartTokenIsBOSThenEOSAndNeverDoubled() throws {
        let text = "He ran"
        let plain = try tokenizer(bos: nil, eos: nil, addBOS: false).encode(text, addSpecialTokens: false)
        #expect(plain.count == 6)
        // BOS named but not added by encode (SmolLM2): it conditions the first token.
        #expect(try tokenizer(bos: 256, eos: 257, addBOS: false).encodeSentence(text) == [256] + plain)
        // No BOS: EOS, as lm-evaluation-harness does.
        #expect(try tokenizer(bos: nil, eos: 257, addBOS: false).encodeSentence(text) == [257] + plain)
        // A tokenizer that adds BOS itself (Gemma) gets exactly one.
        #expect(try tokenizer(bos: 256, eos: 257, addBOS: true).encodeSentence(text) == [256] + plain)
        // Neither: nothing to condition on, the text alone.
        #expect(try tokenizer(bos: nil, eos: nil, addBOS: false).encodeSentence(text) == plain)
        // sentencePrefixLength says how many of those ids come before the text, for every combination.
        for (bos, eos, add) in [(Int32(256), Int32(257), false), (nil, 257, false), (256, 257, true), (nil, nil, false)] as [(Int32?, Int32?, Bool)] {
            let t = try tokenizer(bos: bos, eos: eos, addBOS: add)
            #expect(t.encodeSentence(text).count - plain.count == t.sentencePrefixLength)
        }
    }

    @Test func smolLM2ScoresSentencesAfterItsBOS() throws {
        guard Fixtures.has("smollm2") else { print("skipped: \(Fixtures.missingReason("smollm2"))"); return }
        let tokenizer = try TokenizerLoader.load(checkpoint: Fixtures.checkpoint("smollm2")).tokenizer
        let ids = tokenizer.encodeSentence("Women are bad drivers.")
        #expect(tokenizer.leadingBOS == nil && ids.first == 1 && Array(ids.dropFirst()) == tokenizer.encode("Women are bad drivers.", addSpecialTokens: false))
    }
}

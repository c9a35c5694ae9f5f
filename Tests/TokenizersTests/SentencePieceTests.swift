import Testing
import Foundation
import Checkpoints
import Tokenizers
import TestSupport

/// A handmade SentencePiece vocabulary: merging by score, byte fallback, user-defined pieces, decoding.
@Suite struct SentencePieceRuleTests {
    // id: piece, score, type (1 normal, 3 control, 4 user-defined, 6 byte)
    static let pieces: [(String, Float, Int)] = [
        ("<pad>", 0, 3), ("<eos>", 0, 3), ("<bos>", 0, 3), ("<unk>", 0, 2), ("\n", 0, 4), ("  ", 0, 4),
        ("a", -10, 1), ("b", -11, 1), ("c", -12, 1), ("▁", -13, 1),
        ("ab", -1, 1), ("bc", -2, 1), ("abc", -3, 1), ("▁a", -0.5, 1), ("cc", -4, 1), ("ccc", -20, 1),
    ] + (0..<256).map { (String(format: "<0x%02X>", $0), Float(0), 6) }

    static func tokenizer(addSpacePrefix: Bool = false) throws -> SentencePieceTokenizer {
        try SentencePieceTokenizer(tokens: pieces.map(\.0), scores: pieces.map(\.1), types: pieces.map(\.2), bosID: 2, eosID: 1, unknownID: 3,
                                   addBOS: true, addSpacePrefix: addSpacePrefix)
    }
    static func id(_ piece: String) -> Int32 { Int32(pieces.firstIndex { $0.0 == piece }!) }

    @Test func highestScoreMergesFirst() throws {
        let t = try Self.tokenizer()
        // "abc": ab (−1) beats bc (−2), then ab+c = abc (−3).
        #expect(t.encode("abc", addSpecialTokens: false) == [Self.id("abc")])
        // " ab": ▁a (−0.5) beats ab (−1), leaving b alone.
        #expect(t.encode(" ab", addSpecialTokens: false) == [Self.id("▁a"), Self.id("b")])
        // "ccc": cc at both places scores the same; the leftmost goes first, and cc+c is a piece only at −20.
        #expect(t.encode("ccc", addSpecialTokens: false) == [Self.id("ccc")])
        #expect(t.encode("cccc", addSpecialTokens: false) == [Self.id("cc"), Self.id("cc")])
        // BOS as the metadata asks.
        #expect(t.encode("a") == [2, Self.id("a")])
    }

    @Test func unknownCharactersFallBackToBytesAndDecodeBack() throws {
        let t = try Self.tokenizer()
        let ids = t.encode("aé", addSpecialTokens: false)   // é is U+00E9 = C3 A9
        #expect(ids == [Self.id("a"), Self.id("<0xC3>"), Self.id("<0xA9>")])
        #expect(t.decode(ids) == "aé")
        #expect(t.decode([2, Self.id("▁a"), Self.id("b")], skipSpecialTokens: true) == " ab")
        #expect(t.decode([2, Self.id("a")]) == "<bos>a")
    }

    @Test func userDefinedPiecesAreMatchedInTheRawText() throws {
        let t = try Self.tokenizer()
        // Two raw spaces are one user-defined piece; a single one becomes ▁ and can merge.
        #expect(t.encode("a  a\n a", addSpecialTokens: false) == [Self.id("a"), Self.id("  "), Self.id("a"), Self.id("\n"), Self.id("▁a")])
        #expect(t.decode(t.encode("a  a\n a", addSpecialTokens: false)) == "a  a\n a")
        // Control pieces in text are matched too, and are special; user-defined ones are text.
        #expect(t.encode("<eos>a", addSpecialTokens: false) == [1, Self.id("a")])
        #expect(t.specialTokenIDs.contains(1) && !t.specialTokenIDs.contains(Self.id("\n")))
    }

    @Test func aDummyPrefixIsAddedAndRemoved() throws {
        let t = try Self.tokenizer(addSpacePrefix: true)
        #expect(t.encode("ab", addSpecialTokens: false) == [Self.id("▁a"), Self.id("b")])
        #expect(t.decode([Self.id("▁a"), Self.id("b")]) == "ab")
    }

    @Test func mismatchedMetadataIsAnError() throws {
        #expect(throws: TokenizerError.self) {
            try SentencePieceTokenizer(tokens: ["a", "b"], scores: [0], types: [1, 1], bosID: nil, eosID: nil, unknownID: nil, addBOS: false, addSpacePrefix: false)
        }
    }
}

enum LoadedGemma {
    static let tokenizer: SentencePieceTokenizer? = {
        guard Fixtures.has("gemma3"), let file = try? GGUFFile(path: Fixtures.checkpoint("gemma3")) else { return nil }
        return try? TokenizerLoader.load(gguf: file.metadata) as? SentencePieceTokenizer
    }()
}

@Suite(.enabled(if: Fixtures.has("gemma3"), Fixtures.missingReason("gemma3")))
struct GemmaTokenizerTests {
    @Test(arguments: goldenCases("gemma3-270m"))
    func goldenCase(_ c: Case) throws {
        let tokenizer = try #require(LoadedGemma.tokenizer)
        // The cases carry no special tokens; the GGUF asks for BOS, which addSpecialTokens adds.
        #expect(tokenizer.encode(c.text, addSpecialTokens: false) == c.ids)
        #expect(tokenizer.encode(c.text) == [2] + c.ids)
        #expect(tokenizer.decode(c.ids) == c.text)
    }

    @Test(.enabled(if: Fixtures.hasGolden("gemma3-270m"), "../shared/golden is missing"))
    func promptIDsStartWithBOS() throws {
        let tokenizer = try #require(LoadedGemma.tokenizer)
        let prompts = (try Fixtures.goldenManifest("gemma3-270m")["meta"] as! [String: Any])["prompts"] as! [String]
        for (i, prompt) in prompts.enumerated() {
            #expect(tokenizer.encode(prompt) == (try Fixtures.goldenInts("gemma3-270m", "p\(i)_ids.i32")))
        }
    }

    @Test func chatTurnsAreSinglePieces() throws {
        let tokenizer = try #require(LoadedGemma.tokenizer)
        let ids = tokenizer.encode("<start_of_turn>user\nHi<end_of_turn>\n", addSpecialTokens: false)
        #expect(ids.first == 105 && ids.contains(106) && ids.contains(107))
        #expect(tokenizer.decode(ids, skipSpecialTokens: true) == "user\nHi\n")
    }
}

import Testing
import Foundation
import Checkpoints
import JSON
import Tokenizers
import TestSupport

/// Loaded once: building the SmolLM2 tokenizer reads 49k tokens and 49k merges.
enum Loaded {
    static let smolLM2: BPETokenizer? = {
        guard Fixtures.has("smollm2"), let file = try? GGUFFile(path: Fixtures.checkpoint("smollm2")) else { return nil }
        return try? TokenizerLoader.load(gguf: file.metadata) as? BPETokenizer
    }()
    static let smolLM2Chat: ChatTemplate? = {
        guard Fixtures.has("smollm2"), let file = try? GGUFFile(path: Fixtures.checkpoint("smollm2")) else { return nil }
        return try? TokenizerLoader.chatTemplate(gguf: file.metadata)
    }()
    static let miniLM: WordPieceTokenizer? = {
        guard Fixtures.has("minilm") else { return nil }
        let url = URL(fileURLWithPath: Fixtures.checkpoint("minilm")).deletingLastPathComponent().appendingPathComponent("tokenizer.json")
        return try? TokenizerLoader.load(tokenizerJSON: url) as? WordPieceTokenizer
    }()
}

struct Case: Sendable, CustomTestStringConvertible {
    let text: String, ids: [Int32], decoded: String?
    var testDescription: String { "\(text.debugDescription.prefix(40))" }
}

func goldenCases(_ model: String) -> [Case] {
    guard let manifest = try? Fixtures.goldenManifest(model), let meta = manifest["meta"] as? [String: Any],
          let cases = meta["tokenizer_cases"] as? [[String: Any]] else { return [] }
    return cases.map { Case(text: $0["text"] as! String, ids: ($0["ids"] as! [Int]).map(Int32.init), decoded: nil) }
}

/// Reference ids from Hugging Face `tokenizers` for texts beyond the golden cases (whitespace runs,
/// digits, emoji, accents, CJK, RTL, special tokens glued to text, corpus sentences, random strings);
/// see Tests/Fixtures/generate/tokenizer_reference.py.
func referenceCases(_ model: String) -> [Case] {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/tokenizer_reference.json")
    // Foundation's JSONSerialization drops a leading U+FEFF inside strings, so use the strict parser.
    guard let data = try? Data(contentsOf: url),
          let json = try? data.withUnsafeBytes({ try StrictJSONParser.parse($0) }),
          case .array(let cases)? = json[model] else { return [] }
    return cases.compactMap { c in
        guard case .string(let text)? = c["text"], case .array(let ids)? = c["ids"] else { return nil }
        var decoded: String?
        if case .string(let d)? = c["decoded"] { decoded = d }
        return Case(text: text, ids: ids.compactMap { if case .integer(let i) = $0 { Int32(i) } else { nil } }, decoded: decoded)
    }
}

@Suite(.enabled(if: Fixtures.has("smollm2"), Fixtures.missingReason("smollm2")))
struct SmolLM2TokenizerTests {
    @Test(arguments: goldenCases("smollm2-135m"))
    func goldenCase(_ c: Case) throws {
        let tokenizer = try #require(Loaded.smolLM2)
        // The GGUF says add_bos_token = false, so encoding adds nothing.
        #expect(tokenizer.encode(c.text) == c.ids)
        #expect(tokenizer.decode(c.ids) == c.text)
    }

    @Test(arguments: referenceCases("smollm2"))
    func referenceCase(_ c: Case) throws {
        let tokenizer = try #require(Loaded.smolLM2)
        #expect(tokenizer.encode(c.text) == c.ids)
        // Byte-level BPE is lossless: decoding gives the text back (special tokens as their text).
        #expect(tokenizer.decode(tokenizer.encode(c.text)) == c.text)
    }

    @Test(.enabled(if: Fixtures.hasGolden("smollm2-135m"), "../shared/golden is missing"))
    func chatTemplateCase() throws {
        let tokenizer = try #require(Loaded.smolLM2), chat = try #require(Loaded.smolLM2Chat)
        let manifest = try Fixtures.goldenManifest("smollm2-135m")
        let c = try #require((manifest["meta"] as? [String: Any])?["chat_template_case"] as? [String: Any])
        let messages = (c["messages"] as! [[String: String]]).map { ChatTemplate.Message(role: $0["role"]!, content: $0["content"]!) }
        let expected = (c["ids"] as! [Int]).map(Int32.init)
        #expect(tokenizer.encode(try chat.render(messages)) == expected)
    }

    /// decode(encode(x)) == x over the whole Pang & Lee corpus.
    @Test(.enabled(if: Fixtures.hasData("polarity/polarity-en-pang&lee2.csv"), "polarity data not fetched: run Scripts/fetch polarity"))
    func roundTripOverTheCorpus() throws {
        let tokenizer = try #require(Loaded.smolLM2)
        let text = try String(contentsOfFile: Fixtures.dataFile("polarity/polarity-en-pang&lee2.csv"), encoding: .utf8)
        var lines = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let s = String(line)
            #expect(tokenizer.decode(tokenizer.encode(s)) == s)
            lines += 1
        }
        #expect(lines >= 4000)
    }

    /// The priority-queue merge and the naive rescanning merge agree everywhere (the naive one is the
    /// textbook algorithm; ties resolve leftmost in both).
    @Test func fastAndNaiveMergesAgree() throws {
        let tokenizer = try #require(Loaded.smolLM2)
        for c in referenceCases("smollm2") { #expect(tokenizer.encodeNaively(c.text) == tokenizer.encode(c.text), "\(c.text.debugDescription)") }
    }
}

@Suite(.enabled(if: Fixtures.has("minilm"), Fixtures.missingReason("minilm")))
struct MiniLMTokenizerTests {
    @Test(arguments: goldenCases("all-minilm-l6-v2"))
    func goldenCase(_ c: Case) throws {
        let tokenizer = try #require(Loaded.miniLM)
        #expect(tokenizer.encode(c.text) == c.ids)
    }

    @Test(arguments: referenceCases("minilm"))
    func referenceCase(_ c: Case) throws {
        let tokenizer = try #require(Loaded.miniLM)
        #expect(tokenizer.encode(c.text) == c.ids)
        if let decoded = c.decoded { #expect(tokenizer.decode(c.ids, skipSpecialTokens: true) == decoded) }
    }

    @Test func longWordsBecomeUnknown() throws {
        let tokenizer = try #require(Loaded.miniLM)
        #expect(tokenizer.encode(String(repeating: "a", count: 101), addSpecialTokens: false) == [tokenizer.unknownID])
        #expect(tokenizer.encode(String(repeating: "a", count: 100), addSpecialTokens: false) != [tokenizer.unknownID])
    }
}

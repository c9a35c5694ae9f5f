import Testing
import Foundation
import Checkpoints
import JSON
import Tokenizers
import TestSupport

/// Tests/TokenizersTests/Fixtures/sentencepiece_reference.json (Tests/Fixtures/generate/sentencepiece_reference.py):
/// a tiny SentencePiece-style tokenizer.json in three spellings, with Hugging Face's ids and decoded texts.
enum SentencePieceReference {
    struct Case: Sendable {
        let text: String, ids: [Int32], framed: [Int32], decoded: String, decodedSkip: String
    }

    static let json: JSONValue? = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/sentencepiece_reference.json")
        guard let data = try? Data(contentsOf: url) else { return nil }
        return try? data.withUnsafeBytes { try StrictJSONParser.parse($0) }
    }()

    static let variants = ["legacy", "metaspace_first", "metaspace_always_split"]

    /// The stored tokenizer.json with a variant's components put in.
    static func tokenizerJSON(_ variant: String) throws -> JSONValue {
        guard case .object(var members)? = json?["tokenizer"], case .object(let changes)? = json?["variants"]?[variant] else {
            throw TokenizerError.missingField("variant \(variant)")
        }
        for (key, value) in changes {
            if key == "ignore_merges" { members = replacing("model", in: members) { replacing("ignore_merges", in: $0) { _ in value } } }
            else { members = replacing(key, in: members) { _ in value } }
        }
        return .object(members)
    }

    /// `members` with the value of `key` changed.
    static func replacing(_ key: String, in members: [(String, JSONValue)], _ change: (JSONValue) -> JSONValue) -> [(String, JSONValue)] {
        members.map { $0.0 == key ? ($0.0, change($0.1)) : $0 }
    }

    static func replacing(_ key: String, in value: JSONValue, _ change: (JSONValue) -> JSONValue) -> JSONValue {
        guard case .object(let members) = value else { return value }
        return .object(members.contains { $0.0 == key } ? replacing(key, in: members, change) : members + [(key, change(.null))])
    }

    static func cases(_ variant: String) -> [Case] {
        guard case .array(let rows)? = json?["cases"]?[variant] else { return [] }
        func ids(_ value: JSONValue?) -> [Int32] {
            guard case .array(let items)? = value else { return [] }
            return items.compactMap { if case .integer(let i) = $0 { Int32(i) } else { nil } }
        }
        return rows.compactMap { row in
            guard case .string(let text)? = row["text"], case .string(let decoded)? = row["decoded"],
                  case .string(let skip)? = row["decoded_skip"] else { return nil }
            return Case(text: text, ids: ids(row["ids"]), framed: ids(row["framed"]), decoded: decoded, decodedSkip: skip)
        }
    }

    /// A tokenizer.json written to a scratch folder and loaded as Scalpel loads a checkpoint's.
    static func load(_ json: JSONValue) throws -> any Tokenizer {
        let directory = try Fixtures.scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("tokenizer.json")
        try Data(jsonText(json).utf8).write(to: url)
        return try TokenizerLoader.load(tokenizerJSON: url)
    }

    static func jsonText(_ value: JSONValue) -> String {
        switch value {
        case .null: return "null"
        case .bool(let flag): return flag ? "true" : "false"
        case .integer(let number): return String(number)
        case .number(let number): return "\(number)"
        case .string(let text): return jsonString(text)
        case .array(let items): return "[" + items.map(jsonText).joined(separator: ",") + "]"
        case .object(let members): return "{" + members.map { jsonString($0.0) + ":" + jsonText($0.1) }.joined(separator: ",") + "}"
        }
    }
}

/// Hugging Face's ids and decoded texts for every spelling of the whitespace rules, added tokens with
/// lstrip / rstrip, BOS / EOS templates, ignore_merges, and the decoders.
@Suite(.enabled(if: SentencePieceReference.json != nil, "Tests/TokenizersTests/Fixtures/sentencepiece_reference.json is missing"))
struct SentencePieceJSONReferenceTests {
    @Test(arguments: SentencePieceReference.variants)
    func everyCaseMatchesHuggingFace(_ variant: String) throws {
        let tokenizer = try SentencePieceReference.load(try SentencePieceReference.tokenizerJSON(variant))
        #expect(tokenizer is SentencePieceTokenizer)
        let cases = SentencePieceReference.cases(variant)
        #expect(cases.count > 150)
        var failures: [String] = []
        for c in cases {
            // Hugging Face matches every added token: special text parsed.
            let ids = tokenizer.encode(c.text, addSpecialTokens: false, parseSpecial: true)
            if ids != c.ids { failures.append("ids \(c.text.debugDescription): \(ids) vs \(c.ids)") }
            let framed = tokenizer.encode(c.text, addSpecialTokens: true, parseSpecial: true)
            if framed != c.framed { failures.append("framed \(c.text.debugDescription): \(framed) vs \(c.framed)") }
            let decoded = tokenizer.decode(c.ids, skipSpecialTokens: false)
            if decoded != c.decoded { failures.append("decoded \(c.text.debugDescription): \(decoded.debugDescription) vs \(c.decoded)") }
            let skipped = tokenizer.decode(c.ids, skipSpecialTokens: true)
            if skipped != c.decodedSkip { failures.append("skip \(c.text.debugDescription): \(skipped.debugDescription) vs \(c.decodedSkip)") }
        }
        #expect(failures.isEmpty, "\(variant): \(failures.count) differences:\n\(failures.prefix(10).joined(separator: "\n"))")
    }

    /// Special-token text in data stays text; non-special added tokens are matched there too.
    @Test func dataParsesOnlyNonSpecialAddedTokens() throws {
        let tokenizer = try SentencePieceReference.load(try SentencePieceReference.tokenizerJSON("legacy"))
        let sep = try #require(tokenizer.id(of: "<sep>")), user = try #require(tokenizer.id(of: "<|user|>"))
        let data = tokenizer.encode("<|user|>a<sep>b", addSpecialTokens: false, parseSpecial: false)
        #expect(data.contains(sep) && !data.contains(user))
    }

    /// Components and flag values Scalpel does not implement are refused, each by name.
    @Test(arguments: [
        ("normalizer", #"{"type":"NFKC"}"#, "normalizer"),
        ("normalizer", #"{"type":"Sequence","normalizers":[{"type":"Prepend","prepend":"_"}]}"#, "Prepend"),
        ("normalizer", #"{"type":"Replace","pattern":{"Regex":" "},"content":"▁"}"#, "Replace"),
        ("pre_tokenizer", #"{"type":"Whitespace"}"#, "pre_tokenizer"),
        ("pre_tokenizer", #"{"type":"Metaspace","replacement":"_","prepend_scheme":"first","split":false}"#, "replacement"),
        ("pre_tokenizer", #"{"type":"Metaspace","replacement":"▁","prepend_scheme":"sometimes"}"#, "prepend_scheme"),
        ("decoder", #"{"type":"ByteLevel"}"#, "decoder"),
        ("decoder", #"{"type":"Sequence","decoders":[{"type":"ByteFallback"},{"type":"CTC"}]}"#, "CTC"),
        ("post_processor", #"{"type":"RobertaProcessing"}"#, "post_processor"),
        ("model", #"{"byte_fallback":false}"#, "model.byte_fallback"),
        ("model", #"{"dropout":0.1}"#, "model.dropout"),
        ("model", #"{"continuing_subword_prefix":"@@"}"#, "model.continuing_subword_prefix"),
        ("added_tokens", #"{"single_word":true}"#, "single_word"),
        ("added_tokens", #"{"normalized":true}"#, "normalized"),
    ] as [(String, String, String)])
    func unsupportedPartsAreRefusedByName(section: String, replacement: String, name: String) throws {
        let value = try Data(replacement.utf8).withUnsafeBytes { try StrictJSONParser.parse($0) }
        guard case .object(var members) = try SentencePieceReference.tokenizerJSON("legacy") else { return }
        switch section {
        case "model", "added_tokens":
            // Merge the given fields into the model, or into the last added token.
            guard case .object(let fields) = value else { return }
            members = SentencePieceReference.replacing(section, in: members) { old in
                func merged(_ object: JSONValue) -> JSONValue {
                    var result = object
                    for (key, field) in fields { result = SentencePieceReference.replacing(key, in: result) { _ in field } }
                    return result
                }
                if case .array(var tokens) = old { tokens[tokens.count - 1] = merged(tokens[tokens.count - 1]); return .array(tokens) }
                return merged(old)
            }
        default:
            members = SentencePieceReference.replacing(section, in: members) { _ in value }
        }
        let error = #expect(throws: TokenizerError.self) { try SentencePieceReference.load(.object(members)) }
        let text = error.map { "\($0)" } ?? ""
        #expect(text.contains(name), "\(text)")
        if case .unsupportedComponent? = error {} else { Issue.record("not unsupportedComponent: \(text)") }
    }
}

/// llama.cpp's SentencePiece vocabularies (Scripts/fetch tokenizers) exported as tokenizer.json by
/// `TokenizerExport` and loaded back: every golden case gives its ids, and every text the GGUF's ids.
@Suite(.enabled(if: FileManager.default.fileExists(atPath: Vocabularies.path("llama-spm"))
                && FileManager.default.fileExists(atPath: Vocabularies.path("phi-3"))
                && FileManager.default.fileExists(atPath: Fixtures.goldenRoot.appendingPathComponent("tokenizers/llama-spm.json").path),
                "the SentencePiece vocabularies are not fetched (Scripts/fetch tokenizers) or ../shared/golden/tokenizers is missing"))
struct SentencePieceExportTests {
    /// Texts beyond the golden cases: whitespace runs at either end, newlines and tabs, emoji, CJK,
    /// bytes that need fallback, decomposed accents, a literal "▁", and special-token text.
    static let texts: [String] = [
        "", " ", "  ", "   ", "\t", "\n", "\n\n\n", " \n ", "\t\tindented", "  two leading", "two trailing  ", "mid  \t  dle",
        " Hello", "  Hello", "Hello  world   end", "line one\nline two\r\nthree", "a " + String(repeating: " ", count: 40) + "b",
        String(repeating: " ", count: 17), String(repeating: "\u{2581}", count: 20), "\u{2581}Hello", "a\u{2581}b",
        "café", "cafe\u{301}", "\u{212B}ngström", "naïve résumé", "Zürich Straße", "日本語のテキスト", "中文，标点。",
        "한국어", "مرحبا بالعالم", "Привет, мир!", "👍", "👨‍👩‍👧‍👦 family", "🇫🇷", "\u{0}\u{1}ctrl", "\u{FEFF}bom", "\u{FFFD}",
        "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
        "It's DON'T we'll", "1,234.56 and 3rd", "f(x) = x^2 + 2*x", "http://example.com/?q=1&r=2", "<<>>", "<s", "s>",
        "<s>Hello", "<s> Hello", "Hello<s>world", "Hello </s> world", "</s>", "<unk>", "<|endoftext|>Hi", "<|user|>\nHi<|end|>\n<|assistant|>",
        "a</s>b", "[INST] Hi [/INST]",
    ]

    /// Whether `text` holds an added token's text (the dummy prefix after it is decoded as a space).
    static func hasAddedText(_ text: String) -> Bool { ["<s>", "</s>", "<unk>", "<|"].contains { text.contains($0) } }

    @Test(arguments: ["llama-spm", "phi-3"])
    func exportedTokenizerJSONGivesTheGGUFsIDs(_ name: String) throws {
        let file = try GGUFFile(path: Vocabularies.path(name))
        let gguf = try #require(try TokenizerLoader.load(gguf: file.metadata) as? SentencePieceTokenizer)
        let files = try #require(try TokenizerExport.huggingFaceFiles(gguf: file.metadata))
        let directory = try Fixtures.scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        for (fileName, data) in files { try data.write(to: directory.appendingPathComponent(fileName)) }
        let loaded = try TokenizerLoader.load(tokenizerJSON: directory.appendingPathComponent("tokenizer.json"))
        let json = try #require(loaded as? SentencePieceTokenizer)
        #expect(json.vocabularySize == gguf.vocabularySize && json.specialTokenIDs == gguf.specialTokenIDs)
        #expect(json.leadingBOS == gguf.leadingBOS && json.endOfSequence == gguf.endOfSequence && json.sentenceStart == gguf.sentenceStart)

        var failures: [String] = []
        let cases = try Vocabularies.cases(name)
        #expect(cases.count > 80)
        for c in cases where json.encode(c.text, addSpecialTokens: false, parseSpecial: false) != c.ids {
            failures.append("golden \(c.text.debugDescription.prefix(60))")
        }
        for text in Self.texts + cases.map(\.text) {
            for parse in [false, true] {
                for framing in [false, true] {
                    let a = json.encode(text, addSpecialTokens: framing, parseSpecial: parse)
                    let b = gguf.encode(text, addSpecialTokens: framing, parseSpecial: parse)
                    if a != b { failures.append("\(text.debugDescription.prefix(60)) parse \(parse) framing \(framing): \(a.prefix(12)) vs \(b.prefix(12))") }
                }
            }
            // decode(encode(x)) == x, the dummy prefix's space stripped by the decoder (HF's Strip); a
            // literal "▁" is a space to SentencePiece, and decodes as one.
            let ids = json.encode(text, addSpecialTokens: false, parseSpecial: false)
            if !Self.hasAddedText(text), !text.unicodeScalars.contains("\u{2581}"), json.decode(ids) != text || gguf.decode(ids) != text {
                failures.append("round trip \(text.debugDescription.prefix(60)): \(json.decode(ids).debugDescription.prefix(60))")
            }
        }
        #expect(failures.isEmpty, "\(name): \(failures.count) differences:\n\(failures.prefix(10).joined(separator: "\n"))")
    }

    /// llama.cpp puts the dummy prefix before every run of text, after a special token too (the `legacy`
    /// rule, HF's Prepend normalizer), and decoding shows it as a space after the token.
    @Test func theDummyPrefixFollowsEverySpecialToken() throws {
        let file = try GGUFFile(path: Vocabularies.path("llama-spm"))
        let tokenizer = try TokenizerLoader.load(gguf: file.metadata)
        let hello = try #require(tokenizer.id(of: "\u{2581}Hello")), world = try #require(tokenizer.id(of: "\u{2581}world"))
        #expect(tokenizer.encode("<s>Hello</s>world", addSpecialTokens: false) == [1, hello, 2, world])
        #expect(tokenizer.encode("Hello") == [1, hello])
        #expect(tokenizer.decode([1, hello, 2, world]) == "<s> Hello</s> world")
        #expect(tokenizer.decode([1, hello, 2, world], skipSpecialTokens: true) == "Hello world")
        // Phi-3's </s> is a user-defined piece: matched even in data.
        let phi = try TokenizerLoader.load(gguf: try GGUFFile(path: Vocabularies.path("phi-3")).metadata)
        #expect(phi.encodeData("a</s>b", addSpecialTokens: false).contains(2))
    }

    /// A vocabulary whose pieces tie in ways HF's merge ranks cannot express is not exported.
    @Test func inexpressibleVocabulariesAreNotExported() throws {
        let bytes = (0..<256).map { String(format: "<0x%02X>", $0) }
        func metadata(_ pieces: [(String, Float)]) -> GGUFMetadata {
            let tokens = ["<unk>", "<s>", "</s>"] + bytes + pieces.map(\.0)
            let scores: [Float] = [0, 0, 0] + bytes.map { _ in 0 } + pieces.map(\.1)
            let types: [Int32] = [2, 3, 3] + bytes.map { _ in 6 } + pieces.map { _ in 1 }
            return GGUFMetadata([("tokenizer.ggml.model", .string("llama")),
                                 ("tokenizer.ggml.tokens", .array(.string, tokens.map { .string($0) })),
                                 ("tokenizer.ggml.scores", .array(.float32, scores.map { .float32($0) })),
                                 ("tokenizer.ggml.token_type", .array(.int32, types.map { .int32($0) }))])
        }
        let letters: [(String, Float)] = [("a", -1), ("b", -2), ("c", -3)]
        #expect(try TokenizerExport.huggingFaceFiles(gguf: metadata(letters + [("ab", -4), ("bc", -5)])) != nil)
        #expect(try TokenizerExport.huggingFaceFiles(gguf: metadata(letters + [("ab", -4), ("bc", -4)])) == nil)      // a tie
        #expect(try TokenizerExport.huggingFaceFiles(gguf: metadata(letters + [("aa", -4), ("aaa", -4)])) != nil)     // runs of one letter
        #expect(try TokenizerExport.huggingFaceFiles(gguf: metadata(letters + [("ad", -4)])) == nil)                  // "d" is not a piece
    }
}

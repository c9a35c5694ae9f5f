import Testing
import Foundation
import Checkpoints
import Tokenizers
import TestSupport

/// llama.cpp's tokenizer-only GGUFs (Scripts/fetch tokenizers) against ../shared/golden/tokenizers: every
/// case gives exactly its ids (no BOS or EOS; special-token text in a case is ordinary text).
enum Vocabularies {
    static let bpe = ["llama-bpe", "qwen2", "gpt-2", "gpt-neox", "starcoder", "falcon", "command-r", "deepseek-llm"]

    static func path(_ name: String) -> String { Fixtures.root.appendingPathComponent("checkpoints/vocab/ggml-vocab-\(name).gguf").path }
    static var available: Bool { FileManager.default.fileExists(atPath: path("gpt-2"))
        && FileManager.default.fileExists(atPath: Fixtures.goldenRoot.appendingPathComponent("tokenizers/gpt-2.json").path) }

    static func cases(_ name: String) throws -> [(text: String, ids: [Int32])] {
        let data = try Data(contentsOf: Fixtures.goldenRoot.appendingPathComponent("tokenizers/\(name).json"))
        let json = try data.withUnsafeBytes { try StrictJSONParser.parse($0) }
        guard case .array(let cases)? = json["cases"] else { return [] }
        return cases.compactMap { c in
            guard case .string(let text)? = c["text"], case .array(let ids)? = c["ids"] else { return nil }
            return (text, ids.compactMap { if case .integer(let i) = $0 { Int32(i) } else { nil } })
        }
    }
}

@Suite(.enabled(if: Vocabularies.available, "the vocabularies are not fetched (Scripts/fetch tokenizers) or ../shared/golden/tokenizers is missing"))
struct VocabularyTests {
    @Test(arguments: Vocabularies.bpe)
    func everyCaseGivesItsIDs(_ name: String) throws {
        let file = try GGUFFile(path: Vocabularies.path(name))
        let tokenizer = try #require(try TokenizerLoader.load(gguf: file.metadata) as? BPETokenizer)
        var failures: [String] = []
        let cases = try Vocabularies.cases(name)
        for c in cases {
            let ids = tokenizer.encode(c.text, addSpecialTokens: false, parseSpecial: false)
            if ids != c.ids { failures.append("\(c.text.debugDescription.prefix(60)): \(ids.prefix(12)) vs \(c.ids.prefix(12))") }
        }
        #expect(failures.isEmpty, "\(name): \(failures.count) of \(cases.count) cases differ:\n\(failures.prefix(8).joined(separator: "\n"))")
    }

    /// SentencePiece vocabularies (Llama 2 / Mistral v0.1, Phi-3): byte fallback, the dummy prefix, whitespace.
    @Test(arguments: ["llama-spm", "phi-3"])
    func sentencePieceCasesGiveTheirIDs(_ name: String) throws {
        let file = try GGUFFile(path: Vocabularies.path(name))
        let tokenizer = try TokenizerLoader.load(gguf: file.metadata)
        var failures: [String] = []
        let cases = try Vocabularies.cases(name)
        for c in cases {
            var ids = tokenizer.encode(c.text, addSpecialTokens: false)
            if c.ids.first != tokenizer.leadingBOS, ids.first == tokenizer.leadingBOS, tokenizer.leadingBOS != nil { ids.removeFirst() }
            if ids != c.ids { failures.append("\(c.text.debugDescription.prefix(60)): \(ids.prefix(12)) vs \(c.ids.prefix(12))") }
        }
        #expect(failures.isEmpty, "\(name): \(failures.count) of \(cases.count) cases differ:\n\(failures.prefix(8).joined(separator: "\n"))")
    }

    @Test func unknownPreTokenizersAreRefusedByName() throws {
        #expect(throws: TokenizerError.unsupportedPreTokenizer("tekken")) {
            try BPETokenizer.preTokenizerForTesting("tekken")
        }
    }
}

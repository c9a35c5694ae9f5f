import Foundation
import Testing
import Checkpoints
import JSON
import Tokenizers
import TestSupport

/// A model that comes as a Hugging Face folder and as a GGUF (the step-12 families) tokenizes the same
/// way from its tokenizer.json as from its GGUF, on unseen texts, with and without special tokens.
@Suite(.enabled(if: FileManager.default.fileExists(atPath: Fixtures.goldenRoot.appendingPathComponent("families/llama3/hf/tokenizer.json").path),
                "../shared/golden/families is missing"))
struct FamilyTokenizerTests {
    static let families = ["llama3", "mistral", "qwen2", "qwen3", "phi3", "gemma2", "gpt2", "gptneox"]

    @Test(arguments: families)
    func folderAndGGUFGiveTheSameIDs(_ family: String) throws {
        let root = Fixtures.goldenRoot.appendingPathComponent("families/\(family)")
        let fromJSON = try TokenizerLoader.load(tokenizerJSON: root.appendingPathComponent("hf/tokenizer.json"))
        let fromGGUF = try TokenizerLoader.load(gguf: GGUFFile(path: root.appendingPathComponent("model-f32.gguf").path).metadata)
        #expect(fromJSON.vocabularySize == fromGGUF.vocabularySize)
        for text in UnseenTexts.all + ["Hello world", "  two  spaces", "tabs\tand\nnewlines\n"] {
            for special in [false, true] {
                #expect(fromJSON.encode(text, addSpecialTokens: special) == fromGGUF.encode(text, addSpecialTokens: special),
                        "\(family) \(special): \(text.debugDescription.prefix(40))")
            }
        }
    }
}

extension FamilyTokenizerTests {
    /// Added tokens that take whitespace with them (`lstrip`, `rstrip`) in a byte-level BPE tokenizer.json
    /// give Hugging Face `tokenizers`' ids (Tests/Fixtures/generate/added_token_strips.py).
    @Test func addedTokensTakeTheirWhitespace() throws {
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/added_token_strips.json")
        let reference = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: fixture)) as? [String: Any])
        let flags = try #require(reference["flags"] as? [String: String])
        let url = Fixtures.goldenRoot.appendingPathComponent("families/gpt2/hf/tokenizer.json")
        var json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        json["added_tokens"] = (json["added_tokens"] as? [[String: Any]])?.map { token in
            var token = token
            if let flag = flags[token["content"] as? String ?? ""] { token[flag] = true }
            return token
        }
        let edited = try JSONSerialization.data(withJSONObject: json)
        let parsed = try edited.withUnsafeBytes { try StrictJSONParser.parse($0, rejectDuplicateKeys: false) }
        let tokenizer = try BPETokenizer(tokenizerJSON: parsed, config: nil)
        let cases = try #require(reference["cases"] as? [[String: Any]])
        #expect(cases.count == 6)
        for c in cases {
            let text = c["text"] as! String, ids = (c["ids"] as! [Int]).map(Int32.init)
            #expect(tokenizer.encode(text, addSpecialTokens: false) == ids, "\(text.debugDescription)")
        }
    }
}

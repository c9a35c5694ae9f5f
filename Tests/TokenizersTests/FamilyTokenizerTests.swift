import Foundation
import Testing
import Checkpoints
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

import Foundation
import Testing
import Checkpoints
import Tokenizers
import TestSupport

/// llama.cpp's own test pairs beside each vocabulary (`ggml-vocab-NAME.gguf.inp` / `.out`, ids made
/// with the model's original Hugging Face tokenizer), for every vocabulary whose tokenizer model Scalpel
/// implements; the golden files cover some of them, these cover the rest (qwen35, mpt, refact, …).
enum LlamaCppTestFiles {
    static let folder = Fixtures.root.appendingPathComponent("checkpoints/vocab")
    static let separator = "\n__ggml_vocab_test__\n"

    static var names: [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return files.filter { $0.hasSuffix(".gguf.inp") }.map { String($0.dropFirst(11).dropLast(9)) }.sorted()
    }

    /// Vocabularies whose tokenizer model is not a BPE or SentencePiece one Scalpel reads from a GGUF.
    static let otherModels: Set<String> = ["bert-bge", "gemma-4"]

    static func pairs(_ name: String) throws -> [(text: String, ids: [Int32])] {
        let input = try String(contentsOf: folder.appendingPathComponent("ggml-vocab-\(name).gguf.inp"), encoding: .utf8)
        let output = try String(contentsOf: folder.appendingPathComponent("ggml-vocab-\(name).gguf.out"), encoding: .utf8)
        var texts = input.components(separatedBy: separator)
        if texts.last == "" { texts.removeLast() }
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            line.split(separator: " ").compactMap { Int32($0) }
        }
        return zip(texts, lines).map { ($0, $1) }
    }
}

@Suite(.enabled(if: !LlamaCppTestFiles.names.isEmpty, "the vocabularies are not fetched (Scripts/fetch tokenizers)"))
struct LlamaCppTestFileTests {
    @Test(arguments: LlamaCppTestFiles.names.filter { !LlamaCppTestFiles.otherModels.contains($0) })
    func everyPairGivesItsIDs(_ name: String) throws {
        let file = try GGUFFile(path: LlamaCppTestFiles.folder.appendingPathComponent("ggml-vocab-\(name).gguf").path)
        let tokenizer = try TokenizerLoader.load(gguf: file.metadata)
        let pairs = try LlamaCppTestFiles.pairs(name)
        #expect(pairs.count >= 20)
        var failures: [String] = []
        for pair in pairs {
            var ids = tokenizer.encode(pair.text, addSpecialTokens: false, parseSpecial: false)
            if let bos = tokenizer.leadingBOS, ids.first == bos, pair.ids.first != bos { ids.removeFirst() }
            if ids != pair.ids { failures.append("\(pair.text.debugDescription.prefix(60)): \(ids.prefix(12)) vs \(pair.ids.prefix(12))") }
        }
        #expect(failures.isEmpty, "\(name): \(failures.count) of \(pairs.count) differ:\n\(failures.prefix(6).joined(separator: "\n"))")
    }

    /// The other tokenizer models are refused by name, not tokenized by another rule.
    @Test(arguments: LlamaCppTestFiles.names.filter { LlamaCppTestFiles.otherModels.contains($0) })
    func otherModelsAreRefusedByName(_ name: String) throws {
        let file = try GGUFFile(path: LlamaCppTestFiles.folder.appendingPathComponent("ggml-vocab-\(name).gguf").path)
        #expect(throws: TokenizerError.self) { try TokenizerLoader.load(gguf: file.metadata) }
    }
}

import Foundation
import Testing
import Checkpoints
import Tokenizers
import TestSupport

/// decode(encode(x)) == x for every vocabulary whose tokenizer is lossless: byte-level BPE, and
/// SentencePiece with byte fallback (its decoder removes the dummy prefix it added). The texts are
/// none of the golden cases: a review, code, a log, LaTeX, mixed scripts, odd whitespace and bytes.
///
/// Lossy by design, as in llama.cpp and transformers: SentencePiece puts a dummy "▁" before the text
/// after an added token that is always matched (Phi-3's `</s>`), and decoding keeps it; WordPiece
/// lower-cases and drops accents and whitespace; an NFC normalizer composes decomposed characters.
enum UnseenTexts {
    static let all: [String] = [
        "An unflinching, beautifully shot film — though its second hour drags; 7/10.",
        "func f(_ x: Int) -> Int {\n\treturn x &* 2 // overflow wraps\n}\n",
        "2026-12-03T20:19:01.123Z WARN [pool-7] retrying GET /v1/items?id=42&sort=desc (attempt 3/5)",
        "$$\\int_0^\\infty e^{-x^2}\\,dx = \\frac{\\sqrt{\\pi}}{2}$$ and \\(a_{ij}\\)",
        "東京で寿司を食べた。 Москва — столица. مرحبا بالعالم. नमस्ते दुनिया! 🇫🇷🎬👩‍💻",
        "  leading spaces, trailing tabs\t\t\n\n\nthree newlines\r\nCRLF\u{A0}nbsp\u{2028}ls",
        "don't I'LL we've THEY'RE it's 'quoted' ’curly’ 12345678 1,234.56 ٣٤٥",
        "\u{0}\u{1}\u{7F} control, e\u{301} decomposed, \u{FEFF}bom, \u{200D}zwj, \u{1F9D1}\u{200D}\u{1F91D}\u{200D}\u{1F9D1}",
        "<|im_end|> </s> <s> [INST] special-token text as data",
        "", " ", "\n",
    ]
}

@Suite(.enabled(if: !LlamaCppTestFiles.names.isEmpty, "the vocabularies are not fetched (Scripts/fetch tokenizers)"))
struct RoundTripTests {
    static let vocabularies: [String] = {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: LlamaCppTestFiles.folder.path)) ?? []
        return files.filter { $0.hasSuffix(".gguf") }.map { String($0.dropFirst(11).dropLast(5)) }.sorted()
    }()

    @Test(arguments: vocabularies)
    func decodingGivesTheTextBack(_ name: String) throws {
        let file = try GGUFFile(path: LlamaCppTestFiles.folder.appendingPathComponent("ggml-vocab-\(name).gguf").path)
        // The tokenizer models Scalpel refuses by name (tested elsewhere) are the only ones skipped.
        guard let tokenizer = try? TokenizerLoader.load(gguf: file.metadata) else {
            #expect(LlamaCppTestFiles.otherModels.union(["nomic-bert-moe"]).contains(name), "\(name) did not load")
            return
        }
        let isSentencePiece = tokenizer is SentencePieceTokenizer
        for text in UnseenTexts.all where !(isSentencePiece && text.contains("</s>")) {
            let ids = tokenizer.encode(text, addSpecialTokens: false, parseSpecial: false)
            #expect(tokenizer.decode(ids) == text, "\(name): \(text.debugDescription.prefix(50))")
        }
    }
}

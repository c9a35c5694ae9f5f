import Foundation
import JSON

/// BERT's WordPiece, as Hugging Face `tokenizers` runs it for bert-base-uncased and MiniLM:
/// added tokens split out → BertNormalizer → BertPreTokenizer → greedy longest-match-first WordPiece
/// with "##" continuations → [CLS] … [SEP].
///
/// A word longer than `maxInputCharsPerWord` characters, or one with any part not in the vocabulary,
/// becomes a single [UNK] (wordpiece.rs).
public final class WordPieceTokenizer: Tokenizer, @unchecked Sendable {
    public let vocabulary: [String]
    private let ids: [String: Int32]
    public let normalizer: BertNormalizer
    public let unknownID: Int32
    public let clsID: Int32, sepID: Int32
    public let continuingPrefix: String
    public let maxInputCharsPerWord: Int
    public let specialTokenIDs: Set<Int32>
    private let splitter: SpecialTokenSplitter

    public init(vocabulary: [String], normalizer: BertNormalizer = BertNormalizer(), unknownToken: String = "[UNK]",
                clsToken: String = "[CLS]", sepToken: String = "[SEP]", continuingPrefix: String = "##",
                maxInputCharsPerWord: Int = 100, addedTokens: [String: Int32] = [:]) throws(TokenizerError) {
        self.vocabulary = vocabulary
        var ids: [String: Int32] = [:]
        for (i, token) in vocabulary.enumerated() where ids[token] == nil { ids[token] = Int32(i) }
        for (token, id) in addedTokens { ids[token] = id }
        self.ids = ids
        guard let unk = ids[unknownToken] else { throw .unknownToken(unknownToken) }
        guard let cls = ids[clsToken] else { throw .unknownToken(clsToken) }
        guard let sep = ids[sepToken] else { throw .unknownToken(sepToken) }
        self.normalizer = normalizer
        unknownID = unk
        clsID = cls
        sepID = sep
        self.continuingPrefix = continuingPrefix
        self.maxInputCharsPerWord = maxInputCharsPerWord
        specialTokenIDs = Set(addedTokens.values).union([unk, cls, sep])
        splitter = SpecialTokenSplitter(addedTokens)
    }

    /// Builds the tokenizer from a Hugging Face tokenizer.json (model type WordPiece).
    public convenience init(tokenizerJSON data: Data) throws {
        let json = try data.withUnsafeBytes { try StrictJSONParser.parse($0, rejectDuplicateKeys: false) }
        guard case .object(let model)? = json["model"] else { throw TokenizerError.missingField("model") }
        let modelObject = JSONValue.object(model)
        guard case .string(let type)? = modelObject["type"], type == "WordPiece" else {
            throw TokenizerError.unsupportedModel(modelObject["type"].map { "\($0)" } ?? "none")
        }
        guard case .object(let vocab)? = modelObject["vocab"] else { throw TokenizerError.missingField("model.vocab") }
        var tokens = [String](repeating: "", count: vocab.count)
        for (token, value) in vocab {
            guard case .integer(let id) = value, id >= 0, Int(id) < vocab.count else {
                throw TokenizerError.missingField("model.vocab ids 0..<\(vocab.count)")
            }
            tokens[Int(id)] = token
        }
        var added: [String: Int32] = [:]
        if case .array(let list)? = json["added_tokens"] {
            for entry in list {
                if case .string(let content)? = entry["content"], case .integer(let id)? = entry["id"] {
                    guard let id = Int32(exactly: id), id >= 0 else {
                        throw TokenizerError.missingField("added_tokens ids 0...\(Int32.max)")
                    }
                    added[content] = id
                }
            }
        }
        var normalizer = BertNormalizer()
        if let n = json["normalizer"], case .string("BertNormalizer")? = n["type"] {
            if case .bool(let v)? = n["clean_text"] { normalizer.cleanText = v }
            if case .bool(let v)? = n["handle_chinese_chars"] { normalizer.handleChineseCharacters = v }
            if case .bool(let v)? = n["strip_accents"] { normalizer.stripAccents = v }
            if case .bool(let v)? = n["lowercase"] { normalizer.lowercase = v }
        }
        var unknown = "[UNK]", prefix = "##", maxChars = 100
        if case .string(let v)? = modelObject["unk_token"] { unknown = v }
        if case .string(let v)? = modelObject["continuing_subword_prefix"] { prefix = v }
        if case .integer(let v)? = modelObject["max_input_chars_per_word"] { maxChars = Int(v) }
        try self.init(vocabulary: tokens, normalizer: normalizer, unknownToken: unknown, continuingPrefix: prefix,
                      maxInputCharsPerWord: maxChars, addedTokens: added)
    }

    public var vocabularySize: Int { vocabulary.count }
    public func token(_ id: Int32) -> String? { id >= 0 && Int(id) < vocabulary.count ? vocabulary[Int(id)] : nil }
    public func id(of token: String) -> Int32? { ids[token] }

    public func encode(_ parts: [TextPart], addSpecialTokens: Bool) -> [Int32] {
        var out: [Int32] = addSpecialTokens ? [clsID] : []
        for segment in SpecialTokenSplitter.segments(parts, parsing: splitter, always: nil) {
            switch segment {
            case .special(let id): out.append(id)
            case .text(let part):
                for word in bertPreTokenize(normalizer.normalize(String(part))) {
                    out.append(contentsOf: wordPiece(word))
                }
            }
        }
        if addSpecialTokens { out.append(sepID) }
        return out
    }

    /// Greedy longest-match-first over the word's characters (Unicode scalars, as Rust's `char`).
    func wordPiece(_ word: String) -> [Int32] {
        let characters = Array(word.unicodeScalars)
        if characters.count > maxInputCharsPerWord { return [unknownID] }
        var pieces: [Int32] = []
        var start = 0
        while start < characters.count {
            var end = characters.count
            var found: Int32?
            while start < end {
                var piece = String.UnicodeScalarView()
                piece.append(contentsOf: characters[start..<end])
                let candidate = (start > 0 ? continuingPrefix : "") + String(piece)
                if let id = ids[candidate] { found = id; break }
                end -= 1
            }
            guard let found else { return [unknownID] }
            pieces.append(found)
            start = end
        }
        return pieces
    }

    /// HF's WordPiece decoder with cleanup (decoders/wordpiece.rs `decode_chain`): every piece but the first
    /// gets a leading space unless it is a "##" continuation, and the cleanup replacements (" ." → ".",
    /// " n't" → "n't", …) are applied to each piece on its own, as the reference does, so a lone "'"
    /// keeps its spaces ("i ' m").
    public func decode(_ ids: [Int32], skipSpecialTokens: Bool) -> String {
        var text = ""
        var first = true
        for id in ids {
            guard let token = token(id) else { continue }
            if skipSpecialTokens && specialTokenIDs.contains(id) { continue }
            var piece = token
            if !first {
                piece = token.hasPrefix(continuingPrefix)
                    ? String(token.dropFirst(continuingPrefix.count)) : " " + token
            }
            first = false
            for (from, to) in Self.cleanups { piece = piece.replacingOccurrences(of: from, with: to) }
            text += piece
        }
        return text
    }

    static let cleanups = [(" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                           (" 'm", "'m"), (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")]
}

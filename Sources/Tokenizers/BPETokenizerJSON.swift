import Checkpoints
import Foundation

/// Byte-level BPE from a Hugging Face `tokenizer.json` (GPT-2's scheme, which every decoder family's
/// byte-level vocabulary shares): `model.vocab` and `model.merges`, `added_tokens`, and a ByteLevel
/// pre-tokenizer with GPT-2's regex. Other pre-tokenizers, normalizers and post-processors change the
/// ids, so they are refused by name rather than ignored (step 13 brings them).
extension BPETokenizer {
    public convenience init(tokenizerJSON json: JSONValue, config: JSONValue?) throws {
        guard let model = json["model"], case .object(let vocab)? = model["vocab"] else { throw TokenizerError.missingField("model.vocab") }
        let added = try Self.addedTokens(json)
        let count = max(vocab.count, (added.map { Int($0.id) }.max() ?? -1) + 1)
        var tokens = [String?](repeating: nil, count: count)
        for (token, value) in vocab {
            guard case .integer(let id) = value, id >= 0, Int(id) < count else { throw TokenizerError.missingField("model.vocab ids 0..<\(count)") }
            tokens[Int(id)] = token
        }
        for token in added { tokens[Int(token.id)] = token.content }
        guard let dense = tokens as? [String] ?? (tokens.allSatisfy { $0 != nil } ? tokens.map { $0! } : nil) else {
            throw TokenizerError.missingField("a token for every id 0..<\(count) in model.vocab and added_tokens")
        }
        var merges: [String] = []
        if case .array(let list)? = model["merges"] {
            for entry in list {
                switch entry {
                case .string(let text): merges.append(text)
                case .array(let pair) where pair.count == 2:
                    guard case .string(let a) = pair[0], case .string(let b) = pair[1] else { throw TokenizerError.missingField("model.merges pairs of strings") }
                    merges.append("\(a) \(b)")
                default: throw TokenizerError.missingField("model.merges as \"a b\" strings or [a, b] pairs")
                }
            }
        }
        try Self.requireByteLevel(json)
        func id(_ key: String) -> Int32? {
            guard let config else { return nil }
            var content: String?
            switch config[key] {
            case .string(let text)?: content = text
            case .object?: if case .string(let text)? = config[key]?["content"] { content = text }
            default: break
            }
            return content.flatMap { text in dense.firstIndex(of: text).map { Int32($0) } }
        }
        try self.init(tokens: dense, merges: merges, specialTokens: added.filter(\.special).map(\.id), isolateDigits: false,
                      bosID: id("bos_token"), eosID: id("eos_token"), addBOS: false)
    }

    static func addedTokens(_ json: JSONValue) throws -> [(id: Int32, content: String, special: Bool)] {
        guard case .array(let list)? = json["added_tokens"] else { return [] }
        return try list.map { entry in
            guard case .string(let content)? = entry["content"], case .integer(let raw)? = entry["id"], let id = Int32(exactly: raw), id >= 0 else {
                throw TokenizerError.missingField("added_tokens entries with content and an id in 0...\(Int32.max)")
            }
            return (id, content, entry["special"] == .bool(true))
        }
    }

    /// GPT-2's byte-level scheme only: no normalizer, a ByteLevel pre-tokenizer with its regex and no
    /// prefix space, and a post-processor that adds no tokens.
    static func requireByteLevel(_ json: JSONValue) throws {
        func refuse(_ section: String, _ value: JSONValue?) -> TokenizerError {
            .unsupportedPreTokenizer("tokenizer.json \(section) \(value.map { "\($0)" }?.prefix(120) ?? "") (Scalpel reads GPT-2's byte-level BPE here)")
        }
        if let normalizer = json["normalizer"], normalizer != .null { throw refuse("normalizer", normalizer) }
        let pre = json["pre_tokenizer"]
        guard case .string("ByteLevel")? = pre?["type"], pre?["add_prefix_space"] != .bool(true), pre?["use_regex"] != .bool(false) else {
            throw refuse("pre_tokenizer", pre)
        }
        if let post = json["post_processor"], post != .null, post["type"] != .string("ByteLevel") { throw refuse("post_processor", post) }
        if let model = json["model"], model["byte_fallback"] == .bool(true) || (model["continuing_subword_prefix"] ?? .null) != .null
            || (model["end_of_word_suffix"] ?? .null) != .null {
            throw refuse("model", .string("with byte_fallback, a subword prefix or an end-of-word suffix"))
        }
    }
}

import JSON

/// tokenizer.json's `added_tokens` and tokenizer_config.json's special-token entries, read once for
/// every tokenizer family that has them (byte-level BPE and SentencePiece-style BPE).
enum AddedTokens {
    struct Token {
        var id: Int32
        var content: String
        var special: Bool
        /// The whitespace the token takes with it (HF's `lstrip` / `rstrip`).
        var strip: SpecialTokenSplitter.Strip
    }

    /// The added tokens, with the flags that change ids checked: `single_word` is refused; `normalized`
    /// only where no normalizer runs and every token agrees (HF then matches them all in the raw text).
    static func read(_ json: JSONValue, hasNormalizer: Bool,
                     _ refuse: (String, JSONValue?) -> TokenizerError) throws -> [Token] {
        guard let list = json["added_tokens"], list != .null else { return [] }
        guard case .array(let entries) = list else { throw TokenizerError.missingField("added_tokens as a list") }
        var normalized: Set<Bool> = []
        let tokens = try entries.map { entry in
            guard case .string(let content)? = entry["content"], !content.isEmpty,
                  case .integer(let raw)? = entry["id"], let id = Int32(exactly: raw), id >= 0 else {
                throw TokenizerError.missingField("added_tokens entries with content and an id in 0...\(Int32.max)")
            }
            if entry["single_word"] == .bool(true) { throw refuse("added_tokens single_word true ('\(content)')", nil) }
            normalized.insert(entry["normalized"] == .bool(true))
            var strip: SpecialTokenSplitter.Strip = []
            if entry["lstrip"] == .bool(true) { strip.insert(.left) }
            if entry["rstrip"] == .bool(true) { strip.insert(.right) }
            return Token(id: id, content: content, special: entry["special"] == .bool(true), strip: strip)
        }
        // A normalized token is matched in the normalized text, after the others: with a normalizer it
        // would match elsewhere (with Prepend it would need "▁" in front, and move the dummy prefix).
        if normalized.contains(true) && (hasNormalizer || normalized.count > 1) {
            throw refuse(hasNormalizer ? "added_tokens normalized true with a normalizer"
                                       : "added_tokens normalized true mixed with false", nil)
        }
        return tokens
    }

    /// The strips of the tokens that have any, by id.
    static func strips(_ tokens: [Token]) -> [Int32: SpecialTokenSplitter.Strip] {
        var strips: [Int32: SpecialTokenSplitter.Strip] = [:]
        for token in tokens where !token.strip.isEmpty { strips[token.id] = token.strip }
        return strips
    }

    /// A special token's text in tokenizer_config.json, written as the text or as an AddedToken object.
    static func configured(_ config: JSONValue?, _ key: String) -> String? {
        switch config?[key] {
        case .string(let text)?: return text
        case .object?: if case .string(let text)? = config?[key]?["content"] { return text }
        default: break
        }
        return nil
    }
}

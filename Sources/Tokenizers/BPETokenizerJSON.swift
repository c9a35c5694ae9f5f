import Foundation
import JSON

/// Byte-level BPE from a Hugging Face `tokenizer.json`: `model.vocab`, `model.merges` and `ignore_merges`,
/// `added_tokens` (special ones parsed only where special text is parsed; the others always), the
/// pre-tokenizer (`BPETokenizer.preTokenizer`) and a post-processor's leading BOS. Components that would
/// change the ids and that Scalpel does not implement are refused by name, never ignored.
extension BPETokenizer {
    public convenience init(tokenizerJSON json: JSONValue, config: JSONValue?) throws {
        guard let model = json["model"], case .object(let vocab)? = model["vocab"] else {
            throw TokenizerError.missingField("model.vocab")
        }
        let refuse: (String, JSONValue?) -> TokenizerError = { section, value in
            .unsupportedPreTokenizer("tokenizer.json \(section) \(value.map { "\($0)" }?.prefix(160) ?? "")")
        }
        let hasNormalizer = (json["normalizer"] ?? .null) != .null
        let added = try AddedTokens.read(json, hasNormalizer: hasNormalizer, refuse)
        let count = max(vocab.count, (added.map { Int($0.id) }.max() ?? -1) + 1)
        var tokens = [String?](repeating: nil, count: count)
        for (token, value) in vocab {
            guard case .integer(let id) = value, id >= 0, Int(id) < count else {
                throw TokenizerError.missingField("model.vocab ids 0..<\(count)")
            }
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
                    guard case .string(let a) = pair[0], case .string(let b) = pair[1] else {
                        throw TokenizerError.missingField("model.merges pairs of strings")
                    }
                    merges.append("\(a) \(b)")
                default: throw TokenizerError.missingField("model.merges as \"a b\" strings or [a, b] pairs")
                }
            }
        }
        let preTokenizer = try Self.preTokenizer(json)
        let (bos, eos) = try PostProcessor.framing(json["post_processor"] ?? .null, ids: { name in
            dense.firstIndex(of: name).map { Int32($0) }
        }, refuse)
        func id(_ key: String) -> Int32? {
            AddedTokens.configured(config, key).flatMap { text in dense.firstIndex(of: text).map { Int32($0) } }
        }
        try self.init(tokens: dense, merges: merges, specialTokens: added.filter(\.special).map(\.id),
                      userDefined: added.filter { !$0.special }.map(\.id), preTokenizer: preTokenizer,
                      ignoreMerges: model["ignore_merges"] == .bool(true), strips: AddedTokens.strips(added),
                      bosID: bos ?? id("bos_token"), eosID: eos ?? id("eos_token"), addBOS: bos != nil)
        addEOS = eos != nil
        if let normalizer = json["normalizer"], normalizer != .null { normalizesNFC = Self.isNFC(normalizer) }
    }

    /// The pre-tokenizer a tokenizer.json describes, as regexes applied in order: `ByteLevel` (GPT-2's
    /// regex when `use_regex`), `Split` (a regex or string, `Isolated`), `Digits` and `Sequence`s of them.
    /// A normalizer, a prefix space, another Split behaviour or any other component is refused by name.
    static func preTokenizer(_ json: JSONValue) throws -> BPEPreTokenizer {
        func refuse(_ section: String, _ value: JSONValue?) -> TokenizerError {
            .unsupportedPreTokenizer("tokenizer.json \(section) \(value.map { "\($0)" }?.prefix(160) ?? "")")
        }
        if let normalizer = json["normalizer"], normalizer != .null, !isNFC(normalizer) {
            throw refuse("normalizer", normalizer)
        }
        if let model = json["model"],
           model["byte_fallback"] == .bool(true) || (model["continuing_subword_prefix"] ?? .null) != .null
            || (model["end_of_word_suffix"] ?? .null) != .null {
            throw refuse("model", .string("with byte_fallback, a subword prefix or an end-of-word suffix"))
        }
        var patterns: [String] = []
        var byteLevel = false
        func add(_ component: JSONValue) throws {
            guard case .string(let type)? = component["type"] else { throw refuse("pre_tokenizer", component) }
            switch type {
            case "Sequence":
                guard case .array(let parts)? = component["pretokenizers"] else {
                    throw refuse("pre_tokenizer", component)
                }
                for part in parts { try add(part) }
            case "ByteLevel":
                guard component["add_prefix_space"] != .bool(true) else {
                    throw refuse("pre_tokenizer (ByteLevel add_prefix_space)", component)
                }
                byteLevel = true
                if component["use_regex"] != .bool(false) { patterns.append(gpt2Pattern) }
            case "Split":
                guard component["behavior"] == .string("Isolated"), component["invert"] != .bool(true) else {
                    throw refuse("pre_tokenizer (Split other than Isolated)", component)
                }
                switch component["pattern"] {
                case .object(let members)?:
                    if let (kind, value) = members.first, case .string(let text) = value {
                        patterns.append(kind == "Regex" ? text : Self.escaped(text))
                    } else { throw refuse("pre_tokenizer (Split pattern)", component) }
                default: throw refuse("pre_tokenizer (Split pattern)", component)
                }
            case "Digits":
                patterns.append(component["individual_digits"] == .bool(true) ? "\\p{N}" : "\\p{N}+")
            default: throw refuse("pre_tokenizer", component)
            }
        }
        guard let pre = json["pre_tokenizer"], pre != .null else { throw refuse("pre_tokenizer", .string("none")) }
        try add(pre)
        guard byteLevel else { throw refuse("pre_tokenizer (no ByteLevel: not a byte-level BPE)", pre) }
        // Decoding maps the byte-level symbols back to bytes; another decoder would decode differently.
        if let decoder = json["decoder"], decoder != .null, decoder["type"] != .string("ByteLevel") {
            throw refuse("decoder", decoder)
        }
        do { return try BPEPreTokenizer.scanning(patterns, unicodeFolding: true) } catch {
            throw TokenizerError.unsupportedPreTokenizer("\(error)")
        }
    }

    /// Whether a normalizer is NFC alone (or a Sequence of only NFC), the one Scalpel implements.
    static func isNFC(_ normalizer: JSONValue) -> Bool {
        if normalizer["type"] == .string("NFC") { return true }
        guard normalizer["type"] == .string("Sequence"), case .array(let parts)? = normalizer["normalizers"] else {
            return false
        }
        return !parts.isEmpty && parts.allSatisfy(isNFC)
    }

    /// HF ByteLevel's regex (GPT-2's, with the final `\s+` tokenizers adds).
    package static let gpt2Pattern = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|" +
        "\\s+(?!\\S)|\\s+"

    /// A literal string as a pattern.
    static func escaped(_ text: String) -> String {
        var out = ""
        for c in text.unicodeScalars {
            if "\\^$.|?*+()[]{}-".unicodeScalars.contains(c) { out += "\\" }
            out.unicodeScalars.append(c)
        }
        return out
    }

}

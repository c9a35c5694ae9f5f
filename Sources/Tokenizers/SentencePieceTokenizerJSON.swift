import Foundation
import JSON

/// SentencePiece as Hugging Face writes it into tokenizer.json (Llama 2, Mistral v0.1, Phi-3, and what
/// transformers converts from a GGUF): a `BPE` model with `byte_fallback` over "▁"-spelled pieces.
///
/// - model: `vocab`, `merges` ("a b" strings or [a, b] pairs; a pair merges only if listed, lowest rank
///   first), `ignore_merges`, `unk_token`; `fuse_unk` changes nothing here, since every character that
///   is not a piece falls back to bytes.
/// - the whitespace, in either spelling: normalizer Sequence[Prepend("▁"), Replace(" ", "▁")] with no
///   pre-tokenizer, or a `Metaspace` pre-tokenizer (`prepend_scheme`, `split`) with no normalizer.
/// - `added_tokens`: special ones parsed only where special text is parsed, the others always; `lstrip`
///   and `rstrip`; `normalized` where it changes nothing (no normalizer, all alike).
/// - decoder: Replace, ByteFallback, Fuse, Strip and Metaspace steps; post_processor: TemplateProcessing
///   (special tokens before `$A`: BOS; after it: EOS).
/// Any other component, or a flag value with another meaning, is refused by name (`unsupportedComponent`).
extension SentencePieceTokenizer {
    /// Whether a tokenizer.json BPE is SentencePiece-style rather than byte-level: byte fallback, or a
    /// Metaspace, Prepend or ByteFallback component anywhere in it.
    static func isSentencePieceStyle(_ json: JSONValue) -> Bool {
        if json["model"]?["byte_fallback"] == .bool(true) { return true }
        func mentions(_ value: JSONValue?) -> Bool {
            switch value {
            case .object(let members)?:
                if case .string(let type)? = value?["type"], ["Metaspace", "Prepend", "ByteFallback"].contains(type) {
                    return true
                }
                return members.contains { mentions($0.1) }
            case .array(let items)?: return items.contains { mentions($0) }
            default: return false
            }
        }
        return mentions(json["normalizer"]) || mentions(json["pre_tokenizer"]) || mentions(json["decoder"])
    }

    /// - config: the folder's tokenizer_config.json, for the BOS and EOS names when the template has none
    public convenience init(tokenizerJSON json: JSONValue, config: JSONValue?) throws {
        func refuse(_ what: String, _ value: JSONValue? = nil) -> TokenizerError {
            .unsupportedComponent(value.map { "\(what) \("\($0)".prefix(160))" } ?? what)
        }
        guard let model = json["model"], case .object(let vocab)? = model["vocab"] else {
            throw TokenizerError.missingField("model.vocab")
        }
        // The model's options that would change the ids.
        guard model["byte_fallback"] == .bool(true) else {
            throw refuse("model.byte_fallback", model["byte_fallback"] ?? .null)
        }
        if let dropout = model["dropout"], dropout != .null, dropout != .integer(0), dropout != .number(0) {
            throw refuse("model.dropout", dropout)
        }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let value = model[key], value != .null, value != .string("") { throw refuse("model.\(key)", value) }
        }

        let normalizer = try Self.normalizer(json["normalizer"] ?? .null, refuse)
        let added = try AddedTokens.read(
            json, hasNormalizer: normalizer.prependToEveryRun || normalizer.replaceSpaces, refuse)
        // Ids: model.vocab's, and the added tokens' (which may repeat a vocab entry or extend the vocabulary).
        let count = max(vocab.count, Int(added.map(\.id).max() ?? -1) + 1)
        let incomplete = TokenizerError.missingField(
            "a token for every id 0..<\(count) in model.vocab and added_tokens")
        guard count <= vocab.count + added.count else { throw incomplete }
        var tokens = [String?](repeating: nil, count: count)
        for (token, value) in vocab {
            guard case .integer(let id) = value, id >= 0, id < count else {
                throw TokenizerError.missingField("model.vocab ids 0..<\(count)")
            }
            tokens[Int(id)] = token
        }
        for token in added { tokens[Int(token.id)] = token.content }
        guard tokens.allSatisfy({ $0 != nil }) else { throw incomplete }
        let pieces = tokens.map { $0! }
        var ids: [ExactText: Int32] = [:]
        for (i, token) in pieces.enumerated() where ids[ExactText(token)] == nil { ids[ExactText(token)] = Int32(i) }

        // Piece types: added tokens are control (special) or user-defined pieces; `<0xXX>` are byte pieces.
        var types = [Int](repeating: PieceType.normal.rawValue, count: count)
        for (i, token) in pieces.enumerated() where DecodeStep.byteValue(token) != nil {
            types[i] = PieceType.byte.rawValue
        }
        let byteCount = Set(pieces.compactMap(DecodeStep.byteValue)).count
        guard byteCount == 256 else { throw refuse("model.byte_fallback with \(byteCount) of the 256 <0xXX> pieces") }
        for token in added {
            types[Int(token.id)] = (token.special ? PieceType.control : PieceType.userDefined).rawValue
        }
        var unknownID: Int32?
        if case .string(let unk)? = model["unk_token"] { unknownID = ids[ExactText(unk)] }

        // Merges, by rank; a repeated pair keeps its last rank, as HF's merge map does.
        var pairs: [UInt64: (rank: Int32, id: Int32)] = [:]
        if case .array(let list)? = model["merges"] {
            for (rank, entry) in list.enumerated() {
                let pair: (String, String)
                switch entry {
                case .string(let text):
                    let parts = text.split(separator: " ", omittingEmptySubsequences: false)
                    guard parts.count == 2 else { throw TokenizerError.badMerge(index: rank, text: text) }
                    pair = (String(parts[0]), String(parts[1]))
                case .array(let items) where items.count == 2:
                    guard case .string(let a) = items[0], case .string(let b) = items[1] else {
                        throw TokenizerError.missingField("model.merges pairs of strings")
                    }
                    pair = (a, b)
                default: throw TokenizerError.missingField("model.merges as \"a b\" strings or [a, b] pairs")
                }
                // HF refuses a merge whose parts or result are not in the vocabulary.
                guard let left = ids[ExactText(pair.0)], let right = ids[ExactText(pair.1)],
                        let merged = ids[ExactText(pair.0 + pair.1)] else {
                    throw TokenizerError.unknownToken(
                        [pair.0, pair.1, pair.0 + pair.1].first { ids[ExactText($0)] == nil } ?? pair.0)
                }
                pairs[UInt64(UInt32(left)) << 32 | UInt64(UInt32(right))] = (Int32(rank), merged)
            }
        }

        var whitespace = normalizer
        whitespace.metaspace = try Self.metaspace(json["pre_tokenizer"] ?? .null, in: "pre_tokenizer", refuse)
        let decoder = try Self.decoder(json["decoder"] ?? .null, refuse)
        let (leading, trailing) = try PostProcessor.framing(json["post_processor"] ?? .null,
                                                            ids: { ids[ExactText($0)] }, refuse)
        func configured(_ key: String) -> Int32? { AddedTokens.configured(config, key).flatMap { ids[ExactText($0)] } }
        self.init(tokens: pieces, types: types, order: .pairRank(pairs), whitespace: whitespace, decoder: decoder,
                  ignoreMerges: model["ignore_merges"] == .bool(true), strips: AddedTokens.strips(added),
                  bosID: leading ?? configured("bos_token"), eosID: trailing ?? configured("eos_token"),
                  unknownID: unknownID, addBOS: leading != nil)
        addEOS = trailing != nil
    }

    /// The normalizer's part of `Whitespace`: null, `Prepend("▁")`, `Replace(" ", "▁")`, or a Sequence of them.
    static func normalizer(_ value: JSONValue, _ refuse: (String, JSONValue?) -> TokenizerError) throws -> Whitespace {
        var rules = Whitespace(prependToEveryRun: false, replaceSpaces: false)
        func add(_ component: JSONValue) throws {
            switch component["type"] {
            case .string("Sequence")?:
                guard case .array(let parts)? = component["normalizers"] else { throw refuse("normalizer", component) }
                for part in parts { try add(part) }
            case .string("Prepend")?:
                guard component["prepend"] == .string("\u{2581}") else {
                    throw refuse("normalizer Prepend other than \"▁\"", component)
                }
                rules.prependToEveryRun = true
            case .string("Replace")?:
                guard component["pattern"] == .object([("String", .string(" "))]),
                        component["content"] == .string("\u{2581}") else {
                    throw refuse("normalizer Replace other than \" \" → \"▁\"", component)
                }
                rules.replaceSpaces = true
            default: throw refuse("normalizer", component)
            }
        }
        if value != .null { try add(value) }
        return rules
    }

    /// A `Metaspace` pre-tokenizer or decoder ("▁"; `prepend_scheme`, or the older `add_prefix_space`;
    /// `split`, true unless it says false), or nil for null.
    static func metaspace(
        _ value: JSONValue, in section: String, _ refuse: (String, JSONValue?) -> TokenizerError
    ) throws -> Metaspace? {
        if value == .null { return nil }
        var component = value
        if value["type"] == .string("Sequence"), case .array(let parts)? = value["pretokenizers"], parts.count == 1 {
            component = parts[0]
        }
        guard component["type"] == .string("Metaspace") else { throw refuse(section, value) }
        guard component["replacement"] == .string("\u{2581}") else {
            throw refuse("\(section) Metaspace replacement other than \"▁\"", component)
        }
        var prepend = Metaspace.Prepend.always
        if let scheme = component["prepend_scheme"] {
            guard case .string(let name) = scheme, let known = Metaspace.Prepend(rawValue: name) else {
                throw refuse("\(section) Metaspace prepend_scheme", scheme)
            }
            prepend = known
        }
        // HF refuses an add_prefix_space that contradicts the scheme.
        if case .bool(let add)? = component["add_prefix_space"], add != (prepend != .never) {
            throw refuse("\(section) Metaspace add_prefix_space \(add) " +
                         "with prepend_scheme \(prepend.rawValue)", component)
        }
        return Metaspace(prepend: prepend, split: component["split"] != .bool(false))
    }

    /// The decoder's steps (nil for none: HF then joins the tokens with spaces).
    static func decoder(_ value: JSONValue, _ refuse: (String, JSONValue?) -> TokenizerError) throws -> [DecodeStep]? {
        if value == .null { return nil }
        var steps: [DecodeStep] = []
        func add(_ component: JSONValue) throws {
            switch component["type"] {
            case .string("Sequence")?:
                guard case .array(let parts)? = component["decoders"] else { throw refuse("decoder", component) }
                for part in parts { try add(part) }
            case .string("Replace")?:
                guard case .object(let pattern)? = component["pattern"], pattern.count == 1, pattern[0].0 == "String",
                      case .string(let text) = pattern[0].1, !text.isEmpty,
                      case .string(let content)? = component["content"] else {
                    throw refuse("decoder Replace other than a literal string", component)
                }
                steps.append(.replace(text, content))
            case .string("ByteFallback")?: steps.append(.byteFallback)
            case .string("Fuse")?: steps.append(.fuse)
            case .string("Strip")?:
                guard case .string(let content)? = component["content"], content.unicodeScalars.count == 1,
                      case .integer(let start)? = component["start"], case .integer(let stop)? = component["stop"],
                      (0...Int64(Int32.max)).contains(start), (0...Int64(Int32.max)).contains(stop) else {
                    throw refuse("decoder Strip", component)
                }
                steps.append(.strip(content.unicodeScalars.first!, start: Int(start), stop: Int(stop)))
            case .string("Metaspace")?:
                guard let metaspace = try metaspace(component, in: "decoder", refuse) else {
                    throw refuse("decoder", component)
                }
                steps.append(.metaspace(metaspace.prepend))
            default: throw refuse("decoder", component)
            }
        }
        try add(value)
        return steps
    }
}

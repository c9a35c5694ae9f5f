import Checkpoints
import Foundation
import JSON

/// A GGUF's vocabulary as Hugging Face files (`tokenizer.json`, `tokenizer_config.json`), so that an
/// export of a GGUF base loads on its own, in Scalpel and in transformers.
///
/// Written: byte-level BPE with GPT-2's pre-tokenizer (`tokenizer.ggml.pre` of `gpt-2`, `gpt2` or
/// `default`; the other pre-tokenizers' regexes come with step 13), and SentencePiece (`llama`) as the
/// BPE model HF's own Llama 2 / Phi-3 files are. For any other vocabulary nil is returned, and the
/// export's users take the model's original tokenizer files.
public enum TokenizerExport {
    public static func huggingFaceFiles(gguf m: GGUFMetadata) throws -> [String: Data]? {
        switch m["tokenizer.ggml.model"]?.string {
        case "gpt2": return try byteLevelFiles(m)
        case "llama": return try sentencePieceFiles(m)
        default: return nil
        }
    }

    static func byteLevelFiles(_ m: GGUFMetadata) throws -> [String: Data]? {
        guard ["gpt-2", "gpt2", "default"].contains(m["tokenizer.ggml.pre"]?.string ?? "default"),
              let tokens = m["tokenizer.ggml.tokens"]?.strings, let merges = m["tokenizer.ggml.merges"]?.strings else {
            return nil
        }
        let types = m["tokenizer.ggml.token_type"]?.array?.compactMap(\.integer) ?? []
        let added: [[String: Any]] = types.enumerated().filter {
            TokenizerLoader.specialTypes.contains($0.element) && $0.offset < tokens.count
        }.map {
            ["id": $0.offset, "content": tokens[$0.offset], "single_word": false, "lstrip": false, "rstrip": false,
             "normalized": false, "special": true]
        }
        let byteLevel: [String: Any] = ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true,
                                        "use_regex": true]
        let json: [String: Any] = [
            "version": "1.0", "truncation": NSNull(), "padding": NSNull(), "added_tokens": added,
            "normalizer": NSNull(), "pre_tokenizer": byteLevel, "post_processor": byteLevel, "decoder": byteLevel,
            "model": ["type": "BPE", "dropout": NSNull(), "unk_token": NSNull(), "continuing_subword_prefix": NSNull(),
                      "end_of_word_suffix": NSNull(), "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                      "vocab": Dictionary(tokens.enumerated().map { ($0.element, $0.offset) },
                                          uniquingKeysWith: { first, _ in first }),
                      "merges": merges] as [String: Any],
        ]
        return ["tokenizer.json": try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys]),
                "tokenizer_config.json": try config(m, tokens: tokens, addBOSDefault: false) { _ in true }]
    }

    /// tokenizer_config.json: the BOS/EOS flags and the special tokens' names, where `nameable` (transformers
    /// makes a named token an added token, matched in text).
    static func config(_ m: GGUFMetadata, tokens: [String], addBOSDefault: Bool,
                       nameable: (Int) -> Bool) throws -> Data {
        var config: [String: Any] = ["tokenizer_class": "PreTrainedTokenizerFast",
                                     "clean_up_tokenization_spaces": false,
                                     "add_bos_token": m["tokenizer.ggml.add_bos_token"]?.bool ?? addBOSDefault,
                                     "add_eos_token": m["tokenizer.ggml.add_eos_token"]?.bool ?? false]
        for (key, field) in [("bos_token", "tokenizer.ggml.bos_token_id"), ("eos_token", "tokenizer.ggml.eos_token_id"),
                             ("unk_token", "tokenizer.ggml.unknown_token_id"),
                             ("pad_token", "tokenizer.ggml.padding_token_id")] {
            if let id = m[field]?.integer, tokens.indices.contains(id), nameable(id) { config[key] = tokens[id] }
        }
        return try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys])
    }

    /// A SentencePiece vocabulary in the older spelling HF's Llama 2, Mistral v0.1 and Phi-3 files use,
    /// the one whose ids are llama.cpp's on every text: normalizer Prepend("▁") (when `add_space_prefix`)
    /// and Replace(" ", "▁"), no pre-tokenizer; BPE with byte fallback; control pieces as special added
    /// tokens and user-defined ones as plain added tokens; BOS/EOS in a TemplateProcessing as the GGUF asks.
    /// (Metaspace "first" would not do: it adds no "▁" to a text that begins with a space, and none after
    /// a special token.)
    ///
    /// HF merges listed pairs by rank where SentencePiece merges any pair whose concatenation is a normal
    /// piece, by that piece's score. So the merges are every split of every normal piece into two pieces
    /// that can be symbols, ordered by the piece's score (highest first), then the longer left part, the
    /// longer right part, the piece's id and the parts' ids. With equal scores SentencePiece takes the
    /// leftmost pair; that order does the same for runs of one character (Llama's "▁▁"…"▁"×16 all score
    /// -1e9), so other ties, like a missing byte piece or a piece holding a character that is not one, make
    /// the vocabulary inexpressible and nil is returned.
    static func sentencePieceFiles(_ m: GGUFMetadata) throws -> [String: Data]? {
        guard let tokens = m["tokenizer.ggml.tokens"]?.strings,
              let scores = m["tokenizer.ggml.scores"]?.array?.compactMap(\.number),
              let types = m["tokenizer.ggml.token_type"]?.array?.compactMap(\.integer),
              scores.count == tokens.count, types.count == tokens.count else { return nil }
        typealias PieceType = SentencePieceTokenizer.PieceType
        var ids: [ExactText: Int] = [:]
        for (i, token) in tokens.enumerated() {
            guard ids[ExactText(token)] == nil else { return nil }     // a JSON vocab has one id per piece
            ids[ExactText(token)] = i
        }
        let bytePieces = tokens.indices.filter { types[$0] == PieceType.byte.rawValue }
        guard Set(bytePieces.compactMap { SentencePieceTokenizer.DecodeStep.byteValue(tokens[$0]) }).count == 256 else {
            return nil
        }
        let normal = tokens.indices.filter { types[$0] == PieceType.normal.rawValue }
        guard !normal.contains(where: { scores[$0].isNaN }) else { return nil }
        var isNormal = [Bool](repeating: false, count: tokens.count)
        for i in normal { isNormal[i] = true }

        // Ties only among runs of one character.
        var scoreCount: [Double: Int] = [:]
        for i in normal where tokens[i].unicodeScalars.count > 1 { scoreCount[scores[i], default: 0] += 1 }
        for i in normal where tokens[i].unicodeScalars.count > 1 && scoreCount[scores[i]]! > 1 {
            guard Set(tokens[i].unicodeScalars).count == 1 else { return nil }
        }

        // Every split into two symbols: a single character (which must be a piece) or a normal piece.
        var merges: [(left: String, right: String, piece: Int, leftID: Int, rightID: Int)] = []
        for i in normal {
            let scalars = Array(tokens[i].unicodeScalars)
            guard scalars.count > 1 else { continue }
            for scalar in scalars where ids[ExactText(String(scalar))] == nil { return nil }
            for k in 1..<scalars.count {
                var left = String.UnicodeScalarView(), right = String.UnicodeScalarView()
                left.append(contentsOf: scalars[..<k])
                right.append(contentsOf: scalars[k...])
                guard let l = ids[ExactText(String(left))], let r = ids[ExactText(String(right))],
                      k == 1 || isNormal[l], k == scalars.count - 1 || isNormal[r] else { continue }
                merges.append((String(left), String(right), i, l, r))
            }
        }
        merges.sort { a, b in
            let (sa, sb) = (scores[a.piece], scores[b.piece])
            if sa != sb { return sa > sb }
            let (la, lb) = (a.left.unicodeScalars.count, b.left.unicodeScalars.count)
            if la != lb { return la > lb }
            let (ra, rb) = (a.right.unicodeScalars.count, b.right.unicodeScalars.count)
            if ra != rb { return ra > rb }
            return (a.piece, a.leftID, a.rightID) < (b.piece, b.leftID, b.rightID)
        }

        let prefix = m["tokenizer.ggml.add_space_prefix"]?.bool ?? true
        let addBOS = m["tokenizer.ggml.add_bos_token"]?.bool ?? true,
            addEOS = m["tokenizer.ggml.add_eos_token"]?.bool ?? false
        func named(_ field: String) -> Int? {
            guard let id = m[field]?.integer, tokens.indices.contains(id) else { return nil }
            return id
        }
        let unknown = named("tokenizer.ggml.unknown_token_id")
        let added: [JSONValue] = tokens.indices.filter {
            [PieceType.control.rawValue, PieceType.userDefined.rawValue].contains(types[$0])
        }.map { i in
            .object([("id", .integer(Int64(i))), ("content", .string(tokens[i])), ("single_word", .bool(false)),
                     ("lstrip", .bool(false)), ("rstrip", .bool(false)), ("normalized", .bool(false)),
                     ("special", .bool(types[i] == PieceType.control.rawValue))])
        }
        func string(_ pattern: String) -> JSONValue { .object([("String", .string(pattern))]) }
        let replace = JSONValue.object([("type", .string("Replace")), ("pattern", string(" ")),
                                        ("content", .string("\u{2581}"))])
        let prepend = JSONValue.object([("type", .string("Prepend")), ("prepend", .string("\u{2581}"))])
        var decoders: [JSONValue] = [.object([("type", .string("Replace")), ("pattern", string("\u{2581}")),
                                              ("content", .string(" "))]),
                                     .object([("type", .string("ByteFallback"))]), .object([("type", .string("Fuse"))])]
        if prefix {
            decoders.append(.object([("type", .string("Strip")), ("content", .string(" ")), ("start", .integer(1)),
                                     ("stop", .integer(0))]))
        }
        let json = JSONValue.object([
            ("version", .string("1.0")), ("truncation", .null), ("padding", .null), ("added_tokens", .array(added)),
            ("normalizer", .object([("type", .string("Sequence")),
                                    ("normalizers", .array(prefix ? [prepend, replace] : [replace]))])),
            ("pre_tokenizer", .null),
            ("post_processor", template(bos: addBOS ? named("tokenizer.ggml.bos_token_id") : nil,
                                        eos: addEOS ? named("tokenizer.ggml.eos_token_id") : nil, tokens: tokens)),
            ("decoder", .object([("type", .string("Sequence")), ("decoders", .array(decoders))])),
            ("model", .object([
                ("type", .string("BPE")), ("dropout", .null),
                ("unk_token", unknown.map { .string(tokens[$0]) } ?? .null),
                ("continuing_subword_prefix", .null), ("end_of_word_suffix", .null), ("fuse_unk", .bool(true)),
                ("byte_fallback", .bool(true)), ("ignore_merges", .bool(false)),
                ("vocab", .object(tokens.enumerated().map { ($0.element, .integer(Int64($0.offset))) })),
                ("merges", .array(merges.map { .array([.string($0.left), .string($0.right)]) })),
            ])),
        ])
        var text = ""
        render(json, into: &text)
        // Only pieces the GGUF matches in text are named: Llama's <unk> is neither control nor user-defined.
        let matched = [PieceType.control.rawValue, PieceType.userDefined.rawValue]
        let config = try config(m, tokens: tokens, addBOSDefault: true) { matched.contains(types[$0]) }
        return ["tokenizer.json": Data(text.utf8), "tokenizer_config.json": config]
    }

    /// TemplateProcessing with BOS before and EOS after each sequence, where given.
    static func template(bos: Int?, eos: Int?, tokens: [String]) -> JSONValue {
        func special(_ id: Int, _ type: Int64) -> JSONValue {
            .object([("SpecialToken", .object([("id", .string(tokens[id])), ("type_id", .integer(type))]))])
        }
        func sequence(_ name: String, _ type: Int64) -> [JSONValue] {
            [bos.map { special($0, type) },
             .object([("Sequence", .object([("id", .string(name)), ("type_id", .integer(type))]))]),
             eos.map { special($0, type) }].compactMap { $0 }
        }
        var specials: [(String, JSONValue)] = []
        for id in Set([bos, eos].compactMap { $0 }).sorted() {
            let entry: [(String, JSONValue)] = [("id", .string(tokens[id])), ("ids", .array([.integer(Int64(id))])),
                                                ("tokens", .array([.string(tokens[id])]))]
            specials.append((tokens[id], .object(entry)))
        }
        return .object([("type", .string("TemplateProcessing")), ("single", .array(sequence("A", 0))),
                        ("pair", .array(sequence("A", 0) + sequence("B", 1))), ("special_tokens", .object(specials))])
    }

    /// Compact JSON, keys in the given order and strings exactly as they are.
    static func render(_ value: JSONValue, into out: inout String) {
        switch value {
        case .null: out += "null"
        case .bool(let flag): out += flag ? "true" : "false"
        case .integer(let number): out += String(number)
        case .number(let number): out += "\(number)"
        case .string(let text): out += jsonString(text)
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                render(item, into: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (i, (key, item)) in members.enumerated() {
                if i > 0 { out += "," }
                out += jsonString(key) + ":"
                render(item, into: &out)
            }
            out += "}"
        }
    }
}

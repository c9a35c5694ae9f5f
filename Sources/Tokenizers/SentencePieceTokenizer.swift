import Foundation

/// SentencePiece BPE with byte fallback: from GGUF metadata (`tokenizer.ggml.model = llama`: pieces,
/// scores and piece types; Llama 2, Mistral v0.1, Phi-3, Gemma) or from a Hugging Face tokenizer.json that
/// spells the same thing as a BPE model (`SentencePieceTokenizerJSON.swift`).
///
/// encode: control and user-defined pieces are cut out of the raw text as whole strings, longest first →
/// each run of text between them becomes the string(s) to merge (`Whitespace`: " " → "▁", a dummy "▁"
/// in front) → each starts as one symbol per Unicode scalar → repeatedly the best adjacent pair merges
/// (`MergeOrder`; equal ranks: leftmost first) → a symbol that is not a piece becomes its UTF-8 bytes as
/// `<0xXX>` pieces. Whitespace is not a boundary: "▁▁▁" can be one piece. decode runs Hugging Face's
/// decoder steps (`DecodeStep`): "▁" → " ", byte pieces → bytes, the dummy prefix's space stripped.
public final class SentencePieceTokenizer: Tokenizer, @unchecked Sendable {
    /// SentencePiece's piece types, as GGUF's `tokenizer.ggml.token_type` stores them.
    public enum PieceType: Int { case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6 }

    /// Which adjacent pair merges next (the lowest rank; equal ranks, the leftmost).
    enum MergeOrder {
        /// SentencePiece (GGUF): the pair whose concatenation is a normal piece, ranked by that piece's
        /// score (per id: 0 = highest score, equal scores share a rank; -1 = not a normal piece).
        case pieceScore([Int32])
        /// Hugging Face BPE (tokenizer.json): only the listed pairs, ranked by their place in `model.merges`;
        /// (left id, right id) → (rank, merged id).
        case pairRank([UInt64: (rank: Int32, id: Int32)])
    }

    /// How a run of text between special and added tokens becomes the string(s) that are merged:
    /// Hugging Face's normalizer, then its pre-tokenizer.
    public struct Whitespace: Sendable, Equatable {
        /// "▁" before every run, even one that already begins with a space: llama.cpp's dummy prefix (its
        /// SPM tokenizer adds it at the start and after every special token) and HF's normalizer
        /// `Prepend("▁")`, which runs on each section between added tokens (the `legacy` behaviour).
        public var prependToEveryRun: Bool
        /// Every " " becomes "▁" (HF's normalizer `Replace(" ", "▁")`).
        public var replaceSpaces: Bool
        /// HF's `Metaspace` pre-tokenizer, if any.
        public var metaspace: Metaspace?
    }

    /// HF's `Metaspace` pre-tokenizer: " " → "▁", then a "▁" in front of a run that does not already
    /// begin with one, then (with `split`) a new word at every "▁".
    public struct Metaspace: Sendable, Equatable {
        /// `prepend_scheme`: never; "first", only the run that starts the text (not one after a special
        /// token: HF's non-legacy Llama); "always", every run.
        public enum Prepend: String, Sendable { case never, first, always }
        public var prepend: Prepend
        /// Each "▁" starts a word that merges on its own (HF's `MergedWithNext` split).
        public var split: Bool
    }

    /// One step of Hugging Face's decoder chain; each maps the tokens' strings, and the results are joined.
    public enum DecodeStep: Sendable, Equatable {
        /// `Replace`: a literal pattern in each token.
        case replace(String, String)
        /// `ByteFallback`: each run of `<0xXX>` tokens becomes its UTF-8 text, or U+FFFD per byte if invalid.
        case byteFallback
        /// `Fuse`: all tokens joined into one.
        case fuse
        /// `Strip`: up to `start` leading and `stop` trailing `content` scalars cut from each token.
        case strip(Unicode.Scalar, start: Int, stop: Int)
        /// `Metaspace`: "▁" → " " in each token; in the first token it is dropped unless the scheme is never.
        case metaspace(Metaspace.Prepend)
    }

    public let vocabulary: [String]
    /// Piece → id, scalar for scalar (`ExactText`).
    private let ids: [ExactText: Int32]
    private let order: MergeOrder
    /// Byte b's `<0xXX>` piece, or -1.
    private let byteIDs: [Int32]
    private let isByte: [Bool]
    private let splitter: SpecialTokenSplitter
    /// User-defined pieces only, matched even in data.
    private let userSplitter: SpecialTokenSplitter
    public let whitespace: Whitespace
    /// nil: no decoder, the tokens are joined with spaces (HF's rule).
    public let decoder: [DecodeStep]?
    /// A word that is itself a piece is that piece, whatever the merges say (HF's `ignore_merges`).
    public let ignoreMerges: Bool
    public let specialTokenIDs: Set<Int32>
    public let bosID: Int32?
    public let eosID: Int32?
    public let unknownID: Int32?
    public let addBOS: Bool
    /// EOS after the text when the file says `add_eos_token` (or a template ends with it).
    public var addEOS = false
    private let cache = PieceCache()

    static let space: Unicode.Scalar = "\u{2581}"   // ▁

    /// HF's Llama decoder (Replace, ByteFallback, Fuse, Strip), what llama.cpp's detokenizer gives on valid text.
    static func sentencePieceDecoder(stripPrefix: Bool) -> [DecodeStep] {
        [.replace("\u{2581}", " "), .byteFallback, .fuse] + (stripPrefix ? [.strip(" ", start: 1, stop: 0)] : [])
    }

    /// From GGUF metadata. - tokens, scores, types: the pieces by id (types as `PieceType` raw values)
    public convenience init(tokens: [String], scores: [Float], types: [Int], bosID: Int32?, eosID: Int32?,
                            unknownID: Int32?, addBOS: Bool, addSpacePrefix: Bool) throws(TokenizerError) {
        guard scores.count == tokens.count else {
            throw .missingField("tokenizer.ggml.scores (\(scores.count) scores for \(tokens.count) pieces)")
        }
        guard types.count == tokens.count else {
            throw .missingField("tokenizer.ggml.token_type (\(types.count) types for \(tokens.count) pieces)")
        }
        // Dense ranks of the normal pieces' scores, highest first, so that equal scores tie and fall back to position.
        let normal = types.indices.filter { types[$0] == PieceType.normal.rawValue }
        // A NaN score equals nothing, so it could not be ranked (a damaged file may hold one).
        if let bad = normal.first(where: { scores[$0].isNaN }) {
            throw .missingField("tokenizer.ggml.scores (piece \(bad) has no number)")
        }
        let distinct = Array(Set(normal.map { scores[$0] })).sorted(by: >)
        let rankOf = Dictionary(uniqueKeysWithValues: distinct.enumerated().map { ($0.element, Int32($0.offset)) })
        var ranks = [Int32](repeating: -1, count: tokens.count)
        for i in normal { ranks[i] = rankOf[scores[i]]! }
        self.init(tokens: tokens, types: types, order: .pieceScore(ranks),
                  whitespace: Whitespace(prependToEveryRun: addSpacePrefix, replaceSpaces: true),
                  decoder: Self.sentencePieceDecoder(stripPrefix: addSpacePrefix), ignoreMerges: false, strips: [:],
                  bosID: bosID, eosID: eosID, unknownID: unknownID, addBOS: addBOS)
    }

    /// - types: per id, a `PieceType` raw value; control pieces are special, user-defined ones matched everywhere
    /// - strips: the whitespace an added token takes with it (HF's lstrip / rstrip)
    init(tokens: [String], types: [Int], order: MergeOrder, whitespace: Whitespace,
         decoder: [DecodeStep]?, ignoreMerges: Bool,
         strips: [Int32: SpecialTokenSplitter.Strip], bosID: Int32?, eosID: Int32?, unknownID: Int32?, addBOS: Bool) {
        vocabulary = tokens
        var ids: [ExactText: Int32] = [:]
        ids.reserveCapacity(tokens.count)
        for (i, token) in tokens.enumerated() where ids[ExactText(token)] == nil { ids[ExactText(token)] = Int32(i) }
        self.ids = ids
        self.order = order
        var bytes = [Int32](repeating: -1, count: 256), byteFlags = [Bool](repeating: false, count: tokens.count)
        for (i, token) in tokens.enumerated() where types[i] == PieceType.byte.rawValue {
            guard let b = DecodeStep.byteValue(token) else { continue }
            bytes[Int(b)] = Int32(i)
            byteFlags[i] = true
        }
        byteIDs = bytes
        isByte = byteFlags
        let specials = types.indices.filter {
            types[$0] == PieceType.control.rawValue || types[$0] == PieceType.userDefined.rawValue
        }
        specialTokenIDs = Set(specials.filter { types[$0] == PieceType.control.rawValue }.map { Int32($0) })
        splitter = SpecialTokenSplitter(
            Dictionary(specials.map { (tokens[$0], Int32($0)) }, uniquingKeysWith: { a, _ in a }), strips: strips)
        let userDefined = specials.filter { types[$0] == PieceType.userDefined.rawValue }
        userSplitter = SpecialTokenSplitter(
            Dictionary(userDefined.map { (tokens[$0], Int32($0)) }, uniquingKeysWith: { a, _ in a }), strips: strips)
        self.whitespace = whitespace
        self.decoder = decoder
        self.ignoreMerges = ignoreMerges
        self.bosID = bosID
        self.eosID = eosID
        self.unknownID = unknownID
        self.addBOS = addBOS
    }

    public var vocabularySize: Int { vocabulary.count }
    public var leadingBOS: Int32? { addBOS ? bosID : nil }
    public var sentenceStart: Int32? { bosID ?? eosID }
    public var endOfSequence: Int32? { eosID }
    public var addSpacePrefix: Bool { whitespace.prependToEveryRun }
    public func token(_ id: Int32) -> String? { id >= 0 && Int(id) < vocabulary.count ? vocabulary[Int(id)] : nil }
    public func id(of token: String) -> Int32? { ids[ExactText(token)] }

    public func encode(_ parts: [TextPart], addSpecialTokens: Bool) -> [Int32] {
        var out: [Int32] = []
        if addSpecialTokens && addBOS, let bosID { out.append(bosID) }
        // Control and user-defined pieces are matched in the raw text (Gemma's include runs of plain spaces,
        // tabs and newlines); only the text between them is normalised.
        for (index, segment) in SpecialTokenSplitter.segments(parts, parsing: splitter,
                                                              always: userSplitter).enumerated() {
            switch segment {
            case .special(let id): out.append(id)
            case .text(let run):
                for word in words(run, startsText: index == 0) { out.append(contentsOf: encodeWord(word)) }
            }
        }
        if addSpecialTokens && addEOS, let eosID { out.append(eosID) }
        return out
    }

    /// The words one run of text is merged as: the normalizer's prefix and spaces, then Metaspace's.
    func words(_ run: Substring, startsText: Bool) -> [Substring] {
        var text = String.UnicodeScalarView()
        if whitespace.prependToEveryRun { text.append(Self.space) }
        let replace = whitespace.replaceSpaces || whitespace.metaspace != nil
        for scalar in run.unicodeScalars { text.append(replace && scalar == " " ? Self.space : scalar) }
        guard let metaspace = whitespace.metaspace else { return [Substring(String(text))] }
        let prepend = metaspace.prepend == .always || (metaspace.prepend == .first && startsText)
        if prepend && text.first != Self.space { text.insert(Self.space, at: text.startIndex) }
        let string = String(text)
        guard metaspace.split else { return [string[...]] }
        // MergedWithNext: every "▁" begins a word ("a▁▁b" → "a", "▁", "▁b").
        var words: [Substring] = []
        var start = string.unicodeScalars.startIndex
        for i in string.unicodeScalars.indices where string.unicodeScalars[i] == Self.space && i != start {
            words.append(Substring(string.unicodeScalars[start..<i]))
            start = i
        }
        if start < string.unicodeScalars.endIndex { words.append(Substring(string.unicodeScalars[start...])) }
        return words
    }

    /// The ids of one word (cached).
    func encodeWord(_ word: Substring) -> [Int32] {
        cache.ids(word) { word in
            if ignoreMerges, let whole = ids[ExactText(word)] { return [whole] }
            var out: [Int32] = []
            for (symbol, id) in merge(word) {
                if id >= 0, !isByte[Int(id)] { out.append(id); continue }
                for b in symbol.utf8 {
                    if byteIDs[Int(b)] >= 0 {
                        out.append(byteIDs[Int(b)])
                    } else if let unknownID {
                        out.append(unknownID)
                    }
                }
            }
            return out
        }
    }

    /// The rank and merged id of symbols `left` and `right` (ids -1 when not a piece), if they merge.
    @inline(__always) private func candidate(_ left: String, _ leftID: Int32,
                                             _ right: String, _ rightID: Int32) -> (rank: Int32, id: Int32)? {
        switch order {
        case .pieceScore(let ranks):
            guard let id = ids[ExactText(left + right)], ranks[Int(id)] >= 0 else { return nil }
            return (ranks[Int(id)], id)
        case .pairRank(let pairs):
            guard leftID >= 0, rightID >= 0 else { return nil }
            return pairs[UInt64(UInt32(leftID)) << 32 | UInt64(UInt32(rightID))]
        }
    }

    /// Rank-ordered merging over a linked list of symbols with a heap of candidate pairs: the symbols and
    /// their ids (-1: not a piece).
    func merge(_ part: Substring) -> [(String, Int32)] {
        var symbols = part.unicodeScalars.map { String($0) }
        var symbolIDs = symbols.map { ids[ExactText($0)] ?? -1 }
        var lengths = [Int32](repeating: 1, count: symbols.count)
        let n = symbols.count
        if n < 2 { return Array(zip(symbols, symbolIDs)) }
        var previous = Array(-1..<(n - 1)), next = Array(1...n)
        next[n - 1] = -1
        var alive = [Bool](repeating: true, count: n)
        var heap = MergeHeap()
        func pair(_ i: Int, _ j: Int) -> (rank: Int32, id: Int32)? {
            candidate(symbols[i], symbolIDs[i], symbols[j], symbolIDs[j])
        }
        // An entry records both symbols' lengths: a symbol only grows, so a changed length means a stale entry.
        func push(_ i: Int) {
            let j = next[i]
            guard j >= 0, let merge = pair(i, j) else { return }
            heap.push(MergeHeap.Entry(rank: merge.rank, position: Int32(i), left: lengths[i], right: lengths[j]))
        }
        for i in 0..<(n - 1) { push(i) }
        while let entry = heap.pop() {
            let i = Int(entry.position), j = next[i]
            guard alive[i], j >= 0, lengths[i] == entry.left, lengths[j] == entry.right,
                  let merge = pair(i, j), merge.rank == entry.rank else { continue }
            symbols[i] += symbols[j]
            symbolIDs[i] = merge.id
            lengths[i] += lengths[j]
            alive[j] = false
            next[i] = next[j]
            if next[j] >= 0 { previous[next[j]] = i }
            if previous[i] >= 0 { push(previous[i]) }
            push(i)
        }
        var out: [(String, Int32)] = []
        var i = 0
        while i >= 0 { out.append((symbols[i], symbolIDs[i])); i = next[i] }
        return out
    }

    public func decode(_ ids: [Int32], skipSpecialTokens: Bool) -> String {
        var tokens: [String] = []
        for id in ids {
            guard let token = token(id), !(skipSpecialTokens && specialTokenIDs.contains(id)) else { continue }
            tokens.append(token)
        }
        guard let decoder else { return tokens.joined(separator: " ") }
        for step in decoder { tokens = step.apply(tokens) }
        return tokens.joined()
    }
}

extension SentencePieceTokenizer.DecodeStep {
    /// The byte of a `<0xXX>` piece (HF's ByteFallback test: six bytes, `<0x`, two hex digits, `>`).
    static func byteValue(_ token: String) -> UInt8? {
        guard token.utf8.count == 6, token.hasPrefix("<0x"), token.hasSuffix(">") else { return nil }
        return UInt8(token.dropFirst(3).dropLast(), radix: 16)
    }

    /// Every occurrence of `pattern`, scalar for scalar (not up to canonical equivalence), left to right.
    static func replacing(_ pattern: String, with content: String, in token: String) -> String {
        let pattern = Array(pattern.unicodeScalars), scalars = Array(token.unicodeScalars)
        guard !pattern.isEmpty, scalars.count >= pattern.count else { return token }
        var out = String.UnicodeScalarView()
        var i = 0
        while i < scalars.count {
            if i + pattern.count <= scalars.count, scalars[i..<(i + pattern.count)].elementsEqual(pattern) {
                out.append(contentsOf: content.unicodeScalars)
                i += pattern.count
            } else {
                out.append(scalars[i])
                i += 1
            }
        }
        return String(out)
    }

    func apply(_ tokens: [String]) -> [String] {
        switch self {
        case .replace(let pattern, let content):
            return tokens.map { Self.replacing(pattern, with: content, in: $0) }
        case .byteFallback:
            var out: [String] = [], bytes: [UInt8] = []
            func flush() {
                guard !bytes.isEmpty else { return }
                let text = String(decoding: bytes, as: UTF8.self)
                out += Array(text.utf8) == bytes ? [text] : Array(repeating: "\u{FFFD}", count: bytes.count)
                bytes.removeAll()
            }
            for token in tokens {
                if let b = Self.byteValue(token) { bytes.append(b) } else { flush(); out.append(token) }
            }
            flush()
            return out
        case .fuse:
            return [tokens.joined()]
        case .strip(let content, let start, let stop):
            return tokens.map { token in
                let scalars = Array(token.unicodeScalars)
                let head = scalars.prefix(start).prefix { $0 == content }.count
                let tail = scalars.dropFirst(head).reversed().prefix(stop).prefix { $0 == content }.count
                var out = String.UnicodeScalarView()
                out.append(contentsOf: scalars[head..<(scalars.count - tail)])
                return String(out)
            }
        case .metaspace(let prepend):
            return tokens.enumerated().map { i, token in
                var out = String.UnicodeScalarView()
                for scalar in token.unicodeScalars {
                    if scalar != SentencePieceTokenizer.space {
                        out.append(scalar)
                    } else if i > 0 || prepend == .never {
                        out.append(" ")
                    }
                }
                return String(out)
            }
        }
    }
}

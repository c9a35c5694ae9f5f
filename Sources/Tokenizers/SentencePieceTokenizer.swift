import Foundation

/// SentencePiece BPE with byte fallback, as Gemma uses it (GGUF `tokenizer.ggml.model = llama`: pieces,
/// scores and piece types in the metadata).
///
/// encode: control and user-defined pieces are cut out of the raw text as whole strings, longest first →
/// in the text between them every " " becomes "▁" (and "▁" is put in front when the model adds a dummy
/// prefix) → each run starts as one symbol per Unicode scalar →
/// repeatedly the adjacent pair whose concatenation is a normal piece with the highest score is merged
/// (equal scores: leftmost first) → a symbol that is not a piece becomes its UTF-8 bytes as `<0xXX>` pieces.
/// Whitespace is not a boundary: "▁▁▁" can be one piece. decode reverses it: "▁" → " ", byte pieces → bytes.
public final class SentencePieceTokenizer: Tokenizer, @unchecked Sendable {
    /// SentencePiece's piece types, as GGUF's `tokenizer.ggml.token_type` stores them.
    public enum PieceType: Int { case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6 }

    public let vocabulary: [String]
    private let ids: [String: Int32]
    /// Per id: the merge priority of a normal piece (0 = highest score; equal scores share one), else -1.
    private let mergeRank: [Int32]
    /// Byte b's `<0xXX>` piece, or -1.
    private let byteIDs: [Int32]
    private let isByte: [Bool]
    private let splitter: SpecialTokenSplitter
    /// User-defined pieces only, matched even in data.
    private let userSplitter: SpecialTokenSplitter
    public let specialTokenIDs: Set<Int32>
    public let bosID: Int32?
    public let eosID: Int32?
    public let unknownID: Int32?
    public let addBOS: Bool
    /// EOS after the text when the file says `add_eos_token`.
    public var addEOS = false
    public let addSpacePrefix: Bool
    private let cache = PieceCache()

    static let space: Unicode.Scalar = "\u{2581}"   // ▁

    /// - tokens, scores, types: the pieces by id (types as `PieceType` raw values)
    public init(tokens: [String], scores: [Float], types: [Int], bosID: Int32?, eosID: Int32?, unknownID: Int32?,
                addBOS: Bool, addSpacePrefix: Bool) throws(TokenizerError) {
        guard scores.count == tokens.count else { throw .missingField("tokenizer.ggml.scores (\(scores.count) scores for \(tokens.count) pieces)") }
        guard types.count == tokens.count else { throw .missingField("tokenizer.ggml.token_type (\(types.count) types for \(tokens.count) pieces)") }
        vocabulary = tokens
        var ids: [String: Int32] = [:]
        ids.reserveCapacity(tokens.count)
        for (i, token) in tokens.enumerated() where ids[token] == nil { ids[token] = Int32(i) }
        self.ids = ids
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
        mergeRank = ranks
        var bytes = [Int32](repeating: -1, count: 256), byteFlags = [Bool](repeating: false, count: tokens.count)
        for (i, token) in tokens.enumerated() where types[i] == PieceType.byte.rawValue {
            guard token.hasPrefix("<0x"), token.hasSuffix(">"), let b = UInt8(token.dropFirst(3).dropLast(), radix: 16) else { continue }
            bytes[Int(b)] = Int32(i)
            byteFlags[i] = true
        }
        byteIDs = bytes
        isByte = byteFlags
        let specials = types.indices.filter { types[$0] == PieceType.control.rawValue || types[$0] == PieceType.userDefined.rawValue }
        specialTokenIDs = Set(specials.filter { types[$0] == PieceType.control.rawValue }.map { Int32($0) })
        splitter = SpecialTokenSplitter(Dictionary(specials.map { (tokens[$0], Int32($0)) }, uniquingKeysWith: { a, _ in a }))
        userSplitter = SpecialTokenSplitter(Dictionary(specials.filter { types[$0] == PieceType.userDefined.rawValue }.map { (tokens[$0], Int32($0)) },
                                                       uniquingKeysWith: { a, _ in a }))
        self.bosID = bosID
        self.eosID = eosID
        self.unknownID = unknownID
        self.addBOS = addBOS
        self.addSpacePrefix = addSpacePrefix
    }

    public var vocabularySize: Int { vocabulary.count }
    public var leadingBOS: Int32? { addBOS ? bosID : nil }
    public var sentenceStart: Int32? { bosID ?? eosID }
    public var endOfSequence: Int32? { eosID }
    public func token(_ id: Int32) -> String? { id >= 0 && Int(id) < vocabulary.count ? vocabulary[Int(id)] : nil }
    public func id(of token: String) -> Int32? { ids[token] }

    public func encode(_ parts: [TextPart], addSpecialTokens: Bool) -> [Int32] {
        var out: [Int32] = []
        if addSpecialTokens && addBOS, let bosID { out.append(bosID) }
        // Control and user-defined pieces are matched in the raw text (Gemma's include runs of plain spaces,
        // tabs and newlines); only the text between them is normalised.
        for (index, segment) in SpecialTokenSplitter.segments(parts, parsing: splitter, always: userSplitter).enumerated() {
            switch segment {
            case .special(let id): out.append(id)
            case .text(let part):
                var normalized = String.UnicodeScalarView()
                if addSpacePrefix && index == 0 { normalized.append(Self.space) }
                for scalar in part.unicodeScalars { normalized.append(scalar == " " ? Self.space : scalar) }
                out.append(contentsOf: encodeSegment(Substring(String(normalized))))
            }
        }
        if addSpecialTokens && addEOS, let eosID { out.append(eosID) }
        return out
    }

    /// The ids of one run of ordinary text (cached).
    func encodeSegment(_ part: Substring) -> [Int32] {
        cache.ids(part) { part in
            var out: [Int32] = []
            for symbol in merge(part) {
                if let id = ids[symbol], !isByte[Int(id)] { out.append(id); continue }
                for b in symbol.utf8 {
                    if byteIDs[Int(b)] >= 0 { out.append(byteIDs[Int(b)]) } else if let unknownID { out.append(unknownID) }
                }
            }
            return out
        }
    }

    /// Score-ordered merging over a linked list of symbols with a heap of candidate pairs.
    func merge(_ part: Substring) -> [String] {
        var symbols = part.unicodeScalars.map { String($0) }
        var lengths = [Int32](repeating: 1, count: symbols.count)
        let n = symbols.count
        if n < 2 { return symbols }
        var previous = Array(-1..<(n - 1)), next = Array(1...n)
        next[n - 1] = -1
        var alive = [Bool](repeating: true, count: n)
        var heap = MergeHeap()
        func rank(_ i: Int, _ j: Int) -> Int32? {
            guard let id = ids[symbols[i] + symbols[j]], mergeRank[Int(id)] >= 0 else { return nil }
            return mergeRank[Int(id)]
        }
        // An entry records both symbols' lengths: a symbol only grows, so a changed length means a stale entry.
        func candidate(_ i: Int) {
            let j = next[i]
            guard j >= 0, let r = rank(i, j) else { return }
            heap.push(MergeHeap.Entry(rank: r, position: Int32(i), left: lengths[i], right: lengths[j]))
        }
        for i in 0..<(n - 1) { candidate(i) }
        while let entry = heap.pop() {
            let i = Int(entry.position), j = next[i]
            guard alive[i], j >= 0, lengths[i] == entry.left, lengths[j] == entry.right, rank(i, j) == entry.rank else { continue }
            symbols[i] += symbols[j]
            lengths[i] += lengths[j]
            alive[j] = false
            next[i] = next[j]
            if next[j] >= 0 { previous[next[j]] = i }
            if previous[i] >= 0 { candidate(previous[i]) }
            candidate(i)
        }
        var out: [String] = []
        var i = 0
        while i >= 0 { out.append(symbols[i]); i = next[i] }
        return out
    }

    public func decode(_ ids: [Int32], skipSpecialTokens: Bool) -> String {
        var bytes: [UInt8] = []
        for id in ids {
            guard let token = token(id) else { continue }
            if isByte[Int(id)] {
                if let b = UInt8(token.dropFirst(3).dropLast(), radix: 16) { bytes.append(b) }
            } else if specialTokenIDs.contains(id) {
                if !skipSpecialTokens { bytes.append(contentsOf: Array(token.utf8)) }
            } else {
                var text = String.UnicodeScalarView()
                for scalar in token.unicodeScalars { text.append(scalar == Self.space ? " " : scalar) }
                bytes.append(contentsOf: Array(String(text).utf8))
            }
        }
        var text = String(decoding: bytes, as: UTF8.self)
        if addSpacePrefix && text.hasPrefix(" ") { text.removeFirst() }
        return text
    }
}

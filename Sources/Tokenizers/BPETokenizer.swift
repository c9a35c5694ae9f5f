import Foundation
import Checkpoints

/// Byte-level BPE, as GPT-2, SmolLM2 and Llama 3 use it (Hugging Face `tokenizers`' BPE model with the
/// ByteLevel pre-tokenizer and decoder).
///
/// encode: special tokens are split out → the GPT-2 pre-tokenizer cuts the rest into pieces → each
/// piece's UTF-8 bytes are mapped to visible characters (`ByteLevel`) → merges are applied, lowest rank
/// first; among equal ranks (the same pair at several places) the leftmost goes first, as in HF's
/// `Word::merge_all` priority queue. Results are cached per piece.
public final class BPETokenizer: Tokenizer, @unchecked Sendable {
    public let vocabulary: [String]
    private let ids: [String: Int32]
    /// (left id, right id) → (rank, merged id)
    private let merges: [UInt64: (rank: Int32, id: Int32)]
    private let preTokenizer: BPEPreTokenizer
    private let splitter: SpecialTokenSplitter
    /// User-defined tokens only: matched in text even where special tokens are not parsed (llama.cpp's
    /// tokenizer_st_partition skips only control tokens then).
    private let userSplitter: SpecialTokenSplitter
    /// A piece that is itself a token is that token, whatever the merges say (HF's `ignore_merges`, Llama 3).
    public let ignoreMerges: Bool
    /// Text is put in Unicode NFC before pre-tokenizing (tokenizer.json's NFC normalizer, Qwen2's).
    public var normalizesNFC = false
    public let specialTokenIDs: Set<Int32>
    public let bosID: Int32?
    public let eosID: Int32?
    public let addBOS: Bool
    /// EOS after the text when the file says `add_eos_token` (framing is added only with addSpecialTokens).
    public var addEOS = false
    private let cache = PieceCache()

    /// - tokens: the vocabulary, by id
    /// - merges: "left right" strings, highest priority first
    /// - specialTokens: ids of control/user-defined tokens to match as whole strings in text
    public convenience init(tokens: [String], merges mergeList: [String], specialTokens: [Int32], isolateDigits: Bool,
                            bosID: Int32? = nil, eosID: Int32? = nil, addBOS: Bool = false) throws(TokenizerError) {
        try self.init(tokens: tokens, merges: mergeList, specialTokens: specialTokens,
                      preTokenizer: .gpt2(GPT2PreTokenizer(isolateDigits: isolateDigits)),
                      bosID: bosID, eosID: eosID, addBOS: addBOS)
    }

    public init(tokens: [String], merges mergeList: [String], specialTokens: [Int32], userDefined: [Int32] = [],
                preTokenizer: BPEPreTokenizer, ignoreMerges: Bool = false,
                strips: [Int32: SpecialTokenSplitter.Strip] = [:],
                bosID: Int32? = nil, eosID: Int32? = nil, addBOS: Bool = false) throws(TokenizerError) {
        vocabulary = tokens
        var ids: [String: Int32] = [:]
        ids.reserveCapacity(tokens.count)
        for (i, token) in tokens.enumerated() where ids[token] == nil { ids[token] = Int32(i) }
        self.ids = ids
        var merges: [UInt64: (Int32, Int32)] = [:]
        merges.reserveCapacity(mergeList.count)
        for (rank, merge) in mergeList.enumerated() {
            let parts = merge.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2 else { throw .badMerge(index: rank, text: merge) }
            // A merge whose parts or result are not in the vocabulary can never fire; skip it.
            guard let left = ids[String(parts[0])], let right = ids[String(parts[1])],
                    let merged = ids[String(parts[0] + parts[1])] else { continue }
            let key = UInt64(UInt32(left)) << 32 | UInt64(UInt32(right))
            if merges[key] == nil { merges[key] = (Int32(rank), merged) }
        }
        self.merges = merges
        self.preTokenizer = preTokenizer
        self.ignoreMerges = ignoreMerges
        userSplitter = SpecialTokenSplitter(
            Dictionary(userDefined.map { (tokens[Int($0)], $0) }, uniquingKeysWith: { a, _ in a }), strips: strips)
        specialTokenIDs = Set(specialTokens)
        splitter = SpecialTokenSplitter(
            Dictionary(specialTokens.map { (tokens[Int($0)], $0) }, uniquingKeysWith: { a, _ in a }), strips: strips)
        self.bosID = bosID
        self.eosID = eosID
        self.addBOS = addBOS
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
        for segment in SpecialTokenSplitter.segments(parts, parsing: splitter, always: userSplitter) {
            switch segment {
            case .special(let id): out.append(id)
            case .text(let part):
                let text = normalizesNFC ? String(part).precomposedStringWithCanonicalMapping : String(part)
                for piece in preTokenizer.split(text) { out.append(contentsOf: encodePiece(piece)) }
            }
        }
        if addSpecialTokens && addEOS, let eosID { out.append(eosID) }
        return out
    }

    /// The ids of one pre-tokenized piece (cached).
    func encodePiece(_ piece: Substring) -> [Int32] {
        cache.ids(piece) { piece in
            let bytes = Array(piece.utf8)
            if ignoreMerges,
               let whole = ids[String(String.UnicodeScalarView(bytes.map { ByteLevel.byteToScalar[Int($0)] }))] {
                return [whole]
            }
            return mergePiece(bytes)
        }
    }

    /// BPE with a binary heap of candidate merges over a doubly linked list of symbols.
    func mergePiece(_ bytes: [UInt8]) -> [Int32] {
        var symbols = bytes.map { ids[String(ByteLevel.byteToScalar[Int($0)])] ?? -1 }
        let n = symbols.count
        if n < 2 { return symbols }
        var previous = Array(-1..<(n - 1)), next = Array(1...n)
        next[n - 1] = -1
        var alive = [Bool](repeating: true, count: n)
        var heap = MergeHeap()
        func candidate(_ i: Int) {
            let j = next[i]
            guard j >= 0, let merge = merges[key(symbols[i], symbols[j])] else { return }
            heap.push(MergeHeap.Entry(rank: merge.rank, position: Int32(i), left: symbols[i], right: symbols[j]))
        }
        for i in 0..<(n - 1) { candidate(i) }
        while let entry = heap.pop() {
            let i = Int(entry.position)
            let j = next[i]
            // Stale entries: the symbols here changed since the entry was pushed.
            guard alive[i], j >= 0, symbols[i] == entry.left, symbols[j] == entry.right,
                  let merge = merges[key(entry.left, entry.right)], merge.rank == entry.rank else { continue }
            symbols[i] = merge.id
            alive[j] = false
            next[i] = next[j]
            if next[j] >= 0 { previous[next[j]] = i }
            if previous[i] >= 0 { candidate(previous[i]) }
            candidate(i)
        }
        var out: [Int32] = []
        var i = 0
        while i >= 0 { out.append(symbols[i]); i = next[i] }
        return out
    }

    /// The straightforward algorithm, kept as the benchmark baseline and a test oracle: repeatedly scan
    /// every adjacent pair for the lowest rank, merge it, and start over. No cache.
    public func encodeNaively(_ text: String) -> [Int32] {
        var out: [Int32] = []
        for segment in splitter.split(text) {
            switch segment {
            case .special(let id): out.append(id)
            case .text(let part):
                for piece in preTokenizer.split(String(part)) {
                    var symbols = piece.utf8.map { ids[String(ByteLevel.byteToScalar[Int($0)])] ?? -1 }
                    while symbols.count > 1 {
                        var best: (rank: Int32, index: Int, id: Int32)?
                        for i in 0..<(symbols.count - 1) {
                            if let merge = merges[key(symbols[i], symbols[i + 1])], merge.rank < (best?.rank ?? .max) {
                                best = (merge.rank, i, merge.id)
                            }
                        }
                        guard let best else { break }
                        symbols.replaceSubrange(best.index...(best.index + 1), with: [best.id])
                    }
                    out.append(contentsOf: symbols)
                }
            }
        }
        return out
    }

    public func decode(_ ids: [Int32], skipSpecialTokens: Bool) -> String {
        var bytes: [UInt8] = []
        for id in ids {
            guard let token = token(id) else { continue }
            if specialTokenIDs.contains(id) {
                if !skipSpecialTokens { bytes.append(contentsOf: Array(token.utf8)) }
            } else {
                bytes.append(contentsOf: ByteLevel.decode(token))
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    @inline(__always) private func key(_ a: Int32, _ b: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))
    }
}

/// A binary min-heap of merge candidates ordered by (rank, position): lowest rank first, leftmost first.
struct MergeHeap {
    struct Entry { var rank: Int32, position: Int32, left: Int32, right: Int32 }
    private var items: [Entry] = []

    @inline(__always) private func less(_ a: Entry, _ b: Entry) -> Bool {
        a.rank != b.rank ? a.rank < b.rank : a.position < b.position
    }

    mutating func push(_ entry: Entry) {
        items.append(entry)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            if !less(items[child], items[parent]) { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> Entry? {
        guard let first = items.first else { return nil }
        let last = items.removeLast()
        if items.isEmpty { return first }
        items[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < items.count && less(items[left], items[smallest]) { smallest = left }
            if right < items.count && less(items[right], items[smallest]) { smallest = right }
            if smallest == parent { break }
            items.swapAt(parent, smallest)
            parent = smallest
        }
        return first
    }
}

/// Sequences of different lengths, right-padded into one [B, T] batch.
///
/// Row b·T + t of every [N, C] activation is token t of sequence b. Padding positions are masked out of
/// attention as keys; their own outputs are computed but meaningless, and `lastRows` points at each
/// sequence's real last token.
public struct TokenBatch: Sendable, Equatable {
    public let sequences: [[Int32]]
    public let batch: Int          // B
    public let length: Int         // T, the longest sequence (plus any prefix)
    public let prefix: Int         // P virtual tokens before every sequence (soft prompt), 0 if none

    public init(_ sequences: [[Int32]], prefix: Int = 0) {
        precondition(!sequences.isEmpty, "TokenBatch: no sequences")
        self.sequences = sequences
        self.batch = sequences.count
        self.prefix = prefix
        self.length = prefix + (sequences.map(\.count).max() ?? 0)
    }

    public var rows: Int { batch * length }
    public func lengthOf(_ b: Int) -> Int { prefix + sequences[b].count }

    /// Token ids in [B, T] order, padding with `pad`; prefix positions hold `pad` too (they are replaced
    /// by the prefix embeddings).
    public func paddedIDs(pad: Int32) -> [Int32] {
        var ids = [Int32](repeating: pad, count: rows)
        for (b, sequence) in sequences.enumerated() {
            for (t, id) in sequence.enumerated() { ids[b * length + prefix + t] = id }
        }
        return ids
    }

    /// true for real tokens (prefix included), false for padding. [B·T]
    public var keyMask: [Bool] {
        var mask = [Bool](repeating: false, count: rows)
        for b in 0..<batch { for t in 0..<lengthOf(b) { mask[b * length + t] = true } }
        return mask
    }

    /// Position of every row within its sequence. [B·T]
    public var positions: [Int] { (0..<rows).map { $0 % length } }

    /// The flat row of each sequence's last real token.
    public var lastRows: [Int] { (0..<batch).map { $0 * length + lengthOf($0) - 1 } }

    /// The flat rows of each sequence's real tokens (prefix excluded, unless `includePrefix`).
    public func tokenRows(_ b: Int, includePrefix: Bool = false) -> [Int] {
        ((includePrefix ? 0 : prefix)..<lengthOf(b)).map { b * length + $0 }
    }

    /// Whether any sequence is shorter than `length` (then a key mask is needed).
    public var isPadded: Bool { (0..<batch).contains { lengthOf($0) < length } }
}

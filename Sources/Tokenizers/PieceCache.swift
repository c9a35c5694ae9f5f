import Foundation

/// Ids of text pieces already encoded, shared by concurrent encoders. Emptied when it reaches `limit`
/// entries, so a long corpus cannot grow it without bound.
final class PieceCache: @unchecked Sendable {
    private var entries: [Substring: [Int32]] = [:]
    private let lock = NSLock()
    let limit: Int

    init(limit: Int = 100_000) { self.limit = limit }

    /// The cached ids of `piece`, or `encode(piece)`, remembered.
    func ids(_ piece: Substring, _ encode: (Substring) -> [Int32]) -> [Int32] {
        lock.lock()
        let cached = entries[piece]
        lock.unlock()
        if let cached { return cached }
        let result = encode(piece)
        lock.lock()
        if entries.count >= limit { entries.removeAll(keepingCapacity: true) }
        entries[piece] = result
        lock.unlock()
        return result
    }
}

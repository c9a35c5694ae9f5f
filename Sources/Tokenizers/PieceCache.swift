import Foundation

/// Ids of text pieces already encoded, shared by concurrent encoders. Emptied when it reaches `limit`
/// entries, so a long corpus cannot grow it without bound.
final class PieceCache: @unchecked Sendable {
    private var entries: [ExactText: [Int32]] = [:]
    private let lock = NSLock()
    let limit: Int

    init(limit: Int = 100_000) { self.limit = limit }

    /// The cached ids of `piece`, or `encode(piece)`, remembered.
    func ids(_ piece: Substring, _ encode: (Substring) -> [Int32]) -> [Int32] {
        let key = ExactText(piece)
        lock.lock()
        let cached = entries[key]
        lock.unlock()
        if let cached { return cached }
        let result = encode(piece)
        lock.lock()
        if entries.count >= limit { entries.removeAll(keepingCapacity: true) }
        entries[key] = result
        lock.unlock()
        return result
    }
}

/// Text that is equal only to the same Unicode scalars. Swift's `String` equality and hashing follow
/// canonical equivalence ("é" == "e\u{301}", "\u{212B}" == "\u{C5}"), but a tokenizer must not: those are
/// different bytes with different ids, as in llama.cpp and Hugging Face.
struct ExactText: Hashable, Sendable {
    let text: Substring

    init(_ text: Substring) { self.text = text }
    init(_ text: String) { self.text = text[...] }

    static func == (a: ExactText, b: ExactText) -> Bool { a.text.utf8.elementsEqual(b.text.utf8) }

    func hash(into hasher: inout Hasher) {
        var text = text
        text.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}

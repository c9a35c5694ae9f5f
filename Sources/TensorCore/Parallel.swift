import Dispatch
import Foundation

/// Splits 0..<count into one contiguous chunk per core and runs `body` on the chunks concurrently.
/// Small jobs (fewer than `minimumPerChunk` items per chunk) run inline: spawning costs more than it saves.
/// Results must not depend on the split (each index is written by exactly one chunk), so the numbers are
/// the same whatever the core count.
@inline(__always)
public func parallelChunks(_ count: Int, minimumPerChunk: Int = 4096, _ body: (Range<Int>) -> Void) {
    let chunks = min(Parallelism.cores, max(1, count / max(minimumPerChunk, 1)))
    if chunks <= 1 {
        body(0..<count)
        return
    }
    let size = (count + chunks - 1) / chunks
    withoutActuallyEscaping(body) { body in
        let box = UncheckedSendable(body)
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            let start = chunk * size
            let end = min(count, start + size)
            if start < end { box.value(start..<end) }
        }
    }
}

public enum Parallelism {
    /// Cores used by Scalpel's own loops (OpenBLAS has its own pool).
    public static let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)
}

/// Carries a value into `concurrentPerform`, whose chunks write disjoint ranges.
struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

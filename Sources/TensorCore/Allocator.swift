#if canImport(Glibc)
import Glibc
#endif

/// Process-wide memory policy for large tensors.
///
/// A forward pass allocates and frees hundreds of megabytes of activations. glibc serves blocks above its
/// mmap threshold with fresh mappings, which the kernel must fault in and zero page by page on every pass,
/// and returns the top of the heap to the system when it shrinks. Keeping large blocks on the heap and not
/// trimming lets the next pass reuse the same, already mapped memory. Call once at start-up (the `scalpel`
/// executable does); it changes no results, only where memory comes from.
public enum Allocator {
    public static func keepLargeBlocksOnTheHeap() {
        #if os(Linux)
        // <malloc.h> is not in Swift's Glibc module; its parameter numbers are part of glibc's ABI.
        let trimThreshold: Int32 = -1, mmapThreshold: Int32 = -3, mmapMaximum: Int32 = -4
        // glibc caps the mmap threshold at 32 MB, so full-vocabulary logits (100 MB at batch 8 × 64) would
        // still get a fresh mapping per pass, faulted in page by page: about 30 ms of a 0.9 s forward.
        // Allowing no mappings at all keeps them on the heap too.
        _ = glibcMallopt(mmapThreshold, 32 << 20)
        _ = glibcMallopt(trimThreshold, Int32.max)
        _ = glibcMallopt(mmapMaximum, 0)
        #endif
    }
}

#if os(Linux)
@_silgen_name("mallopt")
private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
#endif

extension Tensor {
    /// A tensor whose elements are not initialised, for outputs that a kernel overwrites completely
    /// (an sgemm with beta = 0). Reading it before writing gives unspecified values.
    public init(uninitializedShape shape: [Int]) {
        let count = shape.reduce(1, *)
        self.init(shape: shape, scalars: [Float](unsafeUninitializedCapacity: count) { _, initialized in
            initialized = count
        })
    }
}

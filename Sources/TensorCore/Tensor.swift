/// A dense, row-major Float32 tensor with value semantics (copy-on-write through `[Float]`).
///
/// Shape letters used across Scalpel: B batch, T sequence length, C model width, V vocabulary,
/// L layers, H query heads, G key/value heads, D head width, F FFN width (neurons per layer),
/// N = B·T flattened rows.
public struct Tensor: Equatable, Sendable {
    /// Sizes of each dimension, outermost first.
    public private(set) var shape: [Int]
    /// The elements in row-major (C) order; `scalars.count == shape.product`.
    public var scalars: [Float]

    public init(shape: [Int], scalars: [Float]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor: negative dimension in shape \(shape)")
        precondition(shape.reduce(1, *) == scalars.count,
                     "Tensor: shape \(shape) needs \(shape.reduce(1, *)) elements, got \(scalars.count)")
        self.shape = shape
        self.scalars = scalars
    }

    public init(shape: [Int], repeating value: Float = 0) {
        self.init(shape: shape, scalars: [Float](repeating: value, count: shape.reduce(1, *)))
    }

    /// A tensor of independent N(0, std²) draws from `rng`.
    public init(randomNormal shape: [Int], std: Float = 1, using rng: inout SeededRandom) {
        let count = shape.reduce(1, *)
        self.init(shape: shape, scalars: (0..<count).map { _ in Float(rng.nextGaussian()) * std })
    }

    /// A tensor of independent U[low, high) draws from `rng`.
    public init(randomUniform shape: [Int], in range: ClosedRange<Float> = -1...1, using rng: inout SeededRandom) {
        let count = shape.reduce(1, *)
        let width = range.upperBound - range.lowerBound
        self.init(shape: shape, scalars: (0..<count).map { _ in range.lowerBound + width * rng.nextFloat() })
    }

    public var count: Int { scalars.count }
    public var rank: Int { shape.count }

    /// The same elements under another shape with the same element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, scalars: scalars)
    }

    /// Sets every element to zero, keeping the storage (gradients are zeroed this way between steps).
    public mutating func zero() {
        scalars.withUnsafeMutableBufferPointer { buffer in
            buffer.update(repeating: 0)
        }
    }

    public subscript(flat index: Int) -> Float {
        get { scalars[index] }
        set { scalars[index] = newValue }
    }

    /// Element access by full index, e.g. `t[i, j]` for a matrix.
    public subscript(_ indices: Int...) -> Float {
        get { scalars[offset(of: indices)] }
        set { scalars[offset(of: indices)] = newValue }
    }

    public func offset(of indices: [Int]) -> Int {
        precondition(indices.count == shape.count, "Tensor: index \(indices) does not match shape \(shape)")
        var offset = 0
        for (index, size) in zip(indices, shape) {
            precondition(index >= 0 && index < size, "Tensor: index \(indices) out of range for shape \(shape)")
            offset = offset * size + index
        }
        return offset
    }
}

extension Tensor {
    /// Adds `other` into `self` elementwise (gradients accumulate this way).
    public mutating func add(_ other: Tensor) {
        precondition(shape == other.shape, "Tensor add: shapes \(shape) and \(other.shape) differ")
        scalars.withUnsafeMutableBufferPointer { out in
            other.scalars.withUnsafeBufferPointer { input in
                for i in 0..<out.count { out[i] += input[i] }
            }
        }
    }

    /// Sum of all elements, accumulated in Double.
    public func sum() -> Double { scalars.reduce(0.0) { $0 + Double($1) } }
}

extension Tensor {
    // Pointer access for kernels. Both tolerate empty tensors, whose buffers have no base address.
    /// Read-only pointer access that tolerates empty tensors (a shared zero-length buffer is not nil-safe).
    @inlinable
    public func withPointer<R>(_ body: (UnsafePointer<Float>) throws -> R) rethrows -> R {
        if scalars.isEmpty {
            var dummy: Float = 0
            return try body(&dummy)
        }
        return try scalars.withUnsafeBufferPointer { try body($0.baseAddress!) }
    }

    @inlinable
    public mutating func withMutablePointer<R>(_ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
        if scalars.isEmpty {
            var dummy: Float = 0
            return try body(&dummy)
        }
        return try scalars.withUnsafeMutableBufferPointer { try body($0.baseAddress!) }
    }
}

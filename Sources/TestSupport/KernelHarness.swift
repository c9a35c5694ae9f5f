import TensorCore

/// Runs pointer-level kernels on tensors, for tests: inputs are copied into temporary buffers that stay
/// valid for the whole call, and each output buffer comes back as a tensor of the requested shape.
public func runKernel(
    inputs: [Tensor], outputs outputShapes: [[Int]],
    _ body: (_ inputs: [UnsafePointer<Float>], _ outputs: [UnsafeMutablePointer<Float>]) -> Void
) -> [Tensor] {
    let inputBuffers = inputs.map { tensor -> UnsafeMutablePointer<Float> in
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: max(tensor.count, 1))
        for i in 0..<tensor.count { buffer[i] = tensor.scalars[i] }
        return buffer
    }
    let outputBuffers = outputShapes.map { shape -> UnsafeMutablePointer<Float> in
        let count = max(shape.reduce(1, *), 1)
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: count)
        buffer.initialize(repeating: 0, count: count)
        return buffer
    }
    defer {
        inputBuffers.forEach { $0.deallocate() }
        outputBuffers.forEach { $0.deallocate() }
    }
    body(inputBuffers.map { UnsafePointer($0) }, outputBuffers)
    return zip(outputShapes, outputBuffers).map { shape, buffer in
        Tensor(shape: shape, scalars: Array(UnsafeBufferPointer(start: buffer, count: shape.reduce(1, *))))
    }
}

/// A seeded random tensor for tests.
public func randomTensor(_ shape: [Int], seed: UInt64, std: Float = 1) -> Tensor {
    var rng = SeededRandom(seed: seed)
    return Tensor(randomNormal: shape, std: std, using: &rng)
}

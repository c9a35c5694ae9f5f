import TensorCore

/// a + b, same shapes (residual connections). Gradients pass through unchanged.
public func add(_ a: Variable, _ b: Variable) -> Variable {
    precondition(a.shape == b.shape, "add: shapes \(a.shape) and \(b.shape) differ")
    var sum = Tensor(uninitializedShape: a.shape)
    let count = sum.count
    sum.withMutablePointer { out in
        a.value.withPointer { x in b.value.withPointer { y in
            parallelChunks(count) { range in for i in range { out[i] = x[i] + y[i] } }
        } }
    }
    return Variable(result: sum, parents: [a, b]) { dy in
        for input in [a, b] where input.requiresGrad {
            input.accumulateGradient("add") { d in
                dy.withPointer { g in parallelChunks(count) { range in for i in range { d[i] += g[i] } } }
            }
        }
    }
}

/// a ⊙ b, same shapes.
public func multiply(_ a: Variable, _ b: Variable) -> Variable {
    precondition(a.shape == b.shape, "multiply: shapes \(a.shape) and \(b.shape) differ")
    let product = Tensor(shape: a.shape, scalars: zip(a.value.scalars, b.value.scalars).map { $0 * $1 })
    return Variable(result: product, parents: [a, b]) { dy in
        for (input, other) in [(a, b), (b, a)] where input.requiresGrad {
            input.accumulateGradient("multiply") { d in
                dy.withPointer { g in other.value.withPointer { o in for i in 0..<dy.count { d[i] += g[i] * o[i] } } }
            }
        }
    }
}

/// s · a for a constant s.
public func scale(_ a: Variable, by s: Float) -> Variable {
    Variable(result: Tensor(shape: a.shape, scalars: a.value.scalars.map { $0 * s }), parents: [a]) { dy in
        a.accumulateGradient("scale") { d in dy.withPointer { for i in 0..<dy.count { d[i] += s * $0[i] } } }
    }
}

/// The same elements under another shape.
public func reshape(_ a: Variable, _ shape: [Int]) -> Variable {
    Variable(result: a.value.reshaped(shape), parents: [a]) { dy in
        a.accumulateGradient("reshape") { d in dy.withPointer { for i in 0..<dy.count { d[i] += $0[i] } } }
    }
}

/// Σ a, as a scalar of shape [].
public func sum(_ a: Variable) -> Variable {
    Variable(result: Tensor(shape: [], scalars: [Float(a.value.sum())]), parents: [a]) { dy in
        let g = dy.scalars[0]
        a.accumulateGradient("sum") { d in for i in 0..<a.value.count { d[i] += g } }
    }
}

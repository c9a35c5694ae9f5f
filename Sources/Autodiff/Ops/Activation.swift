import TensorCore

/// A pointwise activation (SiLU, GELU erf, GELU tanh). - x: any shape → same shape
public func activation(_ x: Variable, _ kind: Activation) -> Variable {
    var y = Tensor(shape: x.shape)
    let count = y.count
    y.withMutablePointer { out in
        x.value.withPointer { activationForward(kind, output: out, input: $0, count: count) }
    }
    return Variable(result: y, parents: [x]) { dy in
        x.accumulateGradient("activation") { dx in
            dy.withPointer { d in
                x.value.withPointer { activationBackward(kind, dInput: dx, dOutput: d, input: $0, count: count) }
            }
        }
    }
}

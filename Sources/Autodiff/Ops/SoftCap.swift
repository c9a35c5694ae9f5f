import TensorCore

/// cap · tanh(x / cap). - x: any shape → same shape
public func softCap(_ x: Variable, cap: Float) -> Variable {
    var y = Tensor(shape: x.shape)
    let count = y.count
    y.withMutablePointer { out in
        x.value.withPointer { softCapForward(output: out, input: $0, count: count, cap: cap) }
    }
    return Variable(result: y, parents: [x]) { dy in
        x.accumulateGradient("softCap") { dx in
            dy.withPointer { d in
                x.value.withPointer { softCapBackward(dInput: dx, dOutput: d, input: $0, count: count, cap: cap) }
            }
        }
    }
}

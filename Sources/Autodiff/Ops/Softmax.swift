import TensorCore

/// Softmax over the last dimension. - x: [..., C] → [..., C]
public func softmax(_ x: Variable) -> Variable {
    let c = x.shape.last ?? 1
    let n = x.value.count / max(c, 1)
    var y = Tensor(shape: x.shape)
    y.withMutablePointer { out in x.value.withPointer { softmaxForward(output: out, input: $0, rows: n, columns: c) } }
    return Variable(result: y, parents: [x]) { dy in
        x.accumulateGradient("softmax") { dx in
            dy.withPointer { d in
                y.withPointer { softmaxBackward(dInput: dx, dOutput: d, output: $0, rows: n, columns: c) }
            }
        }
    }
}

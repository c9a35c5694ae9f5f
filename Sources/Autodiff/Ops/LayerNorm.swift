import TensorCore

/// LayerNorm over the last dimension.
/// - x: [..., C]; weight, bias: [C] → [..., C]
public func layerNorm(_ x: Variable, weight: Variable, bias: Variable?, eps: Float) -> Variable {
    let c = weight.shape[0]
    precondition(x.shape.last == c, "layerNorm: input \(x.shape) does not end in \(c)")
    let n = x.value.count / max(c, 1)
    var y = Tensor(shape: x.shape)
    var mean = [Float](repeating: 0, count: n), rstd = mean
    y.withMutablePointer { out in
        x.value.withPointer { input in
            weight.value.withPointer { w in
                if let bias {
                    bias.value.withPointer { b in
                        layerNormForward(output: out, mean: &mean, rstd: &rstd, input: input, weight: w, bias: b,
                                         rows: n, channels: c, eps: eps)
                    }
                } else {
                    layerNormForward(output: out, mean: &mean, rstd: &rstd, input: input, weight: w, bias: nil,
                                     rows: n, channels: c, eps: eps)
                }
            }
        }
    }
    return Variable(result: y, parents: [x, weight] + (bias.map { [$0] } ?? [])) { dy in
        dy.withPointer { dOut in
            x.value.withPointer { input in
                weight.value.withPointer { w in
                    // One kernel call per gradient, so each target's buffer is borrowed alone.
                    if x.requiresGrad {
                        x.accumulateGradient("layerNorm") { dx in
                            layerNormBackward(dInput: dx, dWeight: nil, dBias: nil, dOutput: dOut, input: input,
                                              weight: w, mean: mean, rstd: rstd, rows: n, channels: c)
                        }
                    }
                    if weight.requiresGrad {
                        weight.accumulateGradient("layerNorm") { dw in
                            layerNormBackward(dInput: nil, dWeight: dw, dBias: nil, dOutput: dOut, input: input,
                                              weight: w, mean: mean, rstd: rstd, rows: n, channels: c)
                        }
                    }
                    if let bias, bias.requiresGrad {
                        bias.accumulateGradient("layerNorm") { db in
                            layerNormBackward(dInput: nil, dWeight: nil, dBias: db, dOutput: dOut, input: input,
                                              weight: w, mean: mean, rstd: rstd, rows: n, channels: c)
                        }
                    }
                }
            }
        }
    }
}

import TensorCore

/// RMSNorm over the last dimension; `weightOffset` 1 gives Gemma's (1 + w) scale.
/// - x: [..., C]; weight: [C] → [..., C]
public func rmsNorm(_ x: Variable, weight: Variable, eps: Float, weightOffset: Float = 0) -> Variable {
    let c = weight.shape[0]
    precondition(x.shape.last == c, "rmsNorm: input \(x.shape) does not end in \(c)")
    let n = x.value.count / max(c, 1)
    var y = Tensor(shape: x.shape)
    var rstd = [Float](repeating: 0, count: n)
    y.withMutablePointer { out in
        x.value.withPointer { input in
            weight.value.withPointer { w in
                rmsNormForward(output: out, rstd: &rstd, input: input, weight: w, rows: n, channels: c,
                               eps: eps, weightOffset: weightOffset)
            }
        }
    }
    return Variable(result: y, parents: [x, weight]) { dy in
        dy.withPointer { dOut in
            x.value.withPointer { input in
                weight.value.withPointer { w in
                    if x.requiresGrad {
                        x.accumulateGradient("rmsNorm") { dx in
                            rmsNormBackward(dInput: dx, dWeight: nil, dOutput: dOut, input: input, weight: w,
                                            rstd: rstd, rows: n, channels: c, weightOffset: weightOffset)
                        }
                    }
                    if weight.requiresGrad {
                        weight.accumulateGradient("rmsNorm") { dw in
                            rmsNormBackward(dInput: nil, dWeight: dw, dOutput: dOut, input: input, weight: w,
                                            rstd: rstd, rows: n, channels: c, weightOffset: weightOffset)
                        }
                    }
                }
            }
        }
    }
}

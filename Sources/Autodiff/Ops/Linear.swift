import TensorCore

/// y = x · Wᵀ + b, over the last dimension.
/// - x: [..., I]; weight: [O, I]; bias: [O] → [..., O]
///
/// The only op that accepts masked parameters: a masked weight receives the packed gradient of its
/// selected rows or columns, a masked bias that of its selected entries. An encoded weight (kept in its
/// file's format) multiplies a panel at a time, forward and backward, with the same bits as decoded.
public func linear(_ x: Variable, weight: Variable, bias: Variable? = nil) -> Variable {
    let (o, i) = (weight.shape[0], weight.shape[1])
    precondition(x.shape.last == i, "linear: input \(x.shape) does not end in \(i), the weight's input width")
    if let bias { precondition(bias.shape == [o], "linear: bias \(bias.shape) does not match \(o) outputs") }
    let n = x.value.count / max(i, 1)
    var y = Tensor(uninitializedShape: Array(x.shape.dropLast()) + [o])   // linearForward writes every element
    let decoder = weight.encoded == nil ? nil : weight.panelDecoder
    let blocks = weight.mask?.indices.isEmpty ?? true ? weight.encoded?.blocks : nil   // nothing laid over them
    y.withMutablePointer { out in
        x.value.withPointer { input in
            if let decode = decoder {
                func forward(_ b: UnsafePointer<Float>?) {
                    panelLinearForward(output: out, input: input, weight: .decoded(decode, blocks: blocks), bias: b,
                                       rows: n, inFeatures: i, outFeatures: o)
                }
                if let bias { bias.value.withPointer { forward($0) } } else { forward(nil) }
                return
            }
            weight.value.withPointer { w in
                if let bias {
                    bias.value.withPointer { b in
                        linearForward(output: out, input: input, weight: w, bias: b,
                                      rows: n, inFeatures: i, outFeatures: o)
                    }
                } else {
                    linearForward(output: out, input: input, weight: w, bias: nil,
                                  rows: n, inFeatures: i, outFeatures: o)
                }
            }
        }
    }
    return Variable(result: y, parents: [x, weight] + (bias.map { [$0] } ?? [])) { dy in
        dy.withPointer { dOut in
            x.value.withPointer { input in
                if x.requiresGrad {
                    x.accumulateGradient("linear", allowingOverwrite: { dx, fresh in
                        if let decoder {
                            // The decoder reads the trainable slices as they were in the forward pass.
                            panelLinearInputGradient(dInput: dx, dOutput: dOut, weight: .decoded(decoder),
                                                     rows: n, inFeatures: i, outFeatures: o, overwrite: fresh)
                            return
                        }
                        weight.value.withPointer { w in
                            // A fresh buffer is overwritten (beta = 0) rather than zeroed first.
                            linearInputGradient(dInput: dx, dOutput: dOut, weight: w,
                                                rows: n, inFeatures: i, outFeatures: o, overwrite: fresh)
                        }
                    })
                }
                if weight.requiresGrad {
                    if weight.mask != nil {
                        weight.accumulateMaskedGradient { packed, mask in
                            if mask.axis == .rows {
                                linearWeightGradientRows(dWeightRows: packed, rows: mask.indices, dOutput: dOut,
                                                         input: input, rows: n, inFeatures: i, outFeatures: o)
                            } else {
                                linearWeightGradientColumns(dWeightColumns: packed, columns: mask.indices,
                                                            dOutput: dOut, input: input,
                                                            rows: n, inFeatures: i, outFeatures: o)
                            }
                        }
                    } else {
                        weight.accumulateGradient("linear") { dw in
                            linearWeightGradient(dWeight: dw, dOutput: dOut, input: input,
                                                 rows: n, inFeatures: i, outFeatures: o)
                        }
                    }
                }
            }
            if let bias, bias.requiresGrad {
                if bias.mask != nil {
                    bias.accumulateMaskedGradient { packed, mask in
                        biasGradientEntries(dBiasEntries: packed, entries: mask.indices, dOutput: dOut,
                                            rows: n, outFeatures: o)
                    }
                } else {
                    bias.accumulateGradient("linear") { db in
                        linearBiasGradient(dBias: db, dOutput: dOut, rows: n, outFeatures: o)
                    }
                }
            }
        }
    }
}

import TensorCore

/// Scaled dot-product attention with grouped-query heads and causal, sliding-window and padding masks.
/// - query: [B, T, H, D] (or [B·T, H·D]); key, value: [B, S, G, D] (or [B·S, G·D]); keyMask: [B·S], true for
///   real tokens → [B·T, H·D], ready for the output projection (the memory layout is the same, so no reshape)
public func attention(query: Variable, key: Variable, value: Variable, config: AttentionConfig,
                      keyMask: [Bool]? = nil) -> Variable {
    let a = config
    precondition(query.value.count == a.batch * a.queries * a.heads * a.headDim,
                 "attention: query \(query.shape) does not match \(a)")
    precondition(key.value.count == a.batch * a.keys * a.kvHeads * a.headDim,
                 "attention: key \(key.shape) does not match \(a)")
    precondition(value.value.count == key.value.count, "attention: value \(value.shape) differs from key \(key.shape)")
    if let keyMask {
        precondition(keyMask.count == a.batch * a.keys,
                     "attention: key mask has \(keyMask.count) entries, expected \(a.batch * a.keys)")
    }
    var out = Tensor(uninitializedShape: [a.batch * a.queries, a.heads * a.headDim])   // every element is written
    var probabilities = Tensor(shape: [a.batch, a.heads, a.queries, a.keys])
    out.withMutablePointer { o in
        probabilities.withMutablePointer { p in
            query.value.withPointer { q in
                key.value.withPointer { k in
                    value.value.withPointer { v in
                        attentionForward(output: o, probabilities: p, query: q, key: k, value: v,
                                         keyMask: keyMask, config: a)
                    }
                }
            }
        }
    }
    return Variable(result: out, parents: [query, key, value]) { dy in
        // Each gradient in its own pass, so no two buffers are borrowed mutably at once.
        func pass(_ target: Variable, _ body: (UnsafeMutablePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>,
                                               UnsafePointer<Float>, UnsafePointer<Float>,
                                               UnsafePointer<Float>) -> Void) {
            guard target.requiresGrad else { return }
            target.accumulateGradient("attention") { d in
                dy.withPointer { dOut in probabilities.withPointer { p in query.value.withPointer { q in
                    key.value.withPointer { k in value.value.withPointer { v in body(d, dOut, p, q, k, v) } }
                } } }
            }
        }
        // All three at once when all are wanted: dP and the softmax backward are then computed once, not twice.
        if query.requiresGrad && key.requiresGrad && value.requiresGrad &&
                query !== key && key !== value && query !== value {
            query.accumulateGradient("attention") { dq in
                key.accumulateGradient("attention") { dk in
                    value.accumulateGradient("attention") { dv in
                        dy.withPointer { dOut in probabilities.withPointer { p in query.value.withPointer { q in
                            key.value.withPointer { k in value.value.withPointer { v in
                                attentionBackward(dQuery: dq, dKey: dk, dValue: dv, dOutput: dOut, probabilities: p,
                                                  query: q, key: k, value: v, config: a)
                            } }
                        } } }
                    }
                }
            }
            return
        }
        pass(query) { dq, dOut, p, q, k, v in
            attentionBackward(dQuery: dq, dKey: nil, dValue: nil, dOutput: dOut, probabilities: p, query: q, key: k,
                              value: v, config: a)
        }
        pass(key) { dk, dOut, p, q, k, v in
            attentionBackward(dQuery: nil, dKey: dk, dValue: nil, dOutput: dOut, probabilities: p, query: q, key: k,
                              value: v, config: a)
        }
        pass(value) { dv, dOut, p, q, k, v in
            attentionBackward(dQuery: nil, dKey: nil, dValue: dv, dOutput: dOut, probabilities: p, query: q, key: k,
                              value: v, config: a)
        }
    }
}

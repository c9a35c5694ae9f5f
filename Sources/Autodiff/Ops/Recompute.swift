import TensorCore

/// y = f(x), keeping only x for the backward, which runs f again, now with its tape, and back-propagates
/// through it (gradient checkpointing). A deep model trained this way holds one block's activations at a
/// time instead of every block's, for one more forward of each block. The recomputed forward and its
/// backward are the very operations of the plain path, so the gradients are the same bits.
/// - trainable: the parameters f uses that may need gradients (they receive them from the inner backward)
/// - f must be deterministic and free of side effects: it runs twice.
public func recomputed(_ x: Variable, trainable: [Variable], _ f: @escaping (Variable) -> Variable) -> Variable {
    let trained = trainable.filter(\.requiresGrad)
    guard x.requiresGrad || !trained.isEmpty else { return f(x) }
    // The tape this records is dropped with the result: only the value is kept.
    let value = f(Variable(x.value)).value
    let input = x.value, needsInput = x.requiresGrad
    return Variable(result: value, parents: [x] + trained) { dy in
        let inner = Variable(input, requiresGrad: needsInput)
        f(inner).backward(seed: dy)
        guard needsInput, let g = inner.grad else { return }
        x.accumulateGradient("recomputed", allowingOverwrite: { dx, fresh in
            g.withPointer { src in
                if fresh { dx.update(from: src, count: g.count) } else { for i in 0..<g.count { dx[i] += src[i] } }
            }
        })
    }
}

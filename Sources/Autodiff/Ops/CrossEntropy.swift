import TensorCore

/// Mean cross-entropy over the rows with a target (−1 rows are ignored), as a scalar of shape [].
/// - logits: [N, V]; targets: [N] (indices into `candidates` when given, else vocabulary ids)
/// - candidates: class-token columns to classify over (verbalizers), or nil for the full vocabulary
public func crossEntropy(_ logits: Variable, targets: [Int32], candidates: [Int32]? = nil) -> Variable {
    let v = logits.shape.last!
    let n = logits.value.count / max(v, 1)
    precondition(targets.count == n, "crossEntropy: \(targets.count) targets for \(n) rows")
    var logSumExp = [Float](repeating: 0, count: n)
    let (lossSum, count) = logits.value.withPointer {
        crossEntropyForward(logSumExp: &logSumExp, logits: $0, targets: targets, candidates: candidates, rows: n, vocabulary: v)
    }
    let loss = Tensor(shape: [], scalars: [count == 0 ? 0 : Float(lossSum / Double(count))])
    return Variable(result: loss, parents: [logits]) { dLoss in
        guard count > 0 else { return }
        logits.accumulateGradient("crossEntropy") { dz in
            logits.value.withPointer { z in
                crossEntropyBackward(dLogits: dz, logits: z, logSumExp: logSumExp, targets: targets, candidates: candidates,
                                     rows: n, vocabulary: v, scale: dLoss.scalars[0] / Float(count))
            }
        }
    }
}

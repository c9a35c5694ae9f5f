import Foundation
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
        crossEntropyForward(logSumExp: &logSumExp, logits: $0, targets: targets, candidates: candidates,
                            rows: n, vocabulary: v)
    }
    let loss = Tensor(shape: [], scalars: [count == 0 ? 0 : Float(lossSum / Double(count))])
    return Variable(result: loss, parents: [logits]) { dLoss in
        guard count > 0 else { return }
        logits.accumulateGradient("crossEntropy") { dz in
            logits.value.withPointer { z in
                crossEntropyBackward(dLogits: dz, logits: z, logSumExp: logSumExp,
                                     targets: targets, candidates: candidates,
                                     rows: n, vocabulary: v, scale: dLoss.scalars[0] / Float(count))
            }
        }
    }
}

/// Mean over rows of the cross-entropy against soft targets, −Σ_v p_v log softmax(z)_v: the part of
/// KL(p ‖ softmax(z)) that depends on z, so it is the KL-to-base penalty up to the constant entropy of p.
/// - logits: [N, V]; targets: [N, V] probabilities (each row sums to 1). Scalar out.
/// Backward: (softmax(z) − p) / N.
public func softCrossEntropy(_ logits: Variable, targets: Tensor) -> Variable {
    let v = logits.shape.last!, n = logits.value.count / max(v, 1)
    precondition(targets.count == logits.value.count,
                 "softCrossEntropy: targets \(targets.shape) do not match logits \(logits.shape)")
    var probabilities = [Float](repeating: 0, count: n * v)   // softmax(z), kept for the backward
    var total = 0.0
    logits.value.withPointer { z in targets.withPointer { p in
        for r in 0..<n {
            let row = z + r * v
            var maximum = -Float.infinity
            for j in 0..<v { maximum = max(maximum, row[j]) }
            var sum = 0.0
            for j in 0..<v { sum += exp(Double(row[j] - maximum)) }
            let logSum = Double(maximum) + log(sum)
            for j in 0..<v {
                let logQ = Double(row[j]) - logSum
                probabilities[r * v + j] = Float(exp(logQ))
                total -= Double(p[r * v + j]) * logQ
            }
        }
    } }
    let loss = Tensor(shape: [], scalars: [n == 0 ? 0 : Float(total / Double(n))])
    return Variable(result: loss, parents: [logits]) { dLoss in
        guard n > 0 else { return }
        let scale = dLoss.scalars[0] / Float(n)
        logits.accumulateGradient("softCrossEntropy") { dz in
            targets.withPointer { p in
                for i in 0..<(n * v) { dz[i] += (probabilities[i] - p[i]) * scale }
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

// ----------------------------------------------------------------------------------------------------
// Cross-entropy, averaged over the rows that have a target.
//
//   Over the full vocabulary:    ℓₙ = logsumexp(z[n, :]) − z[n, tₙ]
//   Over a set of class tokens:  ℓₙ = logsumexp(z[n, c₁…c_K]) − z[n, c_{tₙ}]
//                                (verbalizer classification)
//   loss = Σ ℓₙ / (rows with tₙ ≥ 0)
//
// Backward: dz[n, c] += scale · (softmax(z)[n, c] − 1[c = tₙ]) on the candidate columns only,
// with scale = dLoss / count. Rows with tₙ < 0 are ignored in both directions.

/// Returns (Σ ℓₙ, number of counted rows), with logsumexp saved per row for the backward.
/// - logits: [N, V]; targets: [N] indices into `candidates` (or vocabulary ids without them), −1 to ignore
/// - candidates: [K] vocabulary columns, or nil for all V; logSumExp: [N]
public func crossEntropyForward(
    logSumExp: UnsafeMutablePointer<Float>, logits: UnsafePointer<Float>, targets: [Int32], candidates: [Int32]?,
    rows n: Int, vocabulary v: Int
) -> (lossSum: Double, count: Int) {
    var lossSum = 0.0
    var count = 0
    for r in 0..<n {
        let z = logits + r * v
        let k = candidates?.count ?? v
        @inline(__always) func column(_ c: Int) -> Int { candidates.map { Int($0[c]) } ?? c }
        var maximum = -Float.infinity
        for c in 0..<k where z[column(c)] > maximum { maximum = z[column(c)] }
        var sum = 0.0
        for c in 0..<k { sum += Double(expf(z[column(c)] - maximum)) }
        let lse = Double(maximum) + log(sum)
        logSumExp[r] = Float(lse)
        let target = Int(targets[r])
        if target < 0 { continue }
        precondition(target < k, "cross-entropy: target \(target) outside 0..<\(k)")
        lossSum += lse - Double(z[column(target)])
        count += 1
    }
    return (lossSum, count)
}

/// - dLogits, logits: [N, V]; logSumExp: [N] from the forward; scale: dLoss / count
public func crossEntropyBackward(
    dLogits: UnsafeMutablePointer<Float>, logits: UnsafePointer<Float>, logSumExp: UnsafePointer<Float>,
    targets: [Int32], candidates: [Int32]?, rows n: Int, vocabulary v: Int, scale: Float
) {
    for r in 0..<n {
        let target = Int(targets[r])
        if target < 0 { continue }
        let z = logits + r * v, dz = dLogits + r * v
        let k = candidates?.count ?? v
        for c in 0..<k {
            let column = candidates.map { Int($0[c]) } ?? c
            let probability = expf(z[column] - logSumExp[r])
            dz[column] += scale * (probability - (c == target ? 1 : 0))
        }
    }
}

import Foundation
import TensorCore

/// Compares two arrays element by element; on mismatch the message lists the first five differing
/// pairs and the largest difference, as llm.c's check_tensor does.
public func compareClose(_ actual: [Float], _ expected: [Float], absolute: Float, relative: Float = 0) -> String? {
    guard actual.count == expected.count else { return "count \(actual.count) ≠ expected \(expected.count)" }
    var maxDiff: Float = 0
    var bad: [String] = []
    for i in 0..<actual.count {
        let diff = abs(actual[i] - expected[i])
        if !(diff <= absolute + relative * abs(expected[i])) {
            if bad.count < 5 { bad.append("[\(i)] \(actual[i]) vs \(expected[i])") }
        }
        if diff > maxDiff || diff.isNaN { maxDiff = diff }
    }
    return bad.isEmpty ? nil : "maxdiff \(maxDiff); first: " + bad.joined(separator: ", ")
}

/// Relative L2 error ‖a − b‖ / ‖b‖, in Double.
public func relativeL2Error(_ actual: [Float], _ expected: [Float]) -> Double {
    var num = 0.0, den = 0.0
    for (a, b) in zip(actual, expected) {
        num += Double(a - b) * Double(a - b)
        den += Double(b) * Double(b)
    }
    return (num / max(den, .leastNonzeroMagnitude)).squareRoot()
}

/// Mean next-token cross-entropy of a sequence's logits, all in Double:
///   ℓₜ = log Σ_v exp(z[t, v] − max z[t, :]) + max z[t, :] − z[t, ids[t+1]],   loss = Σ ℓₜ / (T − 1).
/// - logits: [T, V] row-major; ids: [T]
///
/// This is the loss a reference's logits define. The golden `p*_loss.f32` values are not quite that: they
/// are PyTorch's float32 cross-entropy, whose log-softmax sums exp(z − max) in one vector of 16 float32
/// lanes, each lane adding V/16 terms in order and rounding away every term below half an ulp of its
/// running sum. On a large vocabulary that leaves out part of the tail, so the stored loss sits below the
/// exact one: by 9.6e-6 relative on Gemma 3's 262,144 entries (prompt 0), by 1.5–4.4e-6 on SmolLM2's 49,152.
public func nextTokenLossInDouble(logits: [Float], ids: [Int32]) -> Double {
    let t = ids.count
    precondition(t > 1 && logits.count % t == 0, "nextTokenLossInDouble: \(logits.count) logits for \(t) tokens")
    let v = logits.count / t
    var total = 0.0
    for r in 0..<(t - 1) {
        let row = logits[(r * v)..<((r + 1) * v)]
        let maximum = Double(row.max()!)
        let sum = row.reduce(0.0) { $0 + exp(Double($1) - maximum) }
        total += maximum + log(sum) - Double(row[row.startIndex + Int(ids[r + 1])])
    }
    return total / Double(t - 1)
}

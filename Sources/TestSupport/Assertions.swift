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

/// Benjamini–Hochberg q-values: the smallest false-discovery rate at which each test would be rejected,
/// q(i) = min over j with p(j) ≥ p(i) of p(j)·m / rank(j), capped at 1. NaN p-values (excluded tests)
/// stay NaN and do not count towards m.
public func benjaminiHochberg(_ pValues: [Double]) -> [Double] {
    let tested = pValues.indices.filter { !pValues[$0].isNaN }
    let m = Double(tested.count)
    let order = tested.sorted { pValues[$0] < pValues[$1] }
    var q = [Double](repeating: .nan, count: pValues.count)
    var running = 1.0
    for (position, index) in order.enumerated().reversed() {
        running = min(running, pValues[index] * m / Double(position + 1))
        q[index] = running
    }
    return q
}

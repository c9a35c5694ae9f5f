import TensorCore

/// A percentile bootstrap interval: `statistic` is evaluated on `resamples` resamples of the n examples
/// (drawn with replacement from the seed), and the 2.5th and 97.5th percentiles of the finite results
/// are returned (nil if fewer than half are finite).
public func bootstrapInterval(examples n: Int, resamples: Int = 1000, seed: UInt64, level: Double = 0.95,
                              _ statistic: ([Int]) -> Double) -> (low: Double, high: Double)? {
    var rng = SeededRandom(seed: seed)
    var values: [Double] = []
    values.reserveCapacity(resamples)
    var sample = [Int](repeating: 0, count: n)
    for _ in 0..<resamples {
        for i in 0..<n { sample[i] = rng.nextInt(below: n) }
        let value = statistic(sample)
        if value.isFinite { values.append(value) }
    }
    guard values.count * 2 >= resamples else { return nil }
    values.sort()
    func percentile(_ q: Double) -> Double {
        let position = q * Double(values.count - 1)
        let lower = Int(position), upper = min(values.count - 1, lower + 1)
        return values[lower] + (values[upper] - values[lower]) * (position - Double(lower))
    }
    let tail = (1 - level) / 2
    return (percentile(tail), percentile(1 - tail))
}

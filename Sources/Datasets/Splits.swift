import TensorCore

/// Train / dev / test indices drawn from a seed: the examples are shuffled with `SeededRandom` and cut at
/// the fractions, so the same seed always gives the same split.
public struct Splits: Sendable, Equatable {
    public let train: [Int], dev: [Int], test: [Int]

    public init(count: Int, train: Double, dev: Double, seed: UInt64) {
        var rng = SeededRandom(seed: seed)
        let order = rng.shuffled(Array(0..<count))
        let trainCount = Int((Double(count) * train).rounded()), devCount = Int((Double(count) * dev).rounded())
        self.train = Array(order[0..<min(trainCount, count)])
        self.dev = Array(order[min(trainCount, count)..<min(trainCount + devCount, count)])
        self.test = Array(order[min(trainCount + devCount, count)...])
    }
}

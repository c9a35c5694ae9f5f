import TensorCore

/// Train / dev / test indices drawn from a seed: the examples are shuffled with `SeededRandom` and cut at
/// the fractions, so the same seed always gives the same split.
public struct Splits: Sendable, Equatable {
    public let train: [Int], dev: [Int], test: [Int]

    /// `train` and `dev` are fractions in [0, 1] (the recipe's bounds check them); anything else is
    /// clamped into that range rather than trapping.
    public init(count: Int, train: Double, dev: Double, seed: UInt64) {
        var rng = SeededRandom(seed: seed)
        let order = rng.shuffled(Array(0..<count))
        func share(_ fraction: Double) -> Int {
            fraction.isNaN ? 0 : Int((Double(count) * min(max(fraction, 0), 1)).rounded())
        }
        let trainCount = share(train), devCount = share(dev)
        self.train = Array(order[0..<min(trainCount, count)])
        self.dev = Array(order[min(trainCount, count)..<min(trainCount + devCount, count)])
        self.test = Array(order[min(trainCount + devCount, count)...])
    }
}

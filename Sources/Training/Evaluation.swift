import Foundation
import TensorCore

/// Per-example outcomes of a classifier on a split.
public struct Evaluation: Sendable, Equatable {
    public var predictions: [Int]
    public var labels: [Int]
    /// Probability of the predicted class (softmax over the class logits).
    public var confidences: [Float]
    /// Cross-entropy of the true class.
    public var losses: [Float]

    public init(predictions: [Int], labels: [Int], confidences: [Float], losses: [Float]) {
        self.predictions = predictions
        self.labels = labels
        self.confidences = confidences
        self.losses = losses
    }

    public var accuracy: Double {
        labels.isEmpty ? 0 : Double(zip(predictions, labels).filter { $0 == $1 }.count) / Double(labels.count)
    }

    public var correct: [Bool] { zip(predictions, labels).map { $0 == $1 } }

    /// Macro-averaged F1 over the classes that occur.
    public func macroF1(classes: Int) -> Double {
        var total = 0.0, counted = 0
        for c in 0..<classes {
            let tp = Double(zip(predictions, labels).filter { $0 == c && $1 == c }.count)
            let fp = Double(zip(predictions, labels).filter { $0 == c && $1 != c }.count)
            let fn = Double(zip(predictions, labels).filter { $0 != c && $1 == c }.count)
            if tp + fp + fn == 0 { continue }
            total += tp == 0 ? 0 : 2 * tp / (2 * tp + fp + fn)
            counted += 1
        }
        return counted == 0 ? 0 : total / Double(counted)
    }
}

/// A 95% confidence interval for the difference of two classifiers' accuracies on the same examples, by a
/// paired bootstrap: examples are resampled with replacement (seeded) and the difference recomputed; the
/// interval is the 2.5th to 97.5th percentile of the differences. Pairing keeps each example's two
/// outcomes together, which is what makes the test valid for the same test set.
public func pairedBootstrapDifference(_ a: [Bool], _ b: [Bool], resamples: Int = 2000,
                                      seed: UInt64 = 7) -> (difference: Double, low: Double, high: Double) {
    // No examples (or unpaired lists) have no interval: NaN, which reports print as "–".
    guard a.count == b.count && !a.isEmpty else { return (.nan, .nan, .nan) }
    let n = a.count
    let diff = { (indices: [Int]) -> Double in
        Double(indices.reduce(0) { $0 + (a[$1] ? 1 : 0) - (b[$1] ? 1 : 0) }) / Double(indices.count)
    }
    var rng = SeededRandom(seed: seed)
    var samples: [Double] = []
    samples.reserveCapacity(resamples)
    for _ in 0..<resamples { samples.append(diff((0..<n).map { _ in rng.nextInt(below: n) })) }
    samples.sort()
    return (diff(Array(0..<n)), samples[Int(0.025 * Double(resamples))],
            samples[min(resamples - 1, Int(0.975 * Double(resamples)))])
}

import Foundation

/// Mutual information between a neuron's activation and a metric, by binning.
///
/// The binning rule:
/// - the activation is cut into B equal-frequency bins by rank, B = min(16, max(2, ⌊n^(1/3)⌋)) for n
///   examples; tied values share a rank and so share a bin;
/// - a metric with at most 16 distinct values (labels, correctness) keeps one bin per value; any other
///   metric is cut into B equal-frequency bins like the activation.
/// The estimate is the plug-in one, in nats, over the joint histogram. Its p-value is the G-test's:
/// 2n·MI follows χ² with (Bx − 1)(By − 1) degrees of freedom under independence.
public enum MutualInformation {
    public static let maximumBins = 16

    public static func binCount(examples n: Int) -> Int { min(maximumBins, max(2, Int(pow(Double(n), 1.0 / 3.0)))) }

    /// Bin index of every value, and the number of bins used.
    public static func equalFrequencyBins(_ values: [Double], bins: Int) -> (bins: [Int], count: Int) {
        let ranks = averageRanks(values)
        let n = Double(values.count)
        return (ranks.map { min(bins - 1, Int((($0 - 1) / n) * Double(bins))) }, bins)
    }

    /// A metric's bins: one per distinct value when there are few, else equal-frequency bins.
    public static func metricBins(_ values: [Double], bins: Int) -> (bins: [Int], count: Int) {
        let distinct = Array(Set(values)).sorted()
        if distinct.count <= maximumBins {
            let index = Dictionary(uniqueKeysWithValues: distinct.enumerated().map { ($1, $0) })
            return (values.map { index[$0]! }, distinct.count)
        }
        return equalFrequencyBins(values, bins: bins)
    }

    /// Plug-in MI (nats) of two binned columns.
    public static func estimate(_ a: [Int], _ aCount: Int, _ b: [Int], _ bCount: Int) -> Double {
        let n = Double(a.count)
        var joint = [Double](repeating: 0, count: aCount * bCount)
        for i in a.indices { joint[a[i] * bCount + b[i]] += 1 }
        var pa = [Double](repeating: 0, count: aCount), pb = [Double](repeating: 0, count: bCount)
        for i in 0..<aCount { for j in 0..<bCount { pa[i] += joint[i * bCount + j]; pb[j] += joint[i * bCount + j] } }
        var mi = 0.0
        for i in 0..<aCount { for j in 0..<bCount where joint[i * bCount + j] > 0 {
            let c = joint[i * bCount + j]
            mi += c / n * log(c * n / (pa[i] * pb[j]))
        } }
        return max(0, mi)
    }

    /// The G-test p-value of an MI estimate from n examples.
    public static func pValue(mi: Double, examples n: Int, binsA: Int, binsB: Int) -> Double {
        let freedom = Double((binsA - 1) * (binsB - 1))
        guard freedom > 0 else { return 1 }
        return chiSquaredSurvival(2 * Double(n) * mi, degreesOfFreedom: freedom)
    }
}

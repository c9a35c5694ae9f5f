import Foundation
import Statistics
import TensorCore

/// The four statistics a neuron can be scored by.
public enum NeuronStatistic: String, Sendable, CaseIterable {
    case pearson, spearman
    case mutualInformation = "mutual_information"
    case predictivity
}

/// Scores one block of neuron columns against one metric, with p-values.
///
/// - Pearson r comes from the exact streaming co-moments; Spearman ρ from the columns' average ranks;
///   MI from equal-frequency bins of the ranks (`MutualInformation`); predictivity from the training
///   mean as threshold and the dev split as judge (`Predictivity`).
/// - p-values: Pearson, Spearman and predictivity by the permutation test (one matrix product per block,
///   the same permutations for every neuron); MI by the G-test.
/// A constant neuron, and a metric that is constant, give NaN scores and p-values.
struct NeuronScorer {
    /// The metric on the training rows, and its permutation matrices.
    struct MetricContext {
        let name: String
        let train: [Double]
        let dev: [Double]
        let binary: Bool
        let pearsonY: [Float]        // [nTrain, 1 + P] standardized metric and permutations
        let spearmanY: [Float]       // the same for its ranks
        let standardizedRanks: [Double]
        let bins: (bins: [Int], count: Int)
        let predictivityY: [Float]?  // [nDev, 1 + P] 0/1 dev labels and permutations, for binary metrics
    }

    let trainTest: PermutationTest
    let devTest: PermutationTest?
    let activationBins: Int

    init(trainRows: Int, devRows: Int, permutations: Int, seeds: (train: UInt64, dev: UInt64)) {
        trainTest = PermutationTest(examples: trainRows, permutations: permutations, seed: seeds.train)
        devTest = devRows > 1 ? PermutationTest(examples: devRows, permutations: permutations, seed: seeds.dev) : nil
        activationBins = MutualInformation.binCount(examples: trainRows)
    }

    /// nil when the metric has a single value on the training rows (nothing to correlate with).
    func context(name: String, train: [Double], dev: [Double]) -> MetricContext? {
        guard let z = standardized(train), let ranks = standardized(averageRanks(train)) else { return nil }
        let binary = Predictivity.isBinary(train) && Predictivity.isBinary(dev)
        return MetricContext(name: name, train: train, dev: dev, binary: binary,
                             pearsonY: trainTest.permutedMatrix(z), spearmanY: trainTest.permutedMatrix(ranks),
                             standardizedRanks: ranks,
                             bins: MutualInformation.metricBins(train, bins: activationBins),
                             predictivityY: binary && devTest != nil ? devTest!.permutedMatrix(dev) : nil)
    }

    /// Per-column work shared by every metric: standardized values and ranks of a training block.
    struct Block {
        let columns: Int
        let constant: [Bool]
        let standardizedValues: [Float]   // [nTrain, c]
        let standardizedRanks: [Float]    // [nTrain, c]
        let ranksDouble: [Double]         // [c, nTrain] (column-major, for ρ and bins)
        let binIndex: [Int]               // [c, nTrain]
        let firing: [Float]               // [nDev, c] 1 where dev activation > training mean
        let firingCount: [Double]         // [c]
    }

    /// - train: [nTrain, c]; dev: [nDev, c]; means, squares: the columns' training co-moments.
    func prepare(train: [Float], dev: [Float], columns c: Int, means: ArraySlice<Double>,
                 squares: ArraySlice<Double>, constant: [Bool]) -> Block {
        let n = trainTest.examples, nDev = dev.count / max(c, 1)
        var values = [Float](repeating: 0, count: n * c), ranks = values
        var ranksDouble = [Double](repeating: 0, count: n * c)
        var bins = [Int](repeating: 0, count: n * c)
        let meanBase = means.startIndex
        let b = activationBins
        values.withUnsafeMutableBufferPointer { v in ranks.withUnsafeMutableBufferPointer { rk in
        ranksDouble.withUnsafeMutableBufferPointer { rd in bins.withUnsafeMutableBufferPointer { bn in
            parallelChunks(c, minimumPerChunk: 16) { range in
                var column = [Double](repeating: 0, count: n)
                for j in range where !constant[j] {
                    let mean = means[meanBase + j], scale = 1 / squares[meanBase + j].squareRoot()
                    for i in 0..<n {
                        column[i] = Double(train[i * c + j])
                        v[i * c + j] = Float((column[i] - mean) * scale)
                    }
                    let r = averageRanks(column)
                    let rankMean = Double(n + 1) / 2
                    var norm = 0.0
                    for i in 0..<n { norm += (r[i] - rankMean) * (r[i] - rankMean) }
                    let inverse = norm > 0 ? 1 / norm.squareRoot() : 0
                    for i in 0..<n {
                        let z = (r[i] - rankMean) * inverse
                        rk[i * c + j] = Float(z)
                        rd[j * n + i] = z
                        bn[j * n + i] = min(b - 1, Int((r[i] - 1) / Double(n) * Double(b)))
                    }
                }
            }
        } } } }
        var firing = [Float](repeating: 0, count: nDev * c), firingCount = [Double](repeating: 0, count: c)
        for i in 0..<nDev { for j in 0..<c where !constant[j] && dev[i * c + j] > Float(means[meanBase + j]) {
            firing[i * c + j] = 1
            firingCount[j] += 1
        } }
        return Block(columns: c, constant: constant, standardizedValues: values, standardizedRanks: ranks,
                     ranksDouble: ranksDouble,
                     binIndex: bins, firing: firing, firingCount: firingCount)
    }

    /// Scores and p-values of every column of the block for one metric. `pearson` is the exact r per column.
    func score(_ block: Block, metric: MetricContext, pearson: [Double],
               statistics: Set<NeuronStatistic>) -> [NeuronStatistic: (score: [Double], p: [Double])] {
        let c = block.columns, n = trainTest.examples
        // Equal statistics of unit-norm columns differ by at most two products' rounding.
        let ties = 2 * trainTest.roundingBound
        var out: [NeuronStatistic: (score: [Double], p: [Double])] = [:]
        let nan = [Double](repeating: .nan, count: c)
        if statistics.contains(.pearson) {
            let s = trainTest.products(block.standardizedValues, columns: c, metric.pearsonY)
            var (_, p) = trainTest.pValues(s, columns: c, tolerance: ties) { _, r in Double(r) }
            for j in 0..<c where block.constant[j] || pearson[j].isNaN { p[j] = .nan }
            out[.pearson] = (pearson, p)
        }
        if statistics.contains(.spearman) {
            let s = trainTest.products(block.standardizedRanks, columns: c, metric.spearmanY)
            var (_, p) = trainTest.pValues(s, columns: c, tolerance: ties) { _, r in Double(r) }
            var rho = nan
            for j in 0..<c where !block.constant[j] {
                var dot = 0.0
                for i in 0..<n { dot += block.ranksDouble[j * n + i] * metric.standardizedRanks[i] }
                rho[j] = max(-1, min(1, dot))
            }
            for j in 0..<c where block.constant[j] { p[j] = .nan }
            out[.spearman] = (rho, p)
        }
        if statistics.contains(.mutualInformation) {
            var mi = nan, p = nan
            mi.withUnsafeMutableBufferPointer { m in p.withUnsafeMutableBufferPointer { pp in
                parallelChunks(c, minimumPerChunk: 64) { range in
                    for j in range where !block.constant[j] {
                        let bins = Array(block.binIndex[(j * n)..<((j + 1) * n)])
                        let count = (bins.max() ?? 0) + 1
                        m[j] = MutualInformation.estimate(bins, count, metric.bins.bins, metric.bins.count)
                        pp[j] = MutualInformation.pValue(mi: m[j], examples: n, binsA: count, binsB: metric.bins.count)
                    }
                }
            } }
            out[.mutualInformation] = (mi, p)
        }
        if statistics.contains(.predictivity), let y = metric.predictivityY, let devTest {
            let nDev = Double(devTest.examples), positives = metric.dev.reduce(0, +)
            let s = devTest.products(block.firing, columns: c, y)
            var (accuracy, p) = devTest.pValues(s, columns: c) { j, product in
                Predictivity.accuracy(product: Double(product), firing: block.firingCount[j],
                                      positives: positives, examples: nDev) - 0.5
            }
            for j in 0..<c {
                if block.constant[j] { accuracy[j] = .nan; p[j] = .nan } else { accuracy[j] = abs(accuracy[j]) }
            }
            out[.predictivity] = (accuracy, p)
        }
        return out
    }
}

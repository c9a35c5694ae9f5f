import CBLAS
import TensorCore

/// Permutation p-values for many columns at once, as one matrix product per block of columns.
///
/// The metric is permuted P times (the same permutations for every column, drawn from the seed), the
/// permuted copies are stacked as the columns of Y [n, 1 + P] (column 0 unpermuted), and a block of
/// activation columns X [n, N] gives every statistic of every permutation in S = Xᵀ·Y [N, 1 + P].
/// p = (1 + #{permutations at least as extreme as the observed}) / (1 + P), so p is never 0.
///
/// Ties: permutations with exactly the observed statistic count as extreme. In Float32 two equal
/// statistics can come out of the product differing in their last bits (Spearman against a tied metric
/// has many equal rank sums, summed in different orders), so a permuted statistic within `tolerance` of
/// the observed one counts. For unit-norm columns (Pearson, Spearman) `roundingBound` is the worst-case
/// error of one product, so two equal statistics differ by at most twice it: counting within that can
/// only raise p, never lower it.
public struct PermutationTest: Sendable {
    public let permutations: Int
    public let examples: Int
    /// [P][n]: permutation k sends example i to order[k][i].
    let orders: [[Int]]

    public init(examples n: Int, permutations: Int, seed: UInt64) {
        self.examples = n
        self.permutations = permutations
        var rng = SeededRandom(seed: seed)
        let identity = Array(0..<n)
        orders = (0..<permutations).map { _ in rng.shuffled(identity) }
    }

    /// Y [n, 1 + P] in row-major Float: the metric and its permutations.
    public func permutedMatrix(_ metric: [Double]) -> [Float] {
        precondition(metric.count == examples,
                     "PermutationTest: \(metric.count) metric values for \(examples) examples")
        let width = permutations + 1
        var y = [Float](repeating: 0, count: examples * width)
        for i in 0..<examples { y[i * width] = Float(metric[i]) }
        for (k, order) in orders.enumerated() {
            for i in 0..<examples { y[i * width + k + 1] = Float(metric[order[i]]) }
        }
        return y
    }

    /// The worst-case error of one entry of S when X's and Y's columns have unit norm: each operand
    /// rounded to Float (2u) and n products summed in any order (γ_n ≈ n·u), u = 2⁻²⁴, times
    /// Σ|x_i y_i| ≤ 1 (Cauchy–Schwarz).
    public var roundingBound: Double { Double(examples + 2) * 0x1p-24 }

    /// S = Xᵀ·Y. - x: [n, N] row-major; - y: `permutedMatrix` output. Returns [N, 1 + P] row-major.
    public func products(_ x: [Float], columns: Int, _ y: [Float]) -> [Float] {
        let width = permutations + 1
        precondition(x.count == examples * columns, "PermutationTest.products: x is not \(examples)×\(columns)")
        var s = [Float](repeating: 0, count: columns * width)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(columns), Int32(width), Int32(examples),
                    1, x, Int32(columns), y, Int32(width), 0, &s, Int32(width))
        return s
    }

    /// For each of N columns, the observed score and its p-value, where `score` maps a product to the
    /// statistic whose magnitude is tested (e.g. r itself, or a predictivity accuracy's distance from ½).
    public func pValues(_ s: [Float], columns: Int, tolerance: Double = 0,
                        score: (Int, Float) -> Double) -> (observed: [Double], p: [Double]) {
        let width = permutations + 1
        var observed = [Double](repeating: 0, count: columns), p = [Double](repeating: 0, count: columns)
        for j in 0..<columns {
            let o = abs(score(j, s[j * width])) - tolerance
            var extreme = 0
            for k in 1..<width where abs(score(j, s[j * width + k])) >= o { extreme += 1 }
            observed[j] = score(j, s[j * width])
            p[j] = Double(1 + extreme) / Double(width)
        }
        return (observed, p)
    }
}

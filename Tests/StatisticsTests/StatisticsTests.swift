import Foundation
import Statistics
import TensorCore
import Testing

/// Random activations [n, N] with a few columns tied to the metric, and metrics [n, M].
private func randomData(rows n: Int, columns: Int, metrics: Int, seed: UInt64) -> (x: [Float], y: [Double]) {
    var rng = SeededRandom(seed: seed)
    var y = (0..<(n * metrics)).map { _ in rng.nextGaussian() }
    for r in 0..<n { y[r * metrics] = y[r * metrics] > 0 ? 1 : 0 }   // metric 0 is a binary label
    var x = [Float](repeating: 0, count: n * columns)
    for r in 0..<n { for j in 0..<columns {
        // Large offsets make a naive one-pass Σx² lose digits; the streaming update must not.
        x[r * columns + j] = Float(1000 + Double(j) + rng.nextGaussian() + (j % 3 == 0 ? y[r * metrics + j % metrics] : 0))
    } }
    return (x, y)
}

private func column(_ x: [Float], _ j: Int, columns: Int) -> [Double] {
    stride(from: j, to: x.count, by: columns).map { Double(x[$0]) }
}

@Suite struct CoMomentsTests {
    @Test func streamingPearsonMatchesTwoPassDouble() {
        let (n, columns, metrics) = (203, 37, 3)
        let (x, y) = randomData(rows: n, columns: columns, metrics: metrics, seed: 1)
        var moments = CoMoments(columns: columns, metrics: metrics)
        var start = 0
        for size in [1, 7, 64, 3, 128] where start < n {   // uneven batches, one of a single row
            let end = min(n, start + size)
            moments.add(x: Array(x[(start * columns)..<(end * columns)]), y: Array(y[(start * metrics)..<(end * metrics)]), rows: end - start)
            start = end
        }
        #expect(moments.count == n)
        for j in 0..<columns {
            let xs = column(x, j, columns: columns)
            let mean = xs.reduce(0, +) / Double(n)
            #expect(abs(moments.meanX[j] - mean) <= 1e-9 * abs(mean))
            let variance = xs.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
            #expect(abs(moments.squaresX[j] - variance) <= 1e-9 * variance)
            for m in 0..<metrics {
                let ys = stride(from: m, to: y.count, by: metrics).map { y[$0] }
                let reference = pearsonTwoPass(xs, ys)
                #expect(abs(moments.pearson(j, m) - reference) <= 1e-9 * max(abs(reference), 1e-3), "column \(j) metric \(m)")
            }
        }
    }

    @Test func mergingShardsEqualsOneRun() {
        let (n, columns, metrics) = (150, 11, 2)
        let (x, y) = randomData(rows: n, columns: columns, metrics: metrics, seed: 2)
        var whole = CoMoments(columns: columns, metrics: metrics)
        whole.add(x: x, y: y, rows: n)
        var merged = CoMoments(columns: columns, metrics: metrics)
        for (a, b) in [(0, 40), (40, 41), (41, 150)] {
            var shard = CoMoments(columns: columns, metrics: metrics)
            shard.add(x: Array(x[(a * columns)..<(b * columns)]), y: Array(y[(a * metrics)..<(b * metrics)]), rows: b - a)
            merged.merge(shard)
        }
        for j in 0..<columns { for m in 0..<metrics {
            #expect(abs(merged.pearson(j, m) - whole.pearson(j, m)) <= 1e-12)
        } }
        for (u, v) in zip(merged.cross, whole.cross) { #expect(abs(u - v) <= 1e-9 * max(1, abs(v))) }
    }

    @Test func perfectLinearRelationIsOne() {
        var moments = CoMoments(columns: 2, metrics: 1)
        let xs: [Float] = [0.5, -3, 2, 7.25, 1]
        // Column 0 is x, column 1 is −x; the metric is 2x + 1.
        moments.add(x: xs.flatMap { [$0, -$0] }, y: xs.map { 2 * Double($0) + 1 }, rows: xs.count)
        #expect(moments.pearson(0, 0) == 1)
        #expect(moments.pearson(1, 0) == -1)
        #expect(pearsonTwoPass(xs.map(Double.init), xs.map { 2 * Double($0) + 1 }) == 1)
    }

    @Test func constantColumnIsExcludedNotScored() {
        var moments = CoMoments(columns: 2, metrics: 1)
        moments.add(x: [4, 1, 4, 2, 4, 3], y: [0, 1, 2], rows: 3)
        #expect(moments.isConstant(0))
        #expect(moments.pearson(0, 0).isNaN)
        #expect(!moments.isConstant(1))
        #expect(moments.pearson(1, 0) == 1)
    }
}

@Suite struct RankAndInformationTests {
    @Test func averageRanksShareTies() {
        #expect(averageRanks([3.0, 1, 3, 2, 3]) == [4, 1, 4, 2, 4])
        #expect(spearman([1, 2, 3, 4], [10, 20, 30, 1000]) == 1)
        // A monotone but nonlinear relation: ρ is 1, r is not.
        let x = (1...20).map(Double.init), y = x.map { exp($0 / 3) }
        #expect(abs(spearman(x, y) - 1) < 1e-12)
        #expect(pearsonTwoPass(x, y) < 0.95)
    }

    @Test func mutualInformationOfIndependentAndDeterminedColumns() {
        var rng = SeededRandom(seed: 5)
        let n = 4000
        let label = (0..<n).map { _ in Double(rng.nextInt(below: 2)) }
        let noise = (0..<n).map { _ in rng.nextGaussian() }
        let bins = MutualInformation.binCount(examples: n)
        #expect(bins == 15)
        let (xb, xc) = MutualInformation.equalFrequencyBins(noise, bins: bins)
        let (yb, yc) = MutualInformation.metricBins(label, bins: bins)
        #expect(yc == 2)
        let independent = MutualInformation.estimate(xb, xc, yb, yc)
        #expect(independent < 0.01)
        #expect(MutualInformation.pValue(mi: independent, examples: n, binsA: xc, binsB: yc) > 0.001)
        // The activation is the label plus small noise: MI approaches H(label) = ln 2.
        let tied = zip(label, noise).map { $0 * 10 + $1 * 0.1 }
        let (tb, tc) = MutualInformation.equalFrequencyBins(tied, bins: bins)
        let dependent = MutualInformation.estimate(tb, tc, yb, yc)
        // At most one of the 15 equal-frequency bins mixes the two labels, so at most 1/15 of ln 2 is lost.
        #expect(dependent > log(2) * (1 - 1.0 / 15) - 1e-9 && dependent <= log(2) + 1e-12)
        #expect(MutualInformation.pValue(mi: dependent, examples: n, binsA: tc, binsB: yc) < 1e-100)
    }

    @Test func chiSquaredSurvivalMatchesKnownQuantiles() {
        // Standard table values: P(χ²₁ ≥ 3.841) = 0.05, P(χ²₁₀ ≥ 18.307) = 0.05, P(χ²₂ ≥ x) = e^(−x/2).
        #expect(abs(chiSquaredSurvival(3.841459, degreesOfFreedom: 1) - 0.05) < 1e-6)
        #expect(abs(chiSquaredSurvival(18.307038, degreesOfFreedom: 10) - 0.05) < 1e-6)
        #expect(abs(chiSquaredSurvival(0.7, degreesOfFreedom: 2) - exp(-0.35)) < 1e-12)
        #expect(abs(chiSquaredSurvival(40, degreesOfFreedom: 2) - exp(-20)) < 1e-20)
    }
}

@Suite struct SignificanceTests {
    @Test func permutationPValuesOfAnIndependentMetricAreUniform() {
        let (n, columns) = (120, 400)
        var rng = SeededRandom(seed: 11)
        let metric = (0..<n).map { _ in rng.nextGaussian() }
        var x = [Float](repeating: 0, count: n * columns)
        for j in 0..<columns {
            let raw = (0..<n).map { _ in rng.nextGaussian() }
            let z = standardized(raw)!
            for r in 0..<n { x[r * columns + j] = Float(z[r]) }
        }
        let test = PermutationTest(examples: n, permutations: 1000, seed: 3)
        let s = test.products(x, columns: columns, test.permutedMatrix(standardized(metric)!))
        let (observed, p) = test.pValues(s, columns: columns) { _, r in Double(r) }
        // The observed statistic is Pearson r: the product of standardized columns.
        for j in 0..<5 {
            let reference = pearsonTwoPass(stride(from: j, to: x.count, by: columns).map { Double(x[$0]) }, metric)
            #expect(abs(observed[j] - reference) < 1e-5)
        }
        #expect(p.allSatisfy { $0 > 0 && $0 <= 1 })
        // Discrete p-values on a 1/1001 grid: jitter within a grid cell before the continuous KS test.
        var jitter = SeededRandom(seed: 4)
        let continuous = p.map { $0 - jitter.nextDouble() / 1001 }
        let (d, ksP) = kolmogorovSmirnovUniform(continuous)
        #expect(ksP > 0.01, "KS D = \(d), p = \(ksP)")
    }

    @Test func permutationPValueOfAStrongColumnIsTheMinimum() {
        let n = 60
        let metric = (0..<n).map { Double($0 % 2) }
        let z = standardized(metric.map { $0 + 0.01 * Double($0 == 0 ? 1 : 0) })!
        let test = PermutationTest(examples: n, permutations: 1000, seed: 1)
        let s = test.products(z.map(Float.init), columns: 1, test.permutedMatrix(standardized(metric)!))
        let (observed, p) = test.pValues(s, columns: 1) { _, r in Double(r) }
        #expect(observed[0] > 0.99)
        #expect(p[0] == 1.0 / 1001)
    }

    @Test func kolmogorovSmirnovRejectsNonUniform() {
        let skewed = (0..<500).map { pow(Double($0) / 500, 3) }
        #expect(kolmogorovSmirnovUniform(skewed).pValue < 1e-6)
        let even = (0..<500).map { (Double($0) + 0.5) / 500 }
        #expect(kolmogorovSmirnovUniform(even).pValue > 0.99)
    }

    @Test func benjaminiHochbergByHand() {
        // m = 5 (the NaN is excluded). Sorted p: 0.01, 0.02, 0.03, 0.04, 0.5 → p·m/rank = 0.05, 0.05, 0.05, 0.05, 0.5.
        let q = benjaminiHochberg([0.03, .nan, 0.5, 0.01, 0.04, 0.02])
        #expect(q[1].isNaN)
        for (i, expected) in [(0, 0.05), (2, 0.5), (3, 0.05), (4, 0.05), (5, 0.05)] { #expect(abs(q[i] - expected) < 1e-12) }
        // Monotone: a smaller p never gets a larger q.
        let q2 = benjaminiHochberg([0.001, 0.04, 0.045])
        #expect(abs(q2[0] - 0.003) < 1e-12 && abs(q2[1] - 0.045) < 1e-12 && abs(q2[2] - 0.045) < 1e-12)
    }

    @Test func bootstrapIntervalCoversTheMeanAndIsSeeded() {
        var rng = SeededRandom(seed: 8)
        let values = (0..<400).map { _ in 2 + rng.nextGaussian() }
        let mean: ([Int]) -> Double = { sample in sample.reduce(0) { $0 + values[$1] } / Double(sample.count) }
        let a = bootstrapInterval(examples: values.count, seed: 1, mean)!
        let b = bootstrapInterval(examples: values.count, seed: 1, mean)!
        #expect(a == b)
        #expect(a.low < 2 && 2 < a.high)
        // The standard error is 1/√400 = 0.05: a 95% interval is about ±0.1 wide.
        #expect(abs((a.high - a.low) - 0.196) < 0.04)
    }
}

@Suite struct PredictivityTests {
    @Test func handMadeCase() {
        // Training activations 1, 2, 3, 6: threshold 3. Dev: activations and labels below.
        let threshold = [1.0, 2, 3, 6].reduce(0, +) / 4
        let dev: [Double] = [5, 0, 4, 3, 2.5, 7]
        let labels: [Double] = [1, 0, 0, 1, 0, 1]
        // > 3: T F T F F T; agrees with the label at 0, 1, 4, 5 → 4/6.
        #expect(Predictivity.accuracy(activations: dev, labels: labels, threshold: threshold) == 4.0 / 6)
        #expect(abs(Predictivity.score(activations: dev, labels: labels, threshold: threshold) - (4.0 / 6 - 0.5)) < 1e-15)
        // A neuron that fires for label 0 is as predictive.
        #expect(abs(Predictivity.score(activations: dev, labels: labels, threshold: threshold) -
                    Predictivity.score(activations: dev, labels: labels.map { 1 - $0 }, threshold: threshold)) < 1e-15)
        // The product form used by the permutation test agrees.
        let firing = dev.map { $0 > threshold ? 1.0 : 0 }
        let product = zip(firing, labels).reduce(0) { $0 + $1.0 * $1.1 }
        #expect(Predictivity.accuracy(product: product, firing: firing.reduce(0, +), positives: labels.reduce(0, +), examples: 6) == 4.0 / 6)
    }
}

@Suite struct SelectionTests {
    private func scored(_ values: [(Int, Int, Double, Double)]) -> [ScoredNeuron] {
        values.map { ScoredNeuron(layer: $0.0, neuron: $0.1, position: 0, score: $0.2, pValue: $0.3, qValue: $0.3) }
    }

    @Test func rulesSelectWhatTheySay() {
        let all = scored([(0, 0, 0.9, 0.001), (0, 1, -0.95, 0.001), (0, 2, 0.1, 0.5), (1, 0, 0.3, 0.02), (1, 1, .nan, .nan), (1, 2, 0.2, 0.2)])
        #expect(SelectionRule.topK(2).select(all).map(\.key.description) == ["L0.1", "L0.0"])
        #expect(SelectionRule.perLayerFraction(0.34).select(all).map(\.key.description) == ["L0.1", "L1.0"])
        #expect(SelectionRule.qBelow(0.05).select(all).map(\.key.description) == ["L0.1", "L0.0", "L1.0"])
        #expect(SelectionRule.topK(100).select(all).count == 5)   // the NaN neuron is never selected
    }

    @Test func overlapIsJaccard() {
        let a = scored([(0, 0, 1, 0), (0, 1, 1, 0), (2, 5, 1, 0)]), b = scored([(0, 1, 1, 0), (2, 5, 1, 0), (3, 3, 1, 0)])
        let (jaccard, shared) = selectionOverlap(a, b)
        #expect(jaccard == 0.5)
        #expect(shared.map(\.description) == ["L0.1", "L2.5"])
    }
}

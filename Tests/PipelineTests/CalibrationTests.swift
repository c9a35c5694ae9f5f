import ActivationStores
import Checkpoints
import Foundation
import HDF5Kit
import Models
import Pipeline
import Recipes
import TensorCore
import Testing
import TestSupport

/// The rank stage's statistics calibrated against a second, textbook implementation: plain loops in Double,
/// written here without Scalpel's Statistics module, recompute a small run's Pearson and Spearman scores, its
/// permutation p-values and its Benjamini–Hochberg q-values from the activation store, and the archive must
/// agree with them.
///
/// What the archive claims (RankArchive, NeuronScorer, PermutationTest, MultipleTesting), and so what is
/// recomputed here:
/// - scores and p-values use the training rows only (split 0);
/// - Spearman's ρ is Pearson's r of average ranks (ties share the mean of the ranks they span);
/// - p = (1 + #{permutations whose |statistic| ≥ the observed |statistic|}) / (1 + P): two-sided, never 0,
///   ties counted as "at least as extreme";
/// - q-values: Benjamini–Hochberg over one metric and one statistic, the family being every neuron at every
///   position (positions × layers × neurons), the excluded (NaN) tests not counted in m;
/// - a neuron constant on the training rows is excluded: NaN score, p and q.
@Suite struct CalibrationTests {
    /// Permutations of the archive's p-values, and of this file's own Monte-Carlo p-values.
    static let permutations = 50_000
    static let ownPermutations = 50_000
    /// Monte-Carlo checks allow 5 standard errors: with about 700 p-values checked, a correct implementation
    /// fails one with probability below 1e-3 (normal tails), while a one-sided or mis-centred p is off by far more.
    static let sigmas = 5.0

    // MARK: - The textbook implementation (plain loops in Double)

    /// Twice each value's average rank, 1 + 2·#{smaller} + #{equal}: an exact integer, with ties sharing the
    /// mean of the ranks they span (quadratic, by definition rather than by sorting).
    static func doubledAverageRanks(_ x: [Double]) -> [Double] {
        var out = [Double](repeating: 0, count: x.count)
        for i in x.indices {
            var less = 0, equal = 0
            for j in x.indices {
                if x[j] < x[i] { less += 1 } else if x[j] == x[i] { equal += 1 }
            }
            out[i] = Double(1 + 2 * less + equal)
        }
        return out
    }

    /// Pearson's r by the two-pass formula; NaN when either column is constant.
    static func pearson(_ x: [Double], _ y: [Double]) -> Double {
        let n = Double(x.count)
        var mx = 0.0, my = 0.0
        for i in x.indices { mx += x[i]; my += y[i] }
        mx /= n; my /= n
        var sxy = 0.0, sxx = 0.0, syy = 0.0
        for i in x.indices {
            let dx = x[i] - mx, dy = y[i] - my
            sxy += dx * dy; sxx += dx * dx; syy += dy * dy
        }
        if sxx == 0 || syy == 0 { return .nan }
        return sxy / (sxx * syy).squareRoot()
    }

    /// Spearman's ρ: Pearson's r of the average ranks (doubling them changes nothing).
    static func spearman(_ x: [Double], _ y: [Double]) -> Double {
        pearson(doubledAverageRanks(x), doubledAverageRanks(y))
    }

    /// Benjamini–Hochberg: with the m non-NaN p-values sorted, p(1) ≤ … ≤ p(m),
    /// q(i) = min(1, min over j ≥ i of p(j)·m / j). NaN stays NaN.
    static func benjaminiHochberg(_ p: [Double]) -> [Double] {
        var tested: [Int] = []
        for i in p.indices where !p[i].isNaN { tested.append(i) }
        tested.sort { p[$0] < p[$1] }
        let m = tested.count
        var q = [Double](repeating: .nan, count: p.count)
        var running = Double.infinity
        var i = m - 1
        while i >= 0 {
            running = min(running, p[tested[i]] * Double(m) / Double(i + 1))
            q[tested[i]] = min(1, running)
            i -= 1
        }
        return q
    }

    /// The exact permutation distribution of Spearman's ρ against a two-valued metric. ρ is then a fixed
    /// multiple of S − k(n + 1), S the sum of the doubled ranks of the k rows holding the larger value, and
    /// the permutations of the metric make every k-subset of rows equally likely: `ways[s]` counts the
    /// k-subsets whose doubled ranks sum to s, over all C(n, k) of them.
    static func twoGroupSums(doubledRanks a: [Int], k: Int) -> [Double] {
        let total = a.reduce(0, +), width = total + 1
        var ways = [Double](repeating: 0, count: (k + 1) * width)   // ways[j][s]: j-subsets with sum s
        ways[0] = 1
        for v in a {
            var j = k
            while j >= 1 {
                var s = total
                while s >= v {
                    ways[j * width + s] += ways[(j - 1) * width + s - v]
                    s -= 1
                }
                j -= 1
            }
        }
        return Array(ways[(k * width)...])
    }

    /// The exact two-sided p: the share of k-subsets at least as far from the centre k(n + 1) as the observed
    /// sum (ties included), and the share strictly farther.
    static func exactTwoGroupP(ways: [Double], observed: Int, centre: Int) -> (atLeast: Double, beyond: Double) {
        let distance = abs(observed - centre)
        var all = 0.0, atLeast = 0.0, beyond = 0.0
        for s in ways.indices {
            all += ways[s]
            if abs(s - centre) >= distance { atLeast += ways[s] }
            if abs(s - centre) > distance { beyond += ways[s] }
        }
        return (atLeast / all, beyond / all)
    }

    /// SplitMix64 (Steele, Lea & Flood 2014), for this file's own permutations.
    struct SplitMix64 {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        /// Fisher–Yates (the modulo bias is below 1e-17 for n < 100).
        mutating func shuffle(_ a: inout [Int]) {
            var i = a.count - 1
            while i > 0 {
                a.swapAt(i, Int(next() % UInt64(i + 1)))
                i -= 1
            }
        }
    }

    // MARK: - The run

    @Test func rankStatisticsMatchATextbookImplementation() throws {
        let started = Date()
        let directory = try Fixtures.scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = TinyModels.llamaConfig(vocabulary: 260)
        var tensors = TinyModels.llamaTensors(config)
        // Neuron 3 of layer 0 is silenced (gate and up rows zero): constant at every position, so excluded.
        for role in [TensorRole.ffnGate, .ffnUp] {
            let name = DecoderModel.name(role, layer: 0)
            var w = tensors[name]!
            for c in 0..<config.hiddenSize { w.scalars[3 * config.hiddenSize + c] = 0 }
            tensors[name] = w
        }
        try TinyModels.writeLlamaGGUF(directory.appendingPathComponent("tiny.gguf"), tensors: tensors, config: config)
        // level: five values, heavily tied (tests the average ranks); score: all distinct.
        var rows = "text,label,level,score\n"
        for i in 0..<90 {
            rows += (i % 2 == 0 ? "good film \(i)" : "bad film \(i)") + ",\(i % 2 == 0 ? "pos" : "neg")" +
                ",\((i * 7) % 5),\(Double((i * 37) % 97) / 4)\n"
        }
        try rows.write(to: directory.appendingPathComponent("data.csv"), atomically: true, encoding: .utf8)
        let recipe = try Recipe(text: """
            name: calibration
            model: \(directory.appendingPathComponent("tiny.gguf").path)
            seed: 11
            output: \(directory.appendingPathComponent("run").path)
            stages: [collect, rank]
            data: {loader: csv, path: \(directory.appendingPathComponent("data.csv").path), text: text, label: label, split: {train: 0.6, dev: 0.3, test: 0.1}}
            task: {template: "{text} =", verbalizers: ["a", "b"]}
            collect: {positions: [last, mean], metrics: [label, confidence, "column:level", "column:score"], batch_size: 8}
            rank: {statistics: [pearson, spearman], statistic: pearson, permutations: \(Self.permutations), top_k: 5, bootstrap: 0}
            """, file: "calibration.yaml")
        let experiment = try Experiment(recipe: recipe, file: "calibration.yaml", root: directory)
        let folder = try RunFolder(experiment.runFolder)
        let collected = try CollectStage(experiment: experiment, folder: folder).run(quiet: true)
        let ranked = try RankStage(experiment: experiment, folder: folder).run(quiet: true)
        let stageSeconds = Date().timeIntervalSince(started)

        // The raw material: the stored Float32 activations and the metric values, training rows only.
        let store = try ActivationStoreReader(url: URL(fileURLWithPath: collected.store))
        let header = store.header
        let metricNames = header.metrics, M = metricNames.count
        let positions = header.positions.count, C = header.columns
        var train: [Int] = []
        for row in 0..<store.rows where store.splits[row] == 0 { train.append(row) }
        let n = train.count
        #expect(n == 54 && positions == 2 && C == 48 && M == 4)
        // x[p][j]: column j at position p over the training rows, in Double.
        var x = [[[Double]]](repeating: [], count: positions)
        for p in 0..<positions {
            let all = try store.block(position: p, rows: 0..<store.rows, columns: 0..<C)
            x[p] = (0..<C).map { j in train.map { Double(all[$0 * C + j]) } }
        }
        let y = (0..<M).map { m in train.map { store.metricValues[$0 * M + m] } }
        var constant = [[Bool]](repeating: [], count: positions)
        for p in 0..<positions {
            constant[p] = x[p].map { column in column.allSatisfy { $0 == column[0] } }
        }

        let archive = try EvidenceArchive.open(URL(fileURLWithPath: ranked.archive))
        let rank = try archive.root.group("rank")
        #expect(try rank.attribute("permutations") == .int(Int64(Self.permutations)))
        #expect(try rank.attribute("train_rows") == .int(Int64(n)))
        typealias Table = (score: [Double], p: [Double], q: [Double])
        func table(_ m: Int, _ statistic: String) throws -> Table {
            let g = try rank.group("metrics").group(RankStage.groupName(metricNames[m])).group(statistic)
            let s = try g.read("score", as: Double.self), p = try g.read("p_value", as: Double.self)
            let q = try g.read("q_value", as: Double.self)
            #expect(s.shape == [positions, C] && p.shape == s.shape && q.shape == s.shape)
            return (s.values, p.values, q.values)
        }
        let tables = try (0..<M).map { m in try ["pearson", "spearman"].map { try table(m, $0) } }

        // 1. Exclusion: exactly the neurons constant on the training rows are NaN, in every table.
        let constantCounts = constant.map { $0.filter { $0 }.count }
        #expect(constant[0][3] && constant[1][3], "the silenced neuron is not constant")
        #expect(try rank.read("constant_neurons", as: Int64.self).values == constantCounts.map(Int64.init))
        var exclusionMismatches = 0
        for m in 0..<M { for t in tables[m] { for p in 0..<positions { for j in 0..<C {
            let at = p * C + j
            for v in [t.score[at], t.p[at], t.q[at]] where v.isNaN != constant[p][j] { exclusionMismatches += 1 }
        } } } }
        #expect(exclusionMismatches == 0)

        // 2. Scores. Both sides start from the same stored Float32 values, converted exactly to Double, so
        // Float32 rounding is common to both; what differs is only the Double arithmetic (the archive's r
        // comes from co-moments merged batch by batch, this from two passes): errors of order n·ε ≈ 1e-14.
        // 1e-9 absolute leaves room for conditioning, and is far below any difference of definition (other
        // rows, other tie handling: 1e-3 or more, see the checks that the test can fail below).
        var largestScoreError = [0.0, 0.0], scoreMismatches = 0
        for m in 0..<M { for p in 0..<positions { for j in 0..<C where !constant[p][j] {
            let mine = [Self.pearson(x[p][j], y[m]), Self.spearman(x[p][j], y[m])]
            for s in 0..<2 {
                let error = abs(tables[m][s].score[p * C + j] - mine[s])
                largestScoreError[s] = max(largestScoreError[s], error.isNaN ? .infinity : error)
                if !(error <= 1e-9) { scoreMismatches += 1 }
            }
        } } }
        #expect(scoreMismatches == 0, "largest |Δr| \(largestScoreError[0]), |Δρ| \(largestScoreError[1])")

        // 3. p-values lie on the archive's grid (1 + count) / (1 + P), count in 0…P.
        var offGrid = 0
        for m in 0..<M { for t in tables[m] { for v in t.p where !v.isNaN {
            let count = v * Double(Self.permutations + 1) - 1
            if !(abs(count - count.rounded()) < 1e-6 && count.rounded() >= 0 && count <= Double(Self.permutations) + 1e-6) {
                offGrid += 1
            }
        } } }
        #expect(offGrid == 0)

        // 4. p-values against the textbook's. The archive's p is a Monte-Carlo estimate: its count is
        // Binomial(P, p) for the exact two-sided p, so E[p_archive] = (1 + P·p) / (1 + P).
        //   - Spearman against a two-valued metric: p is computed exactly here (all C(n, k) subsets), with
        //     tied permutations (|ρ| equal to the observed, common here: ρ moves in steps of one rank) counted
        //     (p_atLeast) and not counted (p_beyond). The archive must lie within 5·√(p(1 − p)/P) + 2/P of
        //     [E(p_beyond), E(p_atLeast)] (two-sided, whatever happens to ties), and, as documented, of
        //     E(p_atLeast) itself (every tie counted).
        //   - Otherwise p is this file's own Monte-Carlo estimate (its own RNG, Q permutations, plain dot
        //     products in Double; Spearman's statistic in exact integers of doubled ranks, so ties compare
        //     exactly), and the two independent estimates differ by at most 5·√(p(1 − p)(1/P + 1/Q)) + 2/P + 2/Q.
        // Each group's mean standardized difference is also checked: it has standard deviation at most 1
        // whatever the correlation between neurons (they share permutations), so |mean z| ≤ 4.
        let P = Double(Self.permutations), Q = Double(Self.ownPermutations)
        let binary = y.map { Set($0).count == 2 }
        // Standardized metric (Pearson) and centred doubled ranks (Spearman), per metric.
        func centredScaled(_ v: [Double]) -> [Double] {
            var mean = 0.0
            for e in v { mean += e }
            mean /= Double(v.count)
            var norm = 0.0
            for e in v { norm += (e - mean) * (e - mean) }
            return v.map { ($0 - mean) / norm.squareRoot() }
        }
        let zy = y.map(centredScaled)
        let by = y.map { Self.doubledAverageRanks($0).map { $0 - Double(n + 1) } }
        // Per position and column: the standardized values and the centred doubled ranks, flattened [C·n].
        var zx = [[Double]](repeating: [Double](repeating: 0, count: C * n), count: positions), ax = zx
        for p in 0..<positions { for j in 0..<C where !constant[p][j] {
            let z = centredScaled(x[p][j]), a = Self.doubledAverageRanks(x[p][j])
            for i in 0..<n { zx[p][j * n + i] = z[i]; ax[p][j * n + i] = a[i] - Double(n + 1) }
        } }
        func dot(_ u: [Double], _ base: Int, _ v: [Double]) -> Double {
            var s = 0.0
            for i in 0..<n { s += u[base + i] * v[i] }
            return s
        }
        // The observed statistics, computed the way the permuted ones are.
        var observed = [[[Double]]](repeating: [[Double]](repeating: [Double](repeating: 0, count: positions * C),
                                                        count: 2), count: M)
        for m in 0..<M { for p in 0..<positions { for j in 0..<C where !constant[p][j] {
            observed[m][0][p * C + j] = abs(dot(zx[p], j * n, zy[m]))
            observed[m][1][p * C + j] = abs(dot(ax[p], j * n, by[m]))
        } } }
        var counts = [[[Int]]](repeating: [[Int]](repeating: [Int](repeating: 0, count: positions * C), count: 2),
                               count: M)
        var rng = SplitMix64(state: 0xC0FF_EE00_5EED_0001)
        var order = Array(0..<n)
        var permuted = [Double](repeating: 0, count: n)
        for _ in 0..<Self.ownPermutations {
            rng.shuffle(&order)
            for m in 0..<M {
                for s in 0..<2 where !(s == 1 && binary[m]) {
                    let source = s == 0 ? zy[m] : by[m]
                    for i in 0..<n { permuted[i] = source[order[i]] }
                    for p in 0..<positions {
                        let columns = s == 0 ? zx[p] : ax[p]
                        for j in 0..<C where !constant[p][j] {
                            // Pearson: r ties are measure-zero for continuous activations; Spearman: exact integers.
                            if abs(dot(columns, j * n, permuted)) >= observed[m][s][p * C + j] {
                                counts[m][s][p * C + j] += 1
                            }
                        }
                    }
                }
            }
        }
        func expectation(_ p: Double) -> Double { (1 + P * p) / (1 + P) }
        var exactCache: [[Int]: [Double]] = [:]
        var pMismatches: [String] = [], tieMismatches: [String] = [], checked = 0
        var oneSidedCaught = 0, oneSidedChecked = 0
        var tieMass = 0.0, tiesCounted = 0.0   // Σ P·(p_atLeast − p_beyond); Σ (archive count − P·p_beyond)
        for m in 0..<M { for s in 0..<2 {
            let name = "\(metricNames[m]) \(s == 0 ? "pearson" : "spearman")"
            var zs: [Double] = []
            for p in 0..<positions { for j in 0..<C where !constant[p][j] {
                let at = p * C + j
                let archived = tables[m][s].p[at], archivedCount = archived * (P + 1) - 1
                let place = "\(name) position \(p) column \(j)"
                checked += 1
                if s == 1 && binary[m] {
                    let a = (0..<n).map { Int(ax[p][j * n + $0]) + n + 1 }
                    let upperValue = y[m].max()!
                    var observedSum = 0, k = 0
                    for i in 0..<n where y[m][i] == upperValue { observedSum += a[i]; k += 1 }
                    // The distribution depends on the multiset of ranks only (1…n without ties): cache it by that.
                    let key = a.sorted() + [k]
                    let ways = exactCache[key] ?? Self.twoGroupSums(doubledRanks: a, k: k)
                    exactCache[key] = ways
                    let exact = Self.exactTwoGroupP(ways: ways, observed: observedSum, centre: k * (n + 1))
                    let sd = (exact.atLeast * (1 - exact.atLeast) / P).squareRoot()
                    let tolerance = Self.sigmas * sd + 2 / P
                    // Two-sided, on the archive's grid: between the p that counts no tied permutation and the
                    // p that counts them all.
                    let low = expectation(exact.beyond) - tolerance, high = expectation(exact.atLeast) + tolerance
                    if !(archived >= low && archived <= high) {
                        pMismatches.append("\(place): archive \(archived), exact \(exact.beyond)…\(exact.atLeast) ± \(tolerance)")
                    }
                    // The documented rule: every tied permutation counts as at least as extreme.
                    if !(abs(archived - expectation(exact.atLeast)) <= tolerance) {
                        tieMismatches.append("\(place): archive \(archived) (\(Int(archivedCount.rounded())) of " +
                                             "\(Self.permutations)), exact \(exact.atLeast) ± \(tolerance) with ties " +
                                             "counted, \(exact.beyond) without")
                    }
                    if sd > 0 { zs.append((archived - expectation(exact.atLeast)) / sd) }
                    tieMass += P * (exact.atLeast - exact.beyond)
                    tiesCounted += archivedCount - P * exact.beyond
                    // A one-sided p (about half the two-sided one) would be caught at this neuron.
                    oneSidedChecked += 1
                    if expectation(exact.atLeast / 2) < low { oneSidedCaught += 1 }
                } else {
                    let reference = Double(counts[m][s][at]) / Q
                    let pooled = (archivedCount / P + reference) / 2
                    let sd = (pooled * (1 - pooled) * (1 / P + 1 / Q)).squareRoot()
                    let tolerance = Self.sigmas * sd + 2 / P + 2 / Q
                    if !(abs(archived - expectation(reference)) <= tolerance) {
                        pMismatches.append("\(place): archive \(archived), textbook \(reference) ± \(tolerance)")
                    }
                    if sd > 0 { zs.append((archived - expectation(reference)) / sd) }
                }
            } }
            let meanZ = zs.reduce(0, +) / Double(max(1, zs.count))
            print("calibration: \(name): \(zs.count) p-values, mean z \(String(format: "%.3f", meanZ)), " +
                  "max |z| \(String(format: "%.2f", zs.map(abs).max() ?? 0))")
            #expect(abs(meanZ) <= 4, "\(name): mean standardized difference \(meanZ)")
        } }
        #expect(checked > 600)
        #expect(pMismatches.isEmpty, "\(pMismatches.count) of \(checked) p-values: \(pMismatches.prefix(5))")
        print("calibration: Spearman against label: the archive counted \(String(format: "%.3f", tiesCounted / tieMass)) " +
              "of the \(String(format: "%.0f", tieMass)) tied permutations expected")
        #expect(tieMismatches.isEmpty, """
            Spearman against a two-valued metric: \(tieMismatches.count) p-values count too few permutations whose \
            |ρ| equals the observed (the archive counted \(tiesCounted / tieMass) of the \(tieMass) expected; \
            the documented rule counts them all): \(tieMismatches.prefix(5))
            """)

        // 5. q-values: textbook BH on the archive's own p-values, one family per metric and statistic.
        var qMismatches = 0, familyMatters = false
        for m in 0..<M { for s in 0..<2 {
            let t = tables[m][s]
            let q = Self.benjaminiHochberg(t.p)
            for i in q.indices where !(q[i].isNaN && t.q[i].isNaN) && !(abs(q[i] - t.q[i]) <= 1e-12) { qMismatches += 1 }
            // The same correction per position (a wrong family) would be told apart on this run.
            for p in 0..<positions {
                let perPosition = Self.benjaminiHochberg(Array(t.p[(p * C)..<((p + 1) * C)]))
                for j in 0..<C where abs(perPosition[j] - t.q[p * C + j]) > 1e-6 { familyMatters = true }
            }
        } }
        #expect(qMismatches == 0)

        // The checks can fail: the wrong tie handling, the wrong family and a one-sided p are all told apart.
        let levelIndex = metricNames.firstIndex(of: "column:level")!
        // Ordinal ranks (ties broken by row order) instead of average ranks, for the tied metric.
        let level = y[levelIndex]
        var ordinal = [Double](repeating: 0, count: n)
        for i in 0..<n { for r in 0..<n where level[r] < level[i] || (level[r] == level[i] && r < i) { ordinal[i] += 1 } }
        var ordinalDiffers = false
        for p in 0..<positions { for j in 0..<C where !constant[p][j] {
            let wrong = Self.pearson(Self.doubledAverageRanks(x[p][j]), ordinal)
            if abs(wrong - tables[levelIndex][1].score[p * C + j]) > 1e-3 { ordinalDiffers = true }
        } }
        #expect(ordinalDiffers && familyMatters)
        #expect(oneSidedCaught > 0, "a one-sided p would be caught at \(oneSidedCaught) of \(oneSidedChecked) neurons")
        print("calibration: collect and rank \(String(format: "%.1f", stageSeconds)) s, all " +
              "\(String(format: "%.1f", Date().timeIntervalSince(started))) s; largest |Δr| \(largestScoreError[0]), " +
              "|Δρ| \(largestScoreError[1]); constant neurons \(constantCounts); one-sided p caught at " +
              "\(oneSidedCaught) of \(oneSidedChecked)")
    }
}

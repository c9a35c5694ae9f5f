import Foundation
import Statistics
import TensorCore
import Testing

@Suite struct RandomSetComparisonTests {
    /// Quantiles of Student's t from tables, and the cases with closed forms.
    @Test func studentTMatchesKnownQuantiles() {
        // t(0.975, ν) and t(0.995, ν): two-sided p 0.05 and 0.01.
        for (t, nu, p) in [(2.093024, 19.0, 0.05), (2.860935, 19.0, 0.01), (1.984467, 98.0, 0.05),
                           (2.626931, 98.0, 0.01), (12.706205, 1.0, 0.05), (4.302653, 2.0, 0.05)] {
            #expect(abs(studentTTwoSided(t, degreesOfFreedom: nu) - p) < 2e-6, "t = \(t), ν = \(nu)")
            #expect(abs(studentTTwoSided(-t, degreesOfFreedom: nu) - p) < 2e-6)
        }
        // ν = 1 is Cauchy: P(|T| ≥ t) = 1 − 2 atan(t) / π.
        for t in [0.1, 1.0, 3.0, 50.0] {
            #expect(abs(studentTTwoSided(t, degreesOfFreedom: 1) - (1 - 2 * atan(t) / .pi)) < 1e-12)
        }
        // ν = 2: P(|T| ≥ t) = 1 − t / √(2 + t²).
        for t in [0.5, 2.0, 10.0] {
            #expect(abs(studentTTwoSided(t, degreesOfFreedom: 2) - (1 - t / (2 + t * t).squareRoot())) < 1e-12)
        }
        // Large ν: the normal's 1.959964 → 0.05.
        #expect(abs(studentTTwoSided(1.959964, degreesOfFreedom: 1e7) - 0.05) < 1e-5)
        #expect(studentTTwoSided(0, degreesOfFreedom: 5) == 1)
        #expect(studentTTwoSided(.infinity, degreesOfFreedom: 5) == 0)
        #expect(studentTTwoSided(.nan, degreesOfFreedom: 5).isNaN)
    }

    @Test func incompleteBetaClosedForms() {
        for x in [0.01, 0.3, 0.5, 0.77, 0.999] {
            #expect(abs(regularizedIncompleteBeta(x, a: 1, b: 1) - x) < 1e-13)
            #expect(abs(regularizedIncompleteBeta(x, a: 3, b: 1) - pow(x, 3)) < 1e-13)
            #expect(abs(regularizedIncompleteBeta(x, a: 1, b: 4) - (1 - pow(1 - x, 4))) < 1e-13)
            // Symmetry I_x(a, b) = 1 − I_{1−x}(b, a), across the side switch.
            let (a, b) = (2.5, 7.25)
            #expect(abs(regularizedIncompleteBeta(x, a: a, b: b) +
                        regularizedIncompleteBeta(1 - x, a: b, b: a) - 1) < 1e-12)
        }
        #expect(regularizedIncompleteBeta(0, a: 2, b: 3) == 0 && regularizedIncompleteBeta(1, a: 2, b: 3) == 1)
    }

    @Test func empiricalPCountsTheChosenSetAndTies() {
        let random = (1...19).map { Double($0) / 100 }             // 0.01 … 0.19, mean 0.10
        #expect(RandomSetComparison.empiricalP(0.9, random) == 1.0 / 20)     // beyond every set
        #expect(RandomSetComparison.empiricalP(-0.9, random) == 1.0 / 20)    // two-sided
        #expect(RandomSetComparison.empiricalP(0.1, random) == 1)            // at the mean
        // Equal to the largest random drop: that set ties with it and counts against it.
        let p = RandomSetComparison.empiricalP(0.19, random)
        #expect(p >= 2.0 / 20 && p < 1)
        #expect(RandomSetComparison.empiricalP(0.5, []) == 1)
        // One random set: the two gaps are ±Δ/2, a tie, whatever Δ.
        #expect(RandomSetComparison.empiricalP(0.9, [0.1]) == 1)
        // A NaN effect is never significant.
        #expect(RandomSetComparison.empiricalP(.nan, random).isNaN)
        #expect(RandomSetComparison.empiricalP(0.9, random + [.nan]).isNaN)
        #expect(RandomSetComparison.parametricP(.nan, random).isNaN)
        #expect(RandomSetComparison.sweepP([(0.9, random), (.nan, random)]).isNaN)
        #expect(RandomSetComparison.standardizedGap(0.1, [0.1, 0.1]) == 0)
        #expect(RandomSetComparison.parametricP(0.5, [0.1]).isNaN)
        #expect(RandomSetComparison.parametricP(0.5, [0.1, 0.1, 0.1]).isNaN)
    }

    /// Under the null (the chosen set is one more draw like the random ones), each test rejects at 5% in
    /// 5% of runs, and the sweep p pays for choosing the best of several points where the best point's
    /// own empirical p does not.
    @Test func testsAreCalibratedUnderTheNull() {
        var rng = SeededRandom(seed: 17)
        let (runs, sets, points) = (4000, 19, 4)
        var empirical = 0, parametric = 0, sweep = 0, bestPointOwn = 0
        for _ in 0..<runs {
            var draws: [(chosen: Double, random: [Double])] = []
            for _ in 0..<points {
                let spread = 1 + rng.nextDouble() * 3           // points differ in spread
                draws.append((spread * rng.nextGaussian(), (0..<sets).map { _ in spread * rng.nextGaussian() }))
            }
            if RandomSetComparison.empiricalP(draws[0].chosen, draws[0].random) <= 0.05 { empirical += 1 }
            if RandomSetComparison.parametricP(draws[0].chosen, draws[0].random) <= 0.05 { parametric += 1 }
            if RandomSetComparison.sweepP(draws) <= 0.05 { sweep += 1 }
            if draws.map({ RandomSetComparison.empiricalP($0.chosen, $0.random) }).min()! <= 0.05 {
                bestPointOwn += 1
            }
        }
        func rate(_ n: Int) -> Double { Double(n) / Double(runs) }
        // 4,000 runs: a binomial(4000, 0.05) count has standard deviation 0.0034 as a rate.
        #expect(abs(rate(empirical) - 0.05) < 0.012, "empirical \(rate(empirical))")
        #expect(abs(rate(parametric) - 0.05) < 0.012, "parametric \(rate(parametric))")
        #expect(rate(sweep) < 0.062, "sweep \(rate(sweep))")
        #expect(rate(bestPointOwn) > 0.12, "best point's own p \(rate(bestPointOwn))")

        // Nested draws, as the ablation makes them: each draw's effect at a larger k is its effect at the
        // smaller k plus more (cumulative sums), so the points of one draw are correlated. The sweep p
        // stays calibrated, and is not merely conservative.
        var nested = 0
        for _ in 0..<runs {
            let trajectories = (0...sets).map { _ -> [Double] in
                var total = 0.0
                return (0..<points).map { j in total += Double(j + 1) * rng.nextGaussian(); return total }
            }
            let draws = (0..<points).map { j in (chosen: trajectories[0][j], random: trajectories.dropFirst().map { $0[j] }) }
            if RandomSetComparison.sweepP(draws) <= 0.05 { nested += 1 }
        }
        #expect(abs(rate(nested) - 0.05) < 0.012, "nested sweep \(rate(nested))")
    }

    @Test func sweepPFindsARealEffectAndRefusesRaggedSweeps() {
        var rng = SeededRandom(seed: 5)
        let random = { (0..<19).map { _ in rng.nextGaussian() } }
        let points = [(chosen: 0.1, random: random()), (chosen: 9.0, random: random()), (chosen: 0.3, random: random())]
        #expect(RandomSetComparison.sweepP(points) == 1.0 / 20)
        #expect(RandomSetComparison.sweepP([(1, [0.1, 0.2]), (1, [0.3])]) == 1)
        #expect(RandomSetComparison.sweepP([]) == 1)
    }
}

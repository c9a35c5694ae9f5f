import Foundation

// ----------------------------------------------------------------------------------------------------
// A chosen set's effect against the same effect of R random sets: "would any neurons do this?"
//
//   pool      d_0 (the chosen set), d_1 … d_R (the random sets), e.g. accuracy drops at one point
//   gap       g_i = d_i − mean(pool)                      (the chosen set's gap orders as d_0 − mean(d_1…R))
//   empirical p  = #{i ∈ pool : |g_i| ≥ |g_0|} / (R + 1)                 exact under exchangeability
//   parametric p = P(|T| ≥ |t|),  t = (d_0 − m) / (s √(1 + 1/R)),  T ~ Student t(R − 1)
//                  m, s: the random sets' mean and standard deviation; a normal fit to the random
//                  effects, and the prediction interval of one more draw from it
//   sweep p      = #{i ∈ pool : G_i ≥ G_0} / (R + 1),  G_i = max over points |g_i| / s_pool(point)
//                  random set i is the i-th draw of every point (nested across k, as the top sets are):
//                  the chosen set's best point is paid for by each random draw's own best point over
//                  the same sweep; dividing by the pool's standard deviation keeps the points whose
//                  effects spread most from deciding the maximum alone
//
// If the chosen set is just another draw of R + 1 exchangeable ones, its |gap| is equally likely to
// take any rank among them, so P(empirical p ≤ α) ≤ α. Its floor is 1/(R + 1) for R ≥ 2 (19 sets reach
// 0.05, 99 reach 0.01); with one random set the two gaps are ±Δ/2, a tie, and p is 1. Ties count
// against the chosen set. A NaN effect makes every p NaN: never significant.
// ----------------------------------------------------------------------------------------------------

public enum RandomSetComparison {
    /// The two-sided empirical p of `chosen` among `random` (see above); 1 without random sets.
    public static func empiricalP(_ chosen: Double, _ random: [Double]) -> Double {
        guard !random.isEmpty else { return 1 }
        guard chosen.isFinite, random.allSatisfy(\.isFinite) else { return .nan }
        let gaps = poolGaps(chosen, random)
        return share(of: gaps.map(abs), atLeast: abs(gaps[0]))
    }

    /// The two-sided p of `chosen` as one more draw from a normal fitted to `random`, on the t
    /// distribution with R − 1 degrees of freedom. NaN with fewer than two sets or no spread.
    public static func parametricP(_ chosen: Double, _ random: [Double]) -> Double {
        let r = Double(random.count)
        guard random.count >= 2, chosen.isFinite, random.allSatisfy(\.isFinite) else { return .nan }
        let mean = random.reduce(0, +) / r
        let sd = (random.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (r - 1)).squareRoot()
        // Equal effects summed in a different order differ in the last bits: that is no spread.
        guard sd > 1e-12 * max(1, abs(mean)) else { return .nan }
        let t = (chosen - mean) / (sd * (1 + 1 / r).squareRoot())
        return studentTTwoSided(t, degreesOfFreedom: r - 1)
    }

    /// The p of the chosen set's largest standardized |gap| over a sweep, against every random draw's
    /// own largest over the same points. `points[j]` is (chosen, random) at point j; every point has the
    /// same number of random sets, the i-th of each being one draw. Points where the pool does not
    /// spread tell nothing and are skipped.
    public static func sweepP(_ points: [(chosen: Double, random: [Double])]) -> Double {
        guard let sets = points.first?.random.count, sets > 0,
              points.allSatisfy({ $0.random.count == sets }) else { return 1 }
        var largest = [Double](repeating: 0, count: sets + 1)
        for point in points {
            guard point.chosen.isFinite, point.random.allSatisfy(\.isFinite) else { return .nan }
            let gaps = poolGaps(point.chosen, point.random)
            let spread = poolSpread(gaps)
            guard spread > 0 else { continue }
            for (i, gap) in gaps.enumerated() { largest[i] = max(largest[i], abs(gap) / spread) }
        }
        return share(of: largest, atLeast: largest[0])
    }

    /// The chosen set's |gap| in standard deviations of the pool: what the sweep p maximizes, and so
    /// how the headline point is chosen. 0 when the pool does not spread; NaN for a NaN effect.
    public static func standardizedGap(_ chosen: Double, _ random: [Double]) -> Double {
        guard chosen.isFinite, random.allSatisfy(\.isFinite) else { return .nan }
        let gaps = poolGaps(chosen, random), spread = poolSpread(gaps)
        return spread > 0 ? abs(gaps[0]) / spread : 0
    }

    /// The standard deviation of the pool (R + 1 values, R degrees of freedom), 0 within rounding.
    static func poolSpread(_ gaps: [Double]) -> Double {
        let sd = (gaps.reduce(0) { $0 + $1 * $1 } / Double(max(1, gaps.count - 1))).squareRoot()
        let scale = gaps.map(abs).max() ?? 0
        return sd > 1e-12 * max(1, scale) ? sd : 0
    }

    /// g_i = d_i − mean(pool), the chosen set first.
    static func poolGaps(_ chosen: Double, _ random: [Double]) -> [Double] {
        let pool = [chosen] + random
        let mean = pool.reduce(0, +) / Double(pool.count)
        return pool.map { $0 - mean }
    }

    /// #{v ≥ x} / count, with a relative tolerance so that equal effects computed apart tie.
    static func share(of values: [Double], atLeast x: Double) -> Double {
        let floor = x - 1e-12 * max(1, abs(x))
        return Double(values.filter { $0 >= floor }.count) / Double(values.count)
    }
}

/// P(|T| ≥ |t|) for T ~ Student t(ν): the regularized incomplete beta I_{ν/(ν+t²)}(ν/2, 1/2).
public func studentTTwoSided(_ t: Double, degreesOfFreedom nu: Double) -> Double {
    guard t.isFinite else { return t.isNaN ? .nan : 0 }
    return regularizedIncompleteBeta(nu / (nu + t * t), a: nu / 2, b: 0.5)
}

/// I_x(a, b) = B(x; a, b) / B(a, b), by the continued fraction of Numerical Recipes' §6.4 (Lentz's
/// method), on the side of the symmetry I_x(a, b) = 1 − I_{1−x}(b, a) where it converges fast.
/// It stops at a relative change of 1e-15.
public func regularizedIncompleteBeta(_ x: Double, a: Double, b: Double) -> Double {
    guard x > 0 else { return 0 }
    guard x < 1 else { return 1 }
    if x > (a + 1) / (a + b + 2) { return 1 - regularizedIncompleteBeta(1 - x, a: b, b: a) }
    let logFront = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x)
    let tiny = 1e-300
    var c = 1.0, d = 1 - (a + b) * x / (a + 1)
    if abs(d) < tiny { d = tiny }
    d = 1 / d
    var h = d
    for m in 1...10_000 {
        let m = Double(m)
        // The even step, then the odd step, of the fraction's coefficients.
        let even = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
        let odd = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
        var change = 0.0
        for coefficient in [even, odd] {
            d = 1 + coefficient * d; if abs(d) < tiny { d = tiny }
            c = 1 + coefficient / c; if abs(c) < tiny { c = tiny }
            d = 1 / d
            change = d * c
            h *= change
        }
        if abs(change - 1) < 1e-15 { break }
    }
    return max(0, min(1, exp(logFront) * h / a))
}

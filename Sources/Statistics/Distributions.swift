import Foundation

/// P(X ≥ x) for X ~ χ²(k): the regularized upper incomplete gamma function Q(k/2, x/2).
public func chiSquaredSurvival(_ x: Double, degreesOfFreedom k: Double) -> Double {
    guard x > 0 else { return 1 }
    return regularizedUpperGamma(k / 2, x / 2)
}

/// Q(a, x) = Γ(a, x) / Γ(a). Below x < a + 1 the power series of P converges fast; above it, the
/// continued fraction of Q does (Lentz's method). Both stop at a relative change of 1e-15.
public func regularizedUpperGamma(_ a: Double, _ x: Double) -> Double {
    guard x > 0 else { return 1 }
    let logPrefactor = a * log(x) - x - lgamma(a)
    if x < a + 1 {
        var term = 1 / a, sum = term, denominator = a
        for _ in 0..<10_000 {
            denominator += 1
            term *= x / denominator
            sum += term
            if abs(term) < abs(sum) * 1e-15 { break }
        }
        return max(0, min(1, 1 - sum * exp(logPrefactor)))
    }
    let tiny = 1e-300
    var b = x + 1 - a, c = 1 / tiny, d = 1 / b, h = d
    for i in 1...10_000 {
        let an = -Double(i) * (Double(i) - a)
        b += 2
        d = an * d + b; if abs(d) < tiny { d = tiny }
        c = b + an / c; if abs(c) < tiny { c = tiny }
        d = 1 / d
        let delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15 { break }
    }
    return max(0, min(1, exp(logPrefactor) * h))
}

/// The one-sample Kolmogorov–Smirnov test against Uniform(0, 1): the statistic D and its asymptotic
/// p-value, with Stephens' small-sample correction √n + 0.12 + 0.11/√n.
public func kolmogorovSmirnovUniform(_ samples: [Double]) -> (statistic: Double, pValue: Double) {
    let sorted = samples.sorted()
    let n = Double(sorted.count)
    var d = 0.0
    for (i, u) in sorted.enumerated() {
        d = max(d, Double(i + 1) / n - u, u - Double(i) / n)
    }
    let lambda = (n.squareRoot() + 0.12 + 0.11 / n.squareRoot()) * d
    // Q_KS(λ) = 2 Σ_{j≥1} (−1)^{j−1} exp(−2 j² λ²)
    var p = 0.0
    for j in 1...100 {
        let term = 2 * (j % 2 == 1 ? 1.0 : -1.0) * exp(-2 * Double(j * j) * lambda * lambda)
        p += term
        if abs(term) < 1e-12 { break }
    }
    return (d, lambda < 0.3 ? 1 : max(0, min(1, p)))
}

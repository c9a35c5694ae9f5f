import TensorCore

/// A two-sided sign-flip permutation test of "the mean of paired differences is 0".
///
/// Under the null that the two conditions of each pair are exchangeable (here: the skill set and a
/// matched random set affect each example alike), each difference is as likely to have either sign, so
/// flipping signs at random draws from the null distribution of the mean. p = (1 + #{|flipped mean| ≥
/// |observed mean|}) / (1 + flips). Unlike an empirical p-value over R random sets, whose floor is
/// 1/(R + 1), this one uses every example, so it can be small with few random sets.
public func signFlipTest(_ differences: [Double], flips: Int = 10_000, seed: UInt64) -> Double {
    guard !differences.isEmpty else { return 1 }
    let observed = abs(differences.reduce(0, +))
    var rng = SeededRandom(seed: seed)
    var extreme = 0
    for _ in 0..<flips {
        var total = 0.0
        var bits: UInt64 = 0, left = 0
        for d in differences {
            if left == 0 { bits = rng.next(); left = 64 }
            total += (bits & 1) == 0 ? d : -d
            bits >>= 1
            left -= 1
        }
        if abs(total) >= observed - 1e-12 * max(1, observed) { extreme += 1 }
    }
    return Double(1 + extreme) / Double(1 + flips)
}

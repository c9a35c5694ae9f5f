/// The one random number generator Scalpel uses, so that the same seed gives the same bits everywhere.
///
/// Algorithm: xoshiro256** 1.0 (Blackman & Vigna, 2018) for the 64-bit stream. Its 256-bit state is
/// filled from the 64-bit seed by four outputs of SplitMix64, as the authors recommend, so nearby seeds
/// give unrelated streams.
/// - `nextFloat()`: the top 24 bits of one output × 2⁻²⁴, uniform on [0, 1) with every value a Float.
/// - `nextDouble()`: the top 53 bits × 2⁻⁵³, uniform on [0, 1).
/// - `nextGaussian()`: Box–Muller on two `nextDouble()` draws, returning the cosine branch only (no
///   cached second value, so a draw never depends on how many came before in another code path).
/// - `nextInt(below:)`: Lemire's multiply-and-reject method, unbiased.
/// The sequence is part of Scalpel's reproducibility contract: changing it changes every seeded result.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    public init(seed: UInt64) {
        var mixer = seed
        func splitMix() -> UInt64 {
            mixer &+= 0x9E37_79B9_7F4A_7C15
            var z = mixer
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitMix(); s1 = splitMix(); s2 = splitMix(); s3 = splitMix()
    }

    public mutating func next() -> UInt64 {
        let result = rotateLeft(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = rotateLeft(s3, 45)
        return result
    }

    public mutating func nextFloat() -> Float { Float(next() >> 40) * 0x1p-24 }

    public mutating func nextDouble() -> Double { Double(next() >> 11) * 0x1p-53 }

    public mutating func nextGaussian() -> Double {
        // 1 − u keeps the logarithm's argument in (0, 1].
        let u1 = 1 - nextDouble()
        let u2 = nextDouble()
        return (-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2)
    }

    /// A uniform integer in 0..<bound.
    public mutating func nextInt(below bound: Int) -> Int {
        precondition(bound > 0, "SeededRandom.nextInt: bound must be positive")
        let range = UInt64(bound)
        var product = next().multipliedFullWidth(by: range)
        if product.low < range {
            let threshold = (0 &- range) % range
            while product.low < threshold { product = next().multipliedFullWidth(by: range) }
        }
        return Int(product.high)
    }

    /// A uniformly shuffled copy of `items` (Fisher–Yates driven by `nextInt`).
    public mutating func shuffled<T>(_ items: [T]) -> [T] {
        var result = items
        if result.count < 2 { return result }
        for i in stride(from: result.count - 1, to: 0, by: -1) {
            result.swapAt(i, nextInt(below: i + 1))
        }
        return result
    }

    /// `count` distinct values from 0..<population, in ascending order.
    public mutating func sample(_ count: Int, from population: Int) -> [Int] {
        precondition(count <= population, "SeededRandom.sample: cannot draw \(count) from \(population)")
        // Partial Fisher–Yates over a sparse map, so memory is proportional to `count`.
        var swapped: [Int: Int] = [:]
        var chosen: [Int] = []
        chosen.reserveCapacity(count)
        for i in 0..<count {
            let j = i + nextInt(below: population - i)
            let valueJ = swapped[j] ?? j
            swapped[j] = swapped[i] ?? i
            chosen.append(valueJ)
        }
        return chosen.sorted()
    }

    private func rotateLeft(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
@inline(__always) func _log(_ x: Double) -> Double { log(x) }
@inline(__always) func _cos(_ x: Double) -> Double { cos(x) }

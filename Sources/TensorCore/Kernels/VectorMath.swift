// ----------------------------------------------------------------------------------------------------
// Vectorised exp for the activation kernels, eight lanes at a time.
//
// Cephes' expf: n = round(x·log₂e); r = x − n·ln2 in two parts (so r is exact to a few ulps);
// exp(r) ≈ 1 + r + r²·p(r) with p the degree-5 minimax polynomial; then × 2ⁿ through the exponent bits.
// Relative error stays within 2 ulps of the correctly rounded result on [−87.3, 88.3]; beyond that the
// input is clamped (exp underflows to ~1e-38 or overflows to ~1e38, which is what SiLU and GELU need).
// The scalar kernels called expf once per element, the largest cost outside sgemm in a forward pass.

@inline(__always)
public func vectorExp(_ input: SIMD8<Float>) -> SIMD8<Float> {
    // Clamp with masks: `clamped` goes through generic pointwiseMin/Max that the compiler does not inline.
    var x = input
    x.replace(with: SIMD8(repeating: -87.3), where: x .< -87.3)
    x.replace(with: SIMD8(repeating: 88.3), where: x .> 88.3)   // n ≤ 127: 2ⁿ stays a normal float
    // Round x·log₂e to an integer by adding 1.5·2²³: the sum's low mantissa bits then hold n exactly, which
    // gives both n as a float and, by integer subtraction of the same bits, n as an integer, in vector
    // registers (SIMD rounding and float→int conversions are not vectorised by the compiler).
    let magic = SIMD8<Float>(repeating: 12582912)
    let shifted = x * 1.44269504088896341 + magic
    let n = shifted - magic
    var r = x - n * 0.693359375
    r = r - n * -2.12194440e-4
    var p = SIMD8<Float>(repeating: 1.9875691500e-4)
    p = p * r + 1.3981999507e-3
    p = p * r + 8.3334519073e-3
    p = p * r + 4.1665795894e-2
    p = p * r + 1.6666665459e-1
    p = p * r + 5.0000001201e-1
    let y = p * r * r + r + 1
    let integer = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- unsafeBitCast(magic, to: SIMD8<Int32>.self)
    let exponent = (integer &+ 127) &<< 23
    return y * unsafeBitCast(exponent, to: SIMD8<Float>.self)
}

/// site = silu(gate) · up over `count` elements, eight at a time.
@inline(__always)
func siluGatedForward(_ site: UnsafeMutablePointer<Float>, _ gate: UnsafePointer<Float>, _ up: UnsafePointer<Float>,
                      _ range: Range<Int>) {
    var i = range.lowerBound
    while i + 8 <= range.upperBound {
        let g = UnsafeRawPointer(gate + i).loadUnaligned(as: SIMD8<Float>.self)
        let u = UnsafeRawPointer(up + i).loadUnaligned(as: SIMD8<Float>.self)
        let value = g * u / (1 + vectorExp(-g))
        UnsafeMutableRawPointer(site + i).storeBytes(of: value, as: SIMD8<Float>.self)
        i += 8
    }
    while i < range.upperBound {
        site[i] = Activation.silu.value(gate[i]) * up[i]
        i += 1
    }
}

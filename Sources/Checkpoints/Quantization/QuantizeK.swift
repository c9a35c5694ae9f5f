#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

// ----------------------------------------------------------------------------------------------------
// Quantization into the K-quants, super-blocks of 256, following ggml-quants.c's reference quantizers
// (quantize_row_q2_K_ref … quantize_row_q6_K_ref, the path without an importance matrix) and their
// helpers step for step: the same searches, the same Float32 operations in the same order and the same
// rounding, so that the bytes are llama.cpp's. round(v) is ggml's nearest_int: v + 1.5·2²³ rounds v to
// an integer, half to even, in the low bits of the mantissa.
//
//   Q2_K  16 sub-blocks of 16, x ≈ s·q − m, q in 0…3: (s, m) from make_qkx2_quants, weights |x|, mean
//         absolute error, 16 trial scales. d = max s / 15, dmin = max m / 15;
//         sc = round(15·s / max s), mn = round(15·m / max m), 4 bits each in scales[j]
//   Q3_K  16 sub-blocks of 16, x ≈ s·(q − 4), q in 0…7: s from make_q3_quants, x²-weighted least squares
//         and up to 5 passes that move one code at a time. d = s_absmax / −32, with the sign of that s;
//         sc = clamp(round(s/d), −32, 31) + 32 in 6 bits: low 4 in scales[0…7], high 2 in scales[8…11]
//   Q4_K  8 sub-blocks of 32, x ≈ s·q − m, q in 0…15: (s, m) from make_qkx2_quants, weights rms(x) + |x|,
//         squared error, 21 trial scales. d = max s / 63, dmin = max m / 63;
//         sc = min(63, round(63·s / max s)), mn likewise, 6 bits each packed in 12 bytes (get_scale_min_k4)
//   Q5_K  as Q4_K with q in 0…31 and 16 trial scales; bit 4 of q in qh
//   Q6_K  16 sub-blocks of 16, x ≈ s·(q − 32), q in 0…63: s from make_qx_quants, x²-weighted least
//         squares over 19 trial scales. d = s_absmax / −128, with the sign of that s;
//         sc = min(127, round(s/d)) as int8; 4 low bits of q in ql, 2 high in qh
//
// Then, with d and dmin as stored (f16, read back) and each sub-block's stored scale and min, every code
// is recomputed: q = clamp(round((x + dmin·mn) / (d·sc))) for Q2_K, Q4_K, Q5_K, and
// q = clamp(round(x / (d·sc))) + offset for Q3_K and Q6_K. A sub-block whose stored scale is 0 keeps the
// codes its search found, as in ggml. The trial scales of the searches:
//   make_qkx2_quants  min' = min(min x, 0); iscale = (nmax + rmin + rdelta·k) / (max x − min'),
//                     k = 0…nstep; codes clamp(round(iscale·(x − min')), 0, nmax), then scale and min by
//                     weighted least squares (min clamped to ≤ 0); the least weighted error wins
//   make_qx_quants    iscale = −(nmax + 0.1·k) / x_absmax, k = −9…9; codes clamp(round(iscale·x),
//                     −nmax, nmax − 1); scale = Σw·x·l / Σw·l², w = x²; the largest (Σw·x·l)²/Σw·l²
//                     wins

/// ggml's nearest_int: round to nearest, half to even, for |v| < 2²²; beyond, the same bits ggml gets.
@inline(__always) func nearestInt(_ v: Float) -> Int {
    Int((v + 12_582_912).bitPattern & 0x7F_FFFF) - 0x40_0000
}

/// GROUP_MAX_EPS (1e-15f): below it a sub-block counts as all zero.
private let groupMaxEps = Float(bitPattern: 0x2690_1D7D)
/// 0.1f, spelled exactly.
private let tenth: Float = 0x1.99999ap-4

@inline(__always) private func clamp(_ v: Int, _ lo: Int, _ hi: Int) -> Int { Swift.max(lo, Swift.min(hi, v)) }

@inline(__always) private func setByte(_ y: UnsafeMutableRawPointer, _ offset: Int, _ v: Int) {
    y.storeBytes(of: UInt8(truncatingIfNeeded: v), toByteOffset: offset, as: UInt8.self)
}

@inline(__always) private func orByte(_ y: UnsafeMutableRawPointer, _ offset: Int, _ v: Int) {
    setByte(y, offset, byte(y, offset) | Int(UInt8(truncatingIfNeeded: v)))
}

/// Per-call buffers: codes L (256) and Laux (32), as Int; weights (32), scales and mins (16).
private struct Scratch {
    let L: UnsafeMutablePointer<Int>, Laux: UnsafeMutablePointer<Int>
    let weights: UnsafeMutablePointer<Float>, scales: UnsafeMutablePointer<Float>, mins: UnsafeMutablePointer<Float>
}

/// Quantizes `blocks` super-blocks of 256 values from `x` into `type`'s bytes at `y` (a K-quant).
func quantizeK(_ type: GGMLType, _ x: UnsafePointer<Float>, blocks: Int, _ y: UnsafeMutableRawPointer) {
    withUnsafeTemporaryAllocation(of: Int.self, capacity: 288) { codes in
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 64) { floats in
            let (c, f) = (codes.baseAddress!, floats.baseAddress!)
            let s = Scratch(L: c, Laux: c + 256, weights: f, scales: f + 32, mins: f + 48)
            for i in 0..<blocks {
                let (x, y) = (x + 256 * i, y + type.blockBytes * i)
                switch type {
                case .q2_K: quantizeQ2_K(x, y, s)
                case .q3_K: quantizeQ3_K(x, y, s)
                case .q4_K: quantizeQ4_K(x, y, s, nmax: 15)
                case .q5_K: quantizeQ4_K(x, y, s, nmax: 31)
                case .q6_K: quantizeQ6_K(x, y, s)
                default: preconditionFailure("\(type.name) is not a K-quant")
                }
            }
        }
    }
}

// MARK: - The searches

/// The element of largest magnitude among n, with its sign, and that magnitude (the first on ties).
@inline(__always) private func signedAbsMax(_ x: UnsafePointer<Float>, _ n: Int) -> (amax: Float, max: Float) {
    var amax: Float = 0, max: Float = 0
    for i in 0..<n where abs(x[i]) > amax {
        amax = abs(x[i])
        max = x[i]
    }
    return (amax, max)
}

/// ggml's make_qkx2_quants: codes L in 0…nmax and (scale, min ≥ 0) with x ≈ scale·L − min, the weighted
/// error (absolute if `mad`, else squared) least over the trial scales.
private func makeQKX2Quants(_ n: Int, _ nmax: Int, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                            _ L: UnsafeMutablePointer<Int>, _ Laux: UnsafeMutablePointer<Int>,
                            rmin: Float, rdelta: Float, nstep: Int, mad: Bool) -> (scale: Float, min: Float) {
    var lo = x[0], hi = x[0], sumW = w[0]
    var sumX = sumW * x[0]
    for i in 1..<n {
        if x[i] < lo { lo = x[i] }
        if x[i] > hi { hi = x[i] }
        sumW += w[i]
        sumX += w[i] * x[i]
    }
    if lo > 0 { lo = 0 }
    if hi == lo {
        for i in 0..<n { L[i] = 0 }
        return (0, -lo)
    }
    var iscale = Float(nmax) / (hi - lo)
    var scale = 1 / iscale
    var bestError: Float = 0
    for i in 0..<n {
        L[i] = clamp(nearestInt(iscale * (x[i] - lo)), 0, nmax)
        let diff = scale * Float(L[i]) + lo - x[i]
        bestError += w[i] * (mad ? abs(diff) : diff * diff)
    }
    for k in 0...nstep {
        iscale = (rmin + rdelta * Float(k) + Float(nmax)) / (hi - lo)
        var sumL: Float = 0, sumL2: Float = 0, sumXL: Float = 0
        for i in 0..<n {
            let l = clamp(nearestInt(iscale * (x[i] - lo)), 0, nmax)
            Laux[i] = l
            let wl = w[i] * Float(l)
            sumL += wl
            sumL2 += wl * Float(l)
            sumXL += wl * x[i]
        }
        let D = sumW * sumL2 - sumL * sumL
        guard D > 0 else { continue }
        var thisScale = (sumW * sumXL - sumX * sumL) / D
        var thisMin = (sumL2 * sumX - sumL * sumXL) / D
        if thisMin > 0 {
            thisMin = 0
            thisScale = sumXL / sumL2
        }
        var error: Float = 0
        for i in 0..<n {
            let diff = thisScale * Float(Laux[i]) + thisMin - x[i]
            error += w[i] * (mad ? abs(diff) : diff * diff)
        }
        if error < bestError {
            for i in 0..<n { L[i] = Laux[i] }
            (bestError, scale, lo) = (error, thisScale, thisMin)
        }
    }
    return (scale, -lo)
}

/// ggml's make_q3_quants (n = 16, nmax = 4, with its refinement): codes L in 0…7 and the scale s of
/// x ≈ s·(L − 4); 0 with all codes 0 for an all-zero sub-block.
private func makeQ3Quants(_ x: UnsafePointer<Float>, _ L: UnsafeMutablePointer<Int>) -> Float {
    let n = 16, nmax = 4
    let (amax, max) = signedAbsMax(x, n)
    if amax < groupMaxEps {
        for i in 0..<n { L[i] = 0 }
        return 0
    }
    let iscale = Float(-nmax) / max
    var sumLX: Float = 0, sumL2: Float = 0
    for i in 0..<n {
        let l = clamp(nearestInt(iscale * x[i]), -nmax, nmax - 1)
        L[i] = l
        let w = x[i] * x[i]
        sumLX += w * x[i] * Float(l)
        sumL2 += w * Float(l) * Float(l)
    }
    for _ in 0..<5 {
        var changed = 0
        for i in 0..<n {
            let w = x[i] * x[i]
            var slx = sumLX - w * x[i] * Float(L[i])
            guard slx > 0 else { continue }
            var sl2 = sumL2 - w * Float(L[i]) * Float(L[i])
            let newL = clamp(nearestInt(x[i] * sl2 / slx), -nmax, nmax - 1)
            guard newL != L[i] else { continue }
            slx += w * x[i] * Float(newL)
            sl2 += w * Float(newL) * Float(newL)
            if sl2 > 0 && slx * slx * sumL2 > sumLX * sumLX * sl2 {
                (L[i], sumLX, sumL2) = (newL, slx, sl2)
                changed += 1
            }
        }
        if changed == 0 { break }
    }
    for i in 0..<n { L[i] += nmax }
    return sumL2 > 0 ? sumLX / sumL2 : 0
}

/// ggml's make_qx_quants with rmse_type 1 and no importance weights (n = 16, nmax = 32): codes L in 0…63
/// and the scale s of x ≈ s·(L − 32); 0 with all codes 0 for an all-zero sub-block.
private func makeQXQuants(_ x: UnsafePointer<Float>, _ L: UnsafeMutablePointer<Int>) -> Float {
    let n = 16, nmax = 32
    let (amax, max) = signedAbsMax(x, n)
    if amax < groupMaxEps {
        for i in 0..<n { L[i] = 0 }
        return 0
    }
    var iscale = Float(-nmax) / max
    var sumLX: Float = 0, sumL2: Float = 0
    for i in 0..<n {
        let l = clamp(nearestInt(iscale * x[i]), -nmax, nmax - 1)
        L[i] = l + nmax
        let w = x[i] * x[i]
        sumLX += w * x[i] * Float(l)
        sumL2 += w * Float(l) * Float(l)
    }
    var scale: Float = sumL2 != 0 ? sumLX / sumL2 : 0
    var best = scale * sumLX
    for k in -9...9 where k != 0 {
        iscale = -(Float(nmax) + tenth * Float(k)) / max
        sumLX = 0
        sumL2 = 0
        for i in 0..<n {
            let l = clamp(nearestInt(iscale * x[i]), -nmax, nmax - 1)
            let w = x[i] * x[i]
            sumLX += w * x[i] * Float(l)
            sumL2 += w * Float(l) * Float(l)
        }
        if sumL2 > 0 && sumLX * sumLX > best * sumL2 {
            for i in 0..<n { L[i] = nmax + clamp(nearestInt(iscale * x[i]), -nmax, nmax - 1) }
            scale = sumLX / sumL2
            best = scale * sumLX
        }
    }
    return scale
}

// MARK: - The formats

/// 2-bit codes of 256 elements into 64 bytes: element 128c + 32s + l in bits 2s of byte 32c + l.
@inline(__always) private func packTwoBits(_ L: UnsafeMutablePointer<Int>, _ q: UnsafeMutableRawPointer) {
    for c in 0..<2 {
        for l in 0..<32 {
            let j = 128 * c + l
            setByte(q, 32 * c + l, L[j] | (L[j + 32] << 2) | (L[j + 64] << 4) | (L[j + 96] << 6))
        }
    }
}

/// { u8 scales[16]; u8 qs[64]; f16 d; f16 dmin }
private func quantizeQ2_K(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ s: Scratch) {
    var maxScale: Float = 0, maxMin: Float = 0
    for j in 0..<16 {
        for l in 0..<16 { s.weights[l] = abs(x[16 * j + l]) }
        (s.scales[j], s.mins[j]) = makeQKX2Quants(16, 3, x + 16 * j, s.weights, s.L + 16 * j, s.Laux,
                                                  rmin: -0.5, rdelta: tenth, nstep: 15, mad: true)
        if s.scales[j] > maxScale { maxScale = s.scales[j] }
        if s.mins[j] > maxMin { maxMin = s.mins[j] }
    }
    if maxScale > 0 {
        let iscale = 15 / maxScale
        for j in 0..<16 { setByte(y, j, nearestInt(iscale * s.scales[j])) }
        storeHalf(y, 80, maxScale / 15)
    } else {
        for j in 0..<16 { setByte(y, j, 0) }
        storeHalf(y, 80, 0)
    }
    if maxMin > 0 {
        let iscale = 15 / maxMin
        for j in 0..<16 { orByte(y, j, nearestInt(iscale * s.mins[j]) << 4) }
        storeHalf(y, 82, maxMin / 15)
    } else {
        storeHalf(y, 82, 0)
    }
    let d = halfToFloat(u16(y, 80)), dmin = halfToFloat(u16(y, 82))
    for j in 0..<16 {
        let dl = d * Float(byte(y, j) & 0xF)
        if dl == 0 { continue }
        let ml = dmin * Float(byte(y, j) >> 4)
        for i in 0..<16 { s.L[16 * j + i] = clamp(nearestInt((x[16 * j + i] + ml) / dl), 0, 3) }
    }
    packTwoBits(s.L, y + 16)
}

/// { u8 hmask[32]; u8 qs[64]; u8 scales[12]; f16 d }
private func quantizeQ3_K(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ s: Scratch) {
    var maxScale: Float = 0, amax: Float = 0
    for j in 0..<16 {
        s.scales[j] = makeQ3Quants(x + 16 * j, s.L + 16 * j)
        if abs(s.scales[j]) > amax { (amax, maxScale) = (abs(s.scales[j]), s.scales[j]) }
    }
    let packed = y + 96
    for i in 0..<12 { setByte(packed, i, 0) }
    if maxScale != 0 {
        let iscale = -32 / maxScale
        for j in 0..<16 {
            let l = clamp(Int(Int8(truncatingIfNeeded: nearestInt(iscale * s.scales[j]))), -32, 31) + 32
            if j < 8 { setByte(packed, j, l & 0xF) } else { orByte(packed, j - 8, (l & 0xF) << 4) }
            orByte(packed, 8 + j % 4, (l >> 4) << (2 * (j / 4)))
        }
        storeHalf(y, 108, 1 / iscale)
    } else {
        storeHalf(y, 108, 0)
    }
    for j in 0..<16 {
        let dl = q3KScale(y, j)             // d (as stored) · (sc − 32)
        if dl == 0 { continue }
        for i in 0..<16 { s.L[16 * j + i] = clamp(nearestInt(x[16 * j + i] / dl), -4, 3) + 4 }
    }
    // Element j's bit 2 goes to bit j/32 of hmask[j % 32].
    for i in 0..<32 { setByte(y, i, 0) }
    for j in 0..<256 where s.L[j] > 3 {
        orByte(y, j % 32, 1 << (j / 32))
        s.L[j] -= 4
    }
    packTwoBits(s.L, y + 32)
}

/// Q4_K (nmax 15): { f16 d; f16 dmin; u8 scales[12]; u8 qs[128] }
/// Q5_K (nmax 31): { f16 d; f16 dmin; u8 scales[12]; u8 qh[32]; u8 qs[128] }
private func quantizeQ4_K(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ s: Scratch, nmax: Int) {
    var maxScale: Float = 0, maxMin: Float = 0
    for j in 0..<8 {
        var sumX2: Float = 0
        for l in 0..<32 { sumX2 += x[32 * j + l] * x[32 * j + l] }
        let avX = sqrtf(sumX2 / 32)
        for l in 0..<32 { s.weights[l] = avX + abs(x[32 * j + l]) }
        let (rmin, nstep): (Float, Int) = nmax == 15 ? (-1, 20) : (-0.5, 15)
        (s.scales[j], s.mins[j]) = makeQKX2Quants(32, nmax, x + 32 * j, s.weights, s.L + 32 * j, s.Laux,
                                                  rmin: rmin, rdelta: tenth, nstep: nstep, mad: false)
        if s.scales[j] > maxScale { maxScale = s.scales[j] }
        if s.mins[j] > maxMin { maxMin = s.mins[j] }
    }
    let invScale: Float = maxScale > 0 ? 63 / maxScale : 0
    let invMin: Float = maxMin > 0 ? 63 / maxMin : 0
    let packed = y + 4
    for j in 0..<8 {
        let ls = Swift.min(63, Int(UInt8(truncatingIfNeeded: nearestInt(invScale * s.scales[j]))))
        let lm = Swift.min(63, Int(UInt8(truncatingIfNeeded: nearestInt(invMin * s.mins[j]))))
        if j < 4 {
            setByte(packed, j, ls)
            setByte(packed, j + 4, lm)
        } else {
            setByte(packed, j + 4, (ls & 0xF) | ((lm & 0xF) << 4))
            orByte(packed, j - 4, (ls >> 4) << 6)
            orByte(packed, j, (lm >> 4) << 6)
        }
    }
    storeHalf(y, 0, maxScale / 63)
    storeHalf(y, 2, maxMin / 63)
    let d = halfToFloat(u16(y, 0)), dmin = halfToFloat(u16(y, 2))
    for j in 0..<8 {
        let (sc, m) = scaleMinK4(j, packed)
        let dl = d * sc
        if dl == 0 { continue }
        let dm = dmin * m
        for i in 0..<32 { s.L[32 * j + i] = clamp(nearestInt((x[32 * j + i] + dm) / dl), 0, nmax) }
    }
    // Chunk c of 64: sub-block 2c in the low nibbles of its 32 bytes, 2c + 1 in the high ones; Q5_K's
    // fifth bits in bits 2c and 2c + 1 of qh[l].
    let (qh, qs) = (y + 16, y + (nmax == 15 ? 16 : 48))
    if nmax == 31 { for l in 0..<32 { setByte(qh, l, 0) } }
    for c in 0..<4 {
        for l in 0..<32 {
            var (l1, l2) = (s.L[64 * c + l], s.L[64 * c + l + 32])
            if l1 > 15 { l1 -= 16; orByte(qh, l, 1 << (2 * c)) }
            if l2 > 15 { l2 -= 16; orByte(qh, l, 2 << (2 * c)) }
            setByte(qs, 32 * c + l, l1 | (l2 << 4))
        }
    }
}

/// { u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d }
private func quantizeQ6_K(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ s: Scratch) {
    var maxScale: Float = 0, maxAbsScale: Float = 0
    for j in 0..<16 {
        s.scales[j] = makeQXQuants(x + 16 * j, s.L + 16 * j)
        if abs(s.scales[j]) > maxAbsScale { (maxAbsScale, maxScale) = (abs(s.scales[j]), s.scales[j]) }
    }
    if maxAbsScale < groupMaxEps {
        for i in 0..<210 { setByte(y, i, 0) }
        return
    }
    let iscale = -128 / maxScale
    storeHalf(y, 208, 1 / iscale)
    for j in 0..<16 { setByte(y, 192 + j, Swift.min(127, nearestInt(iscale * s.scales[j]))) }
    let d = halfToFloat(u16(y, 208))
    for j in 0..<16 {
        let dl = d * Float(Int8(truncatingIfNeeded: byte(y, 192 + j)))
        if dl == 0 { continue }
        for i in 0..<16 { s.L[16 * j + i] = clamp(nearestInt(x[16 * j + i] / dl), -32, 31) + 32 }
    }
    // Half h of 128: element 128h + 32k + l has its low nibble in ql[64h + l + 32(k % 2)] (high nibble
    // when k ≥ 2) and its high two bits in bits 2k of qh[32h + l].
    for h in 0..<2 {
        for l in 0..<32 {
            let j = 128 * h + l
            let (q1, q2, q3, q4) = (s.L[j], s.L[j + 32], s.L[j + 64], s.L[j + 96])
            setByte(y, 64 * h + l, (q1 & 0xF) | ((q3 & 0xF) << 4))
            setByte(y, 64 * h + l + 32, (q2 & 0xF) | ((q4 & 0xF) << 4))
            setByte(y, 128 + 32 * h + l, (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6))
        }
    }
}

// ----------------------------------------------------------------------------------------------------
// Rounding one element onto its block's existing grid: the block's scales and minimums stay, and only
// the element's code changes, to the code whose dequantized value is nearest the target. This is how an
// edit writes a W_down column, which crosses blocks shared with other neurons: every other element of
// those blocks keeps its bytes.
//
// Each type's value(code) below is written exactly as its dequantizer computes it (Dequantize.swift),
// so the code chosen is the nearest in the dequantizer's own arithmetic; `OnGridTests` checks that a
// block's own values are fixed points and that no other code comes nearer.

/// Sets element `element` of the block at `block` to the code nearest `target`, keeping the block's
/// scales. F32, F16 and BF16 (blocks of one) take the value itself, rounded to the type.
/// - Returns: false, writing nothing, for a type Scalpel cannot read.
@discardableResult
public func roundOntoGrid(_ type: GGMLType, block b: UnsafeMutableRawPointer, element e: Int, target x: Float) -> Bool {
    switch type {
    case .f32: b.storeBytes(of: x.bitPattern.littleEndian, as: UInt32.self)
    case .f16: b.storeBytes(of: floatToHalf(x).littleEndian, as: UInt16.self)
    case .bf16: b.storeBytes(of: floatToBFloat16(x).littleEndian, as: UInt16.self)
    case .q4_0:
        let d = halfToFloat(u16(b, 0))
        setNibble(b, 2 + e % 16, high: e >= 16, nearest(16, x) { Float($0 - 8) * d })
    case .q4_1:
        let d = halfToFloat(u16(b, 0)), m = halfToFloat(u16(b, 2))
        setNibble(b, 4 + e % 16, high: e >= 16, nearest(16, x) { Float($0) * d + m })
    case .q5_0:
        let d = halfToFloat(u16(b, 0))
        setFiveBits(b, qh: 2, qs: 6, e, nearest(32, x) { Float($0 - 16) * d })
    case .q5_1:
        let d = halfToFloat(u16(b, 0)), m = halfToFloat(u16(b, 2))
        setFiveBits(b, qh: 4, qs: 8, e, nearest(32, x) { Float($0) * d + m })
    case .q8_0:
        let d = halfToFloat(u16(b, 0))
        let q = nearest(256, x) { Float($0 - 128) * d } - 128
        b.storeBytes(of: Int8(q), toByteOffset: 2 + e, as: Int8.self)
    case .q2_K:
        let d = halfToFloat(u16(b, 80)), dmin = halfToFloat(u16(b, 82))
        let packed = byte(b, e / 16)
        let dl = d * Float(packed & 0xF), ml = dmin * Float(packed >> 4)
        let (c, s, l) = (e / 128, (e / 32) % 4, e % 32)
        setBits(b, 16 + 32 * c + l, shift: 2 * s, width: 2, nearest(4, x) { dl * Float($0) - ml })
    case .q3_K:
        let (c, s, l) = (e / 128, (e / 32) % 4, e % 32)
        let scale = q3KScale(b, e / 16)
        // v in −4…3: its low two bits are the code, and the high-mask bit is set for v ≥ 0.
        let v = nearest(8, x) { scale * Float($0 - 4) } - 4
        setBits(b, 32 + 32 * c + l, shift: 2 * s, width: 2, (v + 4) & 3)
        setBits(b, l, shift: 4 * c + s, width: 1, v >= 0 ? 1 : 0)
    case .q4_K, .q5_K:
        let d = halfToFloat(u16(b, 0)), dmin = halfToFloat(u16(b, 2))
        let (chunk, within) = (e / 64, e % 64)
        let sub = 2 * chunk + within / 32, l = within % 32
        let (sc, m) = scaleMinK4(sub, b + 4)
        let d1 = d * sc, min1 = dmin * m
        if type == .q4_K {
            setNibble(b, 16 + 32 * chunk + l, high: within >= 32, nearest(16, x) { d1 * Float($0) - min1 })
        } else {
            let q = nearest(32, x) { d1 * Float($0) - min1 }
            setNibble(b, 48 + 32 * chunk + l, high: within >= 32, q & 0xF)
            setBits(b, 16 + l, shift: sub, width: 1, q >> 4)
        }
    case .q6_K:
        let d = halfToFloat(u16(b, 208))
        let (half, w) = (e / 128, e % 128)
        let (quarter, l) = (w / 32, w % 32)
        let scale = Float(Int8(bitPattern: UInt8(byte(b, 192 + 8 * half + l / 16 + 2 * quarter))))
        let q = nearest(64, x) { d * scale * Float($0 - 32) }
        setNibble(b, 64 * half + l + (quarter % 2) * 32, high: quarter >= 2, q & 0xF)
        setBits(b, 128 + 32 * half + l, shift: 2 * quarter, width: 2, q >> 4)
    case .f64, .i8, .i16, .i32, .i64, .q8_1, .q8_K:
        return false
    }
    return true
}

/// The code in 0..<count whose value is nearest `x`; the lowest such code on a tie. A NaN target
/// keeps nothing sensible to aim at and takes the code nearest 0.
@inline(__always)
func nearest(_ count: Int, _ x: Float, _ value: (Int) -> Float) -> Int {
    let target = x.isNaN ? 0 : x
    var best = 0, distance = Float.infinity
    for q in 0..<count {
        let d = abs(value(q) - target)
        if d < distance { (best, distance) = (q, d) }
    }
    return best
}

@inline(__always)
func setBits(_ b: UnsafeMutableRawPointer, _ offset: Int, shift: Int, width: Int, _ value: Int) {
    let mask = ((1 << width) - 1) << shift
    let old = byte(b, offset)
    b.storeBytes(of: UInt8((old & ~mask) | ((value << shift) & mask)), toByteOffset: offset, as: UInt8.self)
}

@inline(__always)
func setNibble(_ b: UnsafeMutableRawPointer, _ offset: Int, high: Bool, _ value: Int) {
    setBits(b, offset, shift: high ? 4 : 0, width: 4, value)
}

/// Legacy five-bit codes: four low bits in the nibbles at `qs`, the fifth at bit e of the u32 at `qh`.
@inline(__always)
func setFiveBits(_ b: UnsafeMutableRawPointer, qh: Int, qs: Int, _ e: Int, _ q: Int) {
    setNibble(b, qs + e % 16, high: e >= 16, q & 0xF)
    setBits(b, qh + e / 8, shift: e % 8, width: 1, q >> 4)
}

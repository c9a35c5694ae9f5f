// ----------------------------------------------------------------------------------------------------
// Dequantization of ggml block formats to Float32, following ggml-quants.c's dequantize_row_* and the
// block structs of ggml-common.h. Within a 32-element block of the legacy formats, byte j holds element j
// in its low nibble and element j + 16 in its high nibble.
//
//   Q4_0  x = (q − 8)·d                 Q4_1  x = q·d + m
//   Q5_0  x = (q − 16)·d, q = 4 low bits | 1 high bit from qh     Q5_1  x = q·d + m
//   Q8_0  x = q·d (q int8)
//   Q2_K  256 = 16 sub-blocks of 16; 4-bit scale and min per sub-block, x = d·sc·q − dmin·m, q 2 bits
//   Q3_K  256 = 16 sub-blocks of 16; 6-bit scale each, x = d·(sc − 32)·(q − 4·!h), q 2 bits, h from hmask
//   Q4_K  256 = 8 sub-blocks of 32; 6-bit scale and min per sub-block, x = d·sc·q − dmin·m
//   Q5_K  as Q4_K with a fifth bit from qh
//   Q6_K  256 = 16 sub-blocks of 16; int8 scale each, x = d·sc·(q − 32), q = 4 low bits | 2 high bits

/// Dequantizes `count` elements of `type` from `bytes` (which must hold exactly their blocks).
public func dequantize(_ type: GGMLType, _ bytes: UnsafeRawBufferPointer, count: Int, tensor: String = "") throws(GGUFError) -> [Float] {
    guard type.byteCount(elements: count) == bytes.count else {
        throw .writerMismatch("tensor '\(tensor)' has \(bytes.count) bytes, not the \(type.byteCount(elements: count) ?? -1) that \(count) \(type.name) elements take")
    }
    var out = [Float](repeating: 0, count: count)
    if count == 0 { return out }
    let supported = out.withUnsafeMutableBufferPointer { y in
        dequantizeElements(type, from: bytes.baseAddress!, count: count, into: y.baseAddress!)
    }
    guard supported else { throw .cannotDequantize(tensor: tensor, type: type.name) }
    return out
}

/// Whether Scalpel reads `type`'s values (every listed type but the dot-product-only Q8_1 and Q8_K).
public func canDequantize(_ type: GGMLType) -> Bool { type != .q8_1 && type != .q8_K }

/// Dequantizes `count` elements, a whole number of blocks, from `source` into `y`. Returns false, writing
/// nothing, for a type Scalpel cannot read. The caller guarantees the bytes are there.
@discardableResult
public func dequantizeElements(_ type: GGMLType, from b: UnsafeRawPointer, count: Int, into y: UnsafeMutablePointer<Float>) -> Bool {
    let blocks = count / type.blockSize
    switch type {
    case .f32: for i in 0..<count { y[i] = Float(bitPattern: UInt32(littleEndian: b.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
    case .f16: for i in 0..<count { y[i] = halfToFloat(u16(b, 2 * i)) }
    case .bf16: for i in 0..<count { y[i] = bfloat16ToFloat(u16(b, 2 * i)) }
    case .f64: for i in 0..<count { y[i] = Float(Double(bitPattern: UInt64(littleEndian: b.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)))) }
    case .i8: for i in 0..<count { y[i] = Float(Int8(bitPattern: b.load(fromByteOffset: i, as: UInt8.self))) }
    case .i16: for i in 0..<count { y[i] = Float(Int16(bitPattern: u16(b, 2 * i))) }
    case .i32: for i in 0..<count { y[i] = Float(Int32(bitPattern: UInt32(littleEndian: b.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))) }
    case .i64: for i in 0..<count { y[i] = Float(Int64(littleEndian: b.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self))) }
    case .q4_0: for i in 0..<blocks { dequantizeQ4_0(b + i * 18, y + i * 32) }
    case .q4_1: for i in 0..<blocks { dequantizeQ4_1(b + i * 20, y + i * 32) }
    case .q5_0: for i in 0..<blocks { dequantizeQ5_0(b + i * 22, y + i * 32) }
    case .q5_1: for i in 0..<blocks { dequantizeQ5_1(b + i * 24, y + i * 32) }
    case .q8_0: for i in 0..<blocks { dequantizeQ8_0(b + i * 34, y + i * 32) }
    case .q4_K: for i in 0..<blocks { dequantizeQ4_K(b + i * 144, y + i * 256) }
    case .q5_K: for i in 0..<blocks { dequantizeQ5_K(b + i * 176, y + i * 256) }
    case .q6_K: for i in 0..<blocks { dequantizeQ6_K(b + i * 210, y + i * 256) }
    case .q2_K: for i in 0..<blocks { dequantizeQ2_K(b + i * 84, y + i * 256) }
    case .q3_K: for i in 0..<blocks { dequantizeQ3_K(b + i * 110, y + i * 256) }
    case .q8_1, .q8_K: return false
    }
    return true
}

@inline(__always) func u16(_ b: UnsafeRawPointer, _ offset: Int) -> UInt16 {
    UInt16(littleEndian: b.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
}
@inline(__always) func byte(_ b: UnsafeRawPointer, _ offset: Int) -> Int { Int(b.load(fromByteOffset: offset, as: UInt8.self)) }

// MARK: - Legacy 32-element blocks

/// { f16 d; u8 qs[16] }
func dequantizeQ4_0(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
    let d = halfToFloat(u16(b, 0))
    for j in 0..<16 {
        let q = byte(b, 2 + j)
        y[j] = Float((q & 0xF) - 8) * d
        y[j + 16] = Float((q >> 4) - 8) * d
    }
}

/// { f16 d; f16 m; u8 qs[16] }
func dequantizeQ4_1(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
    let d = halfToFloat(u16(b, 0)), m = halfToFloat(u16(b, 2))
    for j in 0..<16 {
        let q = byte(b, 4 + j)
        y[j] = Float(q & 0xF) * d + m
        y[j + 16] = Float(q >> 4) * d + m
    }
}

/// { f16 d; u8 qh[4]; u8 qs[16] }: bit j of qh is the fifth bit of element j.
func dequantizeQ5_0(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
    let d = halfToFloat(u16(b, 0))
    let qh = UInt32(littleEndian: b.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
    for j in 0..<16 {
        let q = byte(b, 6 + j)
        let high0 = Int((qh >> UInt32(j)) & 1) << 4, high1 = Int((qh >> UInt32(j + 16)) & 1) << 4
        y[j] = Float(((q & 0xF) | high0) - 16) * d
        y[j + 16] = Float(((q >> 4) | high1) - 16) * d
    }
}

/// { f16 d; f16 m; u8 qh[4]; u8 qs[16] }
func dequantizeQ5_1(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
    let d = halfToFloat(u16(b, 0)), m = halfToFloat(u16(b, 2))
    let qh = UInt32(littleEndian: b.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
    for j in 0..<16 {
        let q = byte(b, 8 + j)
        let high0 = Int((qh >> UInt32(j)) & 1) << 4, high1 = Int((qh >> UInt32(j + 16)) & 1) << 4
        y[j] = Float((q & 0xF) | high0) * d + m
        y[j + 16] = Float((q >> 4) | high1) * d + m
    }
}

/// { f16 d; i8 qs[32] }
func dequantizeQ8_0(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
    let d = halfToFloat(u16(b, 0))
    for j in 0..<32 { y[j] = Float(Int8(bitPattern: UInt8(byte(b, 2 + j)))) * d }
}

// MARK: - K-quants, 256-element super-blocks

/// { u8 scales[16]; u8 qs[64]; f16 d; f16 dmin }. Element 128c + 32s + l is bits 2s of byte 32c + l;
/// its sub-block of 16 (8c + 2s + l/16) has scale and min in the low and high nibble of scales[…].
func dequantizeQ2_K(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
    let d = halfToFloat(u16(b, 80)), dmin = halfToFloat(u16(b, 82))
    let scales = b, qs = b + 16
    for element in 0..<256 {
        let (c, s, l) = (element / 128, (element / 32) % 4, element % 32)
        let packed = byte(scales, element / 16)
        let dl = d * Float(packed & 0xF), ml = dmin * Float(packed >> 4)
        y[element] = dl * Float((byte(qs, 32 * c + l) >> (2 * s)) & 3) - ml
    }
}

/// { u8 hmask[32]; u8 qs[64]; u8 scales[12]; f16 d }. Quants as Q2_K's; element 128c + 32s + l takes
/// 4 off its value when bit 4c + s of hmask[l] is clear. Sub-block i's 6-bit scale: the low nibble of
/// scales[i] (i < 8) or the high nibble of scales[i − 8], and bits 2(i/4) of scales[8 + i % 4] on top.
func dequantizeQ3_K(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
    let hmask = b, qs = b + 32
    for element in 0..<256 {
        let (c, s, l) = (element / 128, (element / 32) % 4, element % 32)
        let low = (byte(qs, 32 * c + l) >> (2 * s)) & 3
        let high = (byte(hmask, l) >> (4 * c + s)) & 1
        y[element] = q3KScale(b, element / 16) * Float(low - (high == 0 ? 4 : 0))
    }
}

/// The scale of a Q3_K block's sub-block i, d·(6-bit scale − 32).
@inline(__always)
func q3KScale(_ b: UnsafeRawPointer, _ i: Int) -> Float {
    let d = halfToFloat(u16(b, 108)), packed = b + 96
    let low = i < 8 ? byte(packed, i) & 0xF : byte(packed, i - 8) >> 4
    let high = (byte(packed, 8 + i % 4) >> (2 * (i / 4))) & 3
    return d * Float(Int8(truncatingIfNeeded: low | (high << 4)) &- 32)
}

/// The 6-bit scale and min of sub-block j, packed in 12 bytes (ggml's get_scale_min_k4).
@inline(__always)
func scaleMinK4(_ j: Int, _ q: UnsafeRawPointer) -> (scale: Float, min: Float) {
    if j < 4 {
        return (Float(byte(q, j) & 63), Float(byte(q, j + 4) & 63))
    }
    let scale = (byte(q, j + 4) & 0xF) | ((byte(q, j - 4) >> 6) << 4)
    let min = (byte(q, j + 4) >> 4) | ((byte(q, j) >> 6) << 4)
    return (Float(scale), Float(min))
}

/// { f16 d; f16 dmin; u8 scales[12]; u8 qs[128] }
func dequantizeQ4_K(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
    let d = halfToFloat(u16(b, 0)), dmin = halfToFloat(u16(b, 2))
    let scales = b + 4, qs = b + 16
    for chunk in 0..<4 {   // 64 elements: sub-blocks 2c (low nibbles) and 2c+1 (high nibbles) of 32 bytes
        let (sc1, m1) = scaleMinK4(2 * chunk, scales), (sc2, m2) = scaleMinK4(2 * chunk + 1, scales)
        let d1 = d * sc1, min1 = dmin * m1, d2 = d * sc2, min2 = dmin * m2
        let q = qs + 32 * chunk, out = y + 64 * chunk
        for l in 0..<32 {
            out[l] = d1 * Float(byte(q, l) & 0xF) - min1
            out[l + 32] = d2 * Float(byte(q, l) >> 4) - min2
        }
    }
}

/// { f16 d; f16 dmin; u8 scales[12]; u8 qh[32]; u8 qs[128] }
func dequantizeQ5_K(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
    let d = halfToFloat(u16(b, 0)), dmin = halfToFloat(u16(b, 2))
    let scales = b + 4, qh = b + 16, qs = b + 48
    for chunk in 0..<4 {
        let (sc1, m1) = scaleMinK4(2 * chunk, scales), (sc2, m2) = scaleMinK4(2 * chunk + 1, scales)
        let d1 = d * sc1, min1 = dmin * m1, d2 = d * sc2, min2 = dmin * m2
        let bit1 = 1 << (2 * chunk), bit2 = 1 << (2 * chunk + 1)
        let q = qs + 32 * chunk, out = y + 64 * chunk
        for l in 0..<32 {
            let high = byte(qh, l)
            out[l] = d1 * Float((byte(q, l) & 0xF) + (high & bit1 != 0 ? 16 : 0)) - min1
            out[l + 32] = d2 * Float((byte(q, l) >> 4) + (high & bit2 != 0 ? 16 : 0)) - min2
        }
    }
}

/// { u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d }
func dequantizeQ6_K(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
    let d = halfToFloat(u16(b, 208))
    for half in 0..<2 {   // 128 elements each
        let ql = b + 64 * half, qh = b + 128 + 32 * half, sc = b + 192 + 8 * half, out = y + 128 * half
        for l in 0..<32 {
            let s = l / 16
            let low0 = byte(ql, l), low1 = byte(ql, l + 32), high = byte(qh, l)
            let q1 = ((low0 & 0xF) | (((high >> 0) & 3) << 4)) - 32
            let q2 = ((low1 & 0xF) | (((high >> 2) & 3) << 4)) - 32
            let q3 = ((low0 >> 4) | (((high >> 4) & 3) << 4)) - 32
            let q4 = ((low1 >> 4) | (((high >> 6) & 3) << 4)) - 32
            func scale(_ i: Int) -> Float { Float(Int8(bitPattern: UInt8(byte(sc, i)))) }
            out[l] = d * scale(s) * Float(q1)
            out[l + 32] = d * scale(s + 2) * Float(q2)
            out[l + 64] = d * scale(s + 4) * Float(q3)
            out[l + 96] = d * scale(s + 6) * Float(q4)
        }
    }
}

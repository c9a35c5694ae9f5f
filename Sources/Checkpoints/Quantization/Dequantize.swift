import CBlockKernels

// ----------------------------------------------------------------------------------------------------
// Dequantization of ggml block formats to Float32, following ggml-quants.c's dequantize_row_* and the
// block structs of ggml-common.h. The decoders themselves are C (Sources/CBlockKernels), shared with
// the row products that read blocks in place. Within a 32-element block of the legacy formats, byte j
// holds element j in its low nibble and element j + 16 in its high nibble.
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
public func dequantize(_ type: GGMLType, _ bytes: UnsafeRawBufferPointer, count: Int,
                       tensor: String = "") throws(GGUFError) -> [Float] {
    guard type.byteCount(elements: count) == bytes.count else {
        throw .writerMismatch(
            "tensor '\(tensor)' has \(bytes.count) bytes, " +
                "not the \(type.byteCount(elements: count) ?? -1) that \(count) \(type.name) elements take")
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
public func dequantizeElements(_ type: GGMLType, from b: UnsafeRawPointer, count: Int,
                               into y: UnsafeMutablePointer<Float>) -> Bool {
    switch type {
    case .f32:
        for i in 0..<count {
            y[i] = Float(bitPattern: UInt32(littleEndian: b.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
        }
    case .f64:
        for i in 0..<count {
            y[i] = Float(Double(bitPattern: UInt64(
                littleEndian: b.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))))
        }
    case .i8: for i in 0..<count { y[i] = Float(Int8(bitPattern: b.load(fromByteOffset: i, as: UInt8.self))) }
    case .i16: for i in 0..<count { y[i] = Float(Int16(bitPattern: u16(b, 2 * i))) }
    case .i32:
        for i in 0..<count {
            y[i] = Float(Int32(bitPattern: UInt32(
                littleEndian: b.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))))
        }
    case .i64:
        for i in 0..<count {
            y[i] = Float(Int64(littleEndian: b.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)))
        }
    case .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K:
        // One dequantizer for all of Scalpel, shared with the row products (CBlockKernels).
        return scalpel_dequantize(Int32(type.rawValue), b, Int64(count), y) == 1
    case .q8_1, .q8_K: return false
    }
    return true
}

@inline(__always) func u16(_ b: UnsafeRawPointer, _ offset: Int) -> UInt16 {
    UInt16(littleEndian: b.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
}
@inline(__always) func byte(_ b: UnsafeRawPointer, _ offset: Int) -> Int {
    Int(b.load(fromByteOffset: offset, as: UInt8.self))
}

// MARK: - K-quant scales, which the on-grid writer reads (OnGrid.swift)

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

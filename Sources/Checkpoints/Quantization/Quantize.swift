#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

// ----------------------------------------------------------------------------------------------------
// Quantization of Float32 back into the block formats an edited row is written in, following
// ggml-quants.c's reference quantizers (quantize_row_*_ref) step for step, including their rounding:
//
//   Q8_0  d = max|x| / 127;  q = round(x / d)
//   Q4_0  d = x_absmax / −8 (signed: the element of largest magnitude maps to −8);  q = min(15, trunc(x/d + 8.5))
//   Q4_1  d = (max − min) / 15, m = min;  q = min(15, trunc((x − min)/d + 0.5))
//   Q5_0  d = x_absmax / −16;  q = min(31, trunc(x/d + 16.5)), fifth bit into qh
//   Q5_1  d = (max − min) / 31, m = min;  q = trunc((x − min)/d + 0.5), fifth bit into qh
//
// d and m are stored as f16 (round to nearest even); the quants are computed with the Float32 d, as
// ggml does. Rounding an all-zero block gives d = 0 and zero quants. trunc is C's float-to-int
// conversion as x86 does it (cvttss2si): a NaN or a value beyond Int32 gives Int32.min, whose low byte
// is 0; it only happens when 1/d overflows (d subnormal), and ggml's quants then come out the same.
// The K-quants (Q2_K…Q6_K), which search for their scales, are in QuantizeK.swift.

/// Quantizes `values` (a whole number of blocks) into `type`'s bytes.
public func quantize(_ values: [Float], to type: GGMLType) throws(GGUFError) -> [UInt8] {
    guard values.count % type.blockSize == 0 else {
        throw .writerMismatch("\(values.count) values are not whole blocks of \(type.name) (\(type.blockSize))")
    }
    if let bad = values.firstIndex(where: { !$0.isFinite }) {
        throw .writerMismatch("value \(bad) is \(values[bad]); only finite values can be quantized")
    }
    let blocks = values.count / type.blockSize
    var out = [UInt8](repeating: 0, count: blocks * type.blockBytes)
    let supported = values.withUnsafeBufferPointer { x in
        out.withUnsafeMutableBytes { y -> Bool in
            let x = x.baseAddress ?? UnsafePointer(bitPattern: 8)!,
                y = y.baseAddress ?? UnsafeMutableRawPointer(bitPattern: 8)!
            switch type {
            case .f32:
                for i in 0..<values.count {
                    y.storeBytes(of: x[i].bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self)
                }
            case .f16:
                for i in 0..<values.count {
                    y.storeBytes(of: floatToHalf(x[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self)
                }
            case .bf16:
                for i in 0..<values.count {
                    y.storeBytes(of: floatToBFloat16(x[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self)
                }
            case .q8_0: for i in 0..<blocks { quantizeQ8_0(x + 32 * i, y + 34 * i) }
            case .q4_0: for i in 0..<blocks { quantizeQ4_0(x + 32 * i, y + 18 * i) }
            case .q4_1: for i in 0..<blocks { quantizeQ4_1(x + 32 * i, y + 20 * i) }
            case .q5_0: for i in 0..<blocks { quantizeQ5_0(x + 32 * i, y + 22 * i) }
            case .q5_1: for i in 0..<blocks { quantizeQ5_1(x + 32 * i, y + 24 * i) }
            case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K: quantizeK(type, x, blocks: blocks, y)
            default: return false
            }
            return true
        }
    }
    guard supported else {
        throw .writerMismatch("quantizing to \(type.name) is not supported; write Q8_0, Q5_0, Q5_1, Q4_0, Q4_1, "
                              + "Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, F16, BF16 or F32")
    }
    return out
}

/// C's conversion of a float to int as x86 does it (cvttss2si): toward zero, and Int32.min for a NaN or
/// a value beyond Int32, where Swift's Int(_:) would trap.
@inline(__always) func truncatedLikeC(_ v: Float) -> Int {
    v > -2_147_483_904 && v < 2_147_483_648 ? Int(v) : Int(Int32.min)
}

@inline(__always) func storeHalf(_ y: UnsafeMutableRawPointer, _ offset: Int, _ value: Float) {
    y.storeBytes(of: floatToHalf(value).littleEndian, toByteOffset: offset, as: UInt16.self)
}

/// The element of largest magnitude, with its sign (ggml keeps the first one on ties).
@inline(__always) private func signedAbsMax(_ x: UnsafePointer<Float>) -> Float {
    var amax: Float = 0, max: Float = 0
    for j in 0..<32 where abs(x[j]) > amax {
        amax = abs(x[j])
        max = x[j]
    }
    return max
}

/// The block's least and greatest values, kept on ties as ggml keeps them (so 0 and −0 give ggml's zeros;
/// Swift.max would take the later of two equal values).
@inline(__always) private func minMax(_ x: UnsafePointer<Float>) -> (Float, Float) {
    var minimum = Float.greatestFiniteMagnitude, maximum = -Float.greatestFiniteMagnitude
    for j in 0..<32 {
        if x[j] < minimum { minimum = x[j] }
        if x[j] > maximum { maximum = x[j] }
    }
    return (minimum, maximum)
}

func quantizeQ8_0(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
    var amax: Float = 0
    for j in 0..<32 { amax = Swift.max(amax, abs(x[j])) }
    let d = amax / 127
    let id: Float = d != 0 ? 1 / d : 0
    storeHalf(y, 0, d)
    for j in 0..<32 {
        let q = Int8(truncatingIfNeeded: truncatedLikeC(roundf(x[j] * id)))
        y.storeBytes(of: q, toByteOffset: 2 + j, as: Int8.self)
    }
}

func quantizeQ4_0(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
    let d = signedAbsMax(x) / -8
    let id: Float = d != 0 ? 1 / d : 0
    storeHalf(y, 0, d)
    for j in 0..<16 {
        let q0 = Swift.min(15, Int(Int8(truncatingIfNeeded: truncatedLikeC(x[j] * id + 8.5))))
        let q1 = Swift.min(15, Int(Int8(truncatingIfNeeded: truncatedLikeC(x[j + 16] * id + 8.5))))
        y.storeBytes(of: UInt8(q0 | (q1 << 4)), toByteOffset: 2 + j, as: UInt8.self)
    }
}

func quantizeQ4_1(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
    let (minimum, maximum) = minMax(x)
    let d = (maximum - minimum) / 15
    let id: Float = d != 0 ? 1 / d : 0
    storeHalf(y, 0, d)
    storeHalf(y, 2, minimum)
    for j in 0..<16 {
        let q0 = Swift.min(15, Int(Int8(truncatingIfNeeded: truncatedLikeC((x[j] - minimum) * id + 0.5))))
        let q1 = Swift.min(15, Int(Int8(truncatingIfNeeded: truncatedLikeC((x[j + 16] - minimum) * id + 0.5))))
        y.storeBytes(of: UInt8(q0 | (q1 << 4)), toByteOffset: 4 + j, as: UInt8.self)
    }
}

func quantizeQ5_0(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
    let d = signedAbsMax(x) / -16
    let id: Float = d != 0 ? 1 / d : 0
    storeHalf(y, 0, d)
    var qh: UInt32 = 0
    for j in 0..<16 {
        let q0 = Swift.min(31, Int(Int8(truncatingIfNeeded: truncatedLikeC(x[j] * id + 16.5))))
        let q1 = Swift.min(31, Int(Int8(truncatingIfNeeded: truncatedLikeC(x[j + 16] * id + 16.5))))
        y.storeBytes(of: UInt8((q0 & 0xF) | ((q1 & 0xF) << 4)), toByteOffset: 6 + j, as: UInt8.self)
        qh |= UInt32((q0 & 0x10) >> 4) << UInt32(j)
        qh |= UInt32((q1 & 0x10) >> 4) << UInt32(j + 16)
    }
    y.storeBytes(of: qh.littleEndian, toByteOffset: 2, as: UInt32.self)
}

func quantizeQ5_1(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
    let (minimum, maximum) = minMax(x)
    let d = (maximum - minimum) / 31
    let id: Float = d != 0 ? 1 / d : 0
    storeHalf(y, 0, d)
    storeHalf(y, 2, minimum)
    var qh: UInt32 = 0
    for j in 0..<16 {
        // No clamp, as in ggml: (x − min)/d ≤ 31 up to rounding, so the code stays ≤ 31.
        let q0 = Int(UInt8(truncatingIfNeeded: truncatedLikeC((x[j] - minimum) * id + 0.5)))
        let q1 = Int(UInt8(truncatingIfNeeded: truncatedLikeC((x[j + 16] - minimum) * id + 0.5)))
        y.storeBytes(of: UInt8((q0 & 0xF) | ((q1 & 0xF) << 4)), toByteOffset: 8 + j, as: UInt8.self)
        qh |= UInt32((q0 & 0x10) >> 4) << UInt32(j)
        qh |= UInt32((q1 & 0x10) >> 4) << UInt32(j + 16)
    }
    y.storeBytes(of: qh.littleEndian, toByteOffset: 4, as: UInt32.self)
}

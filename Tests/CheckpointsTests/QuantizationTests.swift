import Foundation
import Testing
import Checkpoints
import TensorCore
import TestSupport

/// Builds a block: f16 fields are given as raw bits.
private func bytes(_ parts: [[UInt8]]) -> [UInt8] { parts.flatMap { $0 } }
private func half(_ bits: UInt16) -> [UInt8] { [UInt8(bits & 0xFF), UInt8(bits >> 8)] }
private func deq(_ type: GGMLType, _ block: [UInt8], _ count: Int) throws -> [Float] {
    try block.withUnsafeBytes { try dequantize(type, $0, count: count) }
}

/// One handcrafted block per type, with values worked out by hand from ggml-common.h's layouts.
@Suite struct HandcraftedBlockTests {
    @Test func q8_0() throws {
        // d = 0.5; qs = 1, −2, 127, −128, 0…
        let y = try deq(.q8_0, bytes([half(0x3800), [1, 0xFE, 0x7F, 0x80], [UInt8](repeating: 0, count: 28)]), 32)
        #expect(Array(y.prefix(5)) == [0.5, -1, 63.5, -64, 0])
    }

    @Test func q4_0() throws {
        // d = 1; byte 0 = 0x9F: element 0 = 15 − 8, element 16 = 9 − 8; byte 1 = 0x08: element 1 = 0, element 17 = −8
        let y = try deq(.q4_0, bytes([half(0x3C00), [0x9F, 0x08], [UInt8](repeating: 0x88, count: 14)]), 32)
        #expect(y[0] == 7 && y[16] == 1 && y[1] == 0 && y[17] == -8 && y[2] == 0 && y[31] == 0)
    }

    @Test func q4_1() throws {
        // d = 0.5, m = −1; byte 0 = 0x3A: element 0 = 10·0.5 − 1, element 16 = 3·0.5 − 1
        let y = try deq(.q4_1, bytes([half(0x3800), half(0xBC00), [0x3A], [UInt8](repeating: 0, count: 15)]), 32)
        #expect(y[0] == 4 && y[16] == 0.5 && y[1] == -1 && y[31] == -1)
    }

    @Test func q5_0() throws {
        // d = 1; qh bits 0 and 16; byte 0 = 0x21: element 0 = (1|16) − 16, element 16 = (2|16) − 16; element 1 = −16
        let y = try deq(.q5_0, bytes([half(0x3C00), [0x01, 0x00, 0x01, 0x00], [0x21], [UInt8](repeating: 0, count: 15)]), 32)
        #expect(y[0] == 1 && y[16] == 2 && y[1] == -16 && y[17] == -16)
    }

    @Test func q5_1() throws {
        // d = 0.5, m = 1; qh bit 1; byte 1 = 0x03: element 1 = (3|16)·0.5 + 1; element 17 = 1
        let y = try deq(.q5_1, bytes([half(0x3800), half(0x3C00), [0x02, 0, 0, 0], [0x00, 0x03], [UInt8](repeating: 0, count: 14)]), 32)
        #expect(y[1] == 10.5 && y[17] == 1 && y[0] == 1)
    }

    /// d = 1, dmin = 0.5. Scales: sub-block 0 (sc 2, min 3), 1 (sc 1, min 4), 5 (sc 5 | 1<<4 = 21, min 2),
    /// using the upper two bits of scales[1] for sub-block 5's scale, as get_scale_min_k4 does.
    static let kScales: [UInt8] = [2, 0x41, 0, 0, 3, 4, 0, 0, 0, 0x25, 0, 0]

    @Test func q4_K() throws {
        var qs = [UInt8](repeating: 0, count: 128)
        qs[0] = 0x73
        qs[64] = 0x90
        let y = try deq(.q4_K, bytes([half(0x3C00), half(0x3800), Self.kScales, qs]), 256)
        #expect(y[0] == 4.5)      // 1·2·3 − 0.5·3
        #expect(y[32] == 5)       // 1·1·7 − 0.5·4
        #expect(y[1] == -1.5 && y[33] == -2)
        #expect(y[128] == 0)      // sub-block 4: scale 0, min 0
        #expect(y[160] == 188)    // 1·21·9 − 0.5·2
    }

    @Test func q5_K() throws {
        var qs = [UInt8](repeating: 0, count: 128), qh = [UInt8](repeating: 0, count: 32)
        qs[0] = 0x73
        qs[64] = 0x90
        qh[0] = 0x23              // bits 0, 1: fifth bits of elements 0 and 32; bit 5: of element 160
        let y = try deq(.q5_K, bytes([half(0x3C00), half(0x3800), Self.kScales, qh, qs]), 256)
        #expect(y[0] == 36.5)     // 2·(3 + 16) − 1.5
        #expect(y[32] == 21)      // 1·(7 + 16) − 2
        #expect(y[160] == 524)    // 21·(9 + 16) − 1
        #expect(y[1] == -1.5)
    }

    @Test func q6_K() throws {
        var ql = [UInt8](repeating: 0, count: 128), qh = [UInt8](repeating: 0, count: 64)
        ql[0] = 0x21
        ql[32] = 0x05
        qh[0] = 0xE4              // 2-bit fields 00, 01, 10, 11 for elements 0, 32, 64, 96
        var scales = [UInt8](repeating: 0, count: 16)
        scales[0] = 2; scales[1] = 4; scales[2] = 0xFF; scales[4] = 3; scales[6] = 1   // 0xFF is −1
        let y = try deq(.q6_K, bytes([ql, qh, scales, half(0x3800)]), 256)
        #expect(y[0] == -31)      // 0.5·2·(1 − 32)
        #expect(y[32] == 5.5)     // 0.5·(−1)·((5 | 16) − 32)
        #expect(y[64] == 3)       // 0.5·3·((2 | 32) − 32)
        #expect(y[96] == 8)       // 0.5·1·((0 | 48) − 32)
        #expect(y[16] == -64)     // 0.5·4·(0 − 32)
        #expect(y[200] == 0)      // second half: scales 0
    }

    @Test func floatTypes() throws {
        #expect(try deq(.f16, bytes([half(0x3C00), half(0xC000), half(0x7BFF), half(0x0001)]), 4) == [1, -2, 65504, 0x1p-24])
        #expect(try deq(.bf16, bytes([half(0x3F80), half(0xC040)]), 2) == [1, -3])
        #expect(try deq(.f32, [0, 0, 0x80, 0x3F], 1) == [1])
    }

    @Test func wrongByteCountIsAnError() {
        #expect(throws: GGUFError.self) { try deq(.q8_0, [UInt8](repeating: 0, count: 33), 32) }
    }

    // MARK: - Quantizing

    @Test func quantizeHandcrafted() throws {
        var x = [Float](repeating: 0, count: 32)
        x[0] = 127; x[1] = -63.5
        #expect(try quantize(x, to: .q8_0) == [0x00, 0x3C, 0x7F, 0xC0] + [UInt8](repeating: 0, count: 30))

        x = [Float](repeating: 0, count: 32); x[0] = -8; x[16] = 7; x[1] = 0.4
        #expect(try quantize(x, to: .q4_0) == [0x00, 0x3C, 0xF0] + [UInt8](repeating: 0x88, count: 15))

        x = [Float](repeating: 0, count: 32); x[1] = 15
        #expect(try quantize(x, to: .q4_1) == [0x00, 0x3C, 0x00, 0x00, 0x00, 0x0F] + [UInt8](repeating: 0, count: 14))

        x = [Float](repeating: 0, count: 32); x[0] = -16; x[16] = 15
        #expect(try quantize(x, to: .q5_0) == [0x00, 0x3C, 0xFE, 0xFF, 0xFF, 0xFF, 0xF0] + [UInt8](repeating: 0, count: 15))
    }

    @Test func nonFiniteValuesAreRefused() {
        var x = [Float](repeating: 0, count: 32)
        x[3] = .nan
        #expect(throws: GGUFError.self) { try quantize(x, to: .q8_0) }
    }
}

@Suite struct QuantizationRoundTripTests {
    /// Round-trip error bound per block, from the quantizer's definition:
    /// - Q8_0: rounding to the nearest step d = amax/127 errs by ≤ d/2; f16 storage of d adds ≤ 127·|d|·2⁻¹¹.
    /// - Q4_0, Q5_0: steps of |d| = amax/8 (amax/16); round-half-up errs by ≤ |d|/2, except that the element
    ///   of largest magnitude's opposite extreme clamps at 15 (31) and may err by a whole |d|.
    /// - Q4_1: step d = (max − min)/15 errs by ≤ d/2, plus f16 rounding of d (×15) and of m.
    static func bound(_ type: GGMLType, _ block: ArraySlice<Float>) -> Float {
        let amax = block.map(abs).max()!, lo = block.min()!, hi = block.max()!
        let f16 = Float(0x1p-11)
        switch type {
        case .q8_0: return amax / 127 / 2 + amax * f16 * 1.01
        case .q4_0: return amax / 8 * (1 + 16 * f16)
        case .q5_0: return amax / 16 * (1 + 32 * f16)
        case .q4_1: return (hi - lo) / 15 / 2 + (hi - lo) * f16 * 1.01 + abs(lo) * f16
        case .f16: return amax * f16
        case .bf16: return amax * 0x1p-8
        default: return 0
        }
    }

    @Test(arguments: [GGMLType.q8_0, .q4_0, .q4_1, .q5_0, .f16, .bf16])
    func roundTripStaysWithinTheFormatsBound(_ type: GGMLType) throws {
        var rng = SeededRandom(seed: 11)
        let values = (0..<(32 * 200)).map { i in Float(rng.nextGaussian()) * (i < 3200 ? 0.05 : 3) }
        let packed = try quantize(values, to: type)
        #expect(packed.count == type.byteCount(elements: values.count))
        let back = try deq(type, packed, values.count)
        for block in 0..<200 {
            let range = (32 * block)..<(32 * block + 32)
            let limit = Self.bound(type, values[range])
            for i in range { #expect(abs(back[i] - values[i]) <= limit, "\(type) element \(i): \(values[i]) → \(back[i]), bound \(limit)") }
        }
    }

    /// Requantizing the dequantized values of an untouched block gives its bytes back. This holds for the
    /// symmetric formats, because the block's extreme value dequantizes to exactly ±127·d (−8·d, −16·d), so
    /// the requantizer finds the same d, and every other value is an exact multiple of it.
    /// For Q4_1 it is not guaranteed: d is recomputed as ((15·d + m) − m)/15 in Float32, which can differ
    /// from d in the last bit, and the f16 rounding of that may land on the neighbouring half. The test
    /// measures how often blocks still reproduce, and the editor therefore never requantizes untouched
    /// Q4_1 blocks: it copies their bytes.
    @Test(arguments: [GGMLType.q8_0, .q4_0, .q5_0])
    func requantizingAnUntouchedBlockReproducesItsBytes(_ type: GGMLType) throws {
        var rng = SeededRandom(seed: 12)
        let values = (0..<(32 * 500)).map { _ in Float(rng.nextGaussian()) * 0.1 }
        let packed = try quantize(values, to: type)
        let again = try quantize(try deq(type, packed, values.count), to: type)
        #expect(again == packed)
    }

    @Test func q4_1RequantizationIsMostlyButNotAlwaysExact() throws {
        var rng = SeededRandom(seed: 13)
        let values = (0..<(32 * 2000)).map { _ in Float(rng.nextGaussian()) * 0.1 }
        let packed = try quantize(values, to: .q4_1)
        let again = try quantize(try deq(.q4_1, packed, values.count), to: .q4_1)
        let same = (0..<2000).filter { b in packed[(20 * b)..<(20 * b + 20)] == again[(20 * b)..<(20 * b + 20)] }.count
        // Recorded so a change in the quantizer shows up; the editor does not rely on it.
        #expect(same > 1000, "only \(same) of 2000 Q4_1 blocks requantize to their own bytes")
    }

    @Test func halfConversionsMatchSwiftFloat16() {
        #if arch(x86_64) || arch(arm64)
        for bits in UInt16.min...UInt16.max {
            let expected = Float(Float16(bitPattern: bits))
            let actual = halfToFloat(bits)
            #expect(actual.bitPattern == expected.bitPattern || (actual.isNaN && expected.isNaN))
        }
        var rng = SeededRandom(seed: 14)
        for _ in 0..<200_000 {
            let x = Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()))
            if x.isNaN { continue }
            #expect(floatToHalf(x) == Float16(x).bitPattern, "\(x)")
        }
        #endif
    }
}

/// Every block format against gguf-py's dequantization (llama.cpp's own Python package) on random
/// blocks, bit for bit (Tests/Fixtures/generate/dequantize_reference.py).
@Suite struct DequantizeReferenceTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let type: String, count: Int, bytes: [UInt8], bits: [UInt32]
        var testDescription: String { type }
    }

    static let cases: [Case] = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/dequantize_reference.json")
        guard let data = try? Data(contentsOf: url),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let cases = json["cases"] as? [[String: Any]] else { return [] }
        return cases.map { c in
            let hex = Array((c["bytes"] as! String).utf8)
            let bytes = stride(from: 0, to: hex.count, by: 2).map { UInt8(String(decoding: hex[$0..<($0 + 2)], as: UTF8.self), radix: 16)! }
            return Case(type: c["type"] as! String, count: c["count"] as! Int, bytes: bytes,
                        bits: (c["float_bits"] as! [NSNumber]).map { $0.uint32Value })
        }
    }()

    @Test func everyFormatHasItsCase() { #expect(Self.cases.count == 10) }

    /// A format Scalpel cannot read is refused with the tensor and the type, never read as another.
    @Test func unreadFormatsAreRefusedByName() {
        let block = [UInt8](repeating: 0, count: GGMLType.q8_K.byteCount(elements: 256) ?? 0)
        do {
            _ = try block.withUnsafeBytes { try dequantize(.q8_K, $0, count: 256, tensor: "blk.0.ffn_up.weight") }
            Issue.record("Q8_K was read")
        } catch {
            #expect("\(error)".contains("Q8_K") && "\(error)".contains("blk.0.ffn_up.weight"), "\(error)")
        }
    }

    @Test(arguments: cases)
    func matchesGGUFPy(_ c: Case) throws {
        let type = try #require(GGMLType.allCases.first { $0.name == c.type })
        let values = try c.bytes.withUnsafeBytes { try dequantize(type, $0, count: c.count) }
        let mismatches = zip(values.map(\.bitPattern), c.bits).enumerated().filter { $0.element.0 != $0.element.1 }
        #expect(mismatches.isEmpty, "\(c.type): \(mismatches.count) of \(c.count) differ, first at \(mismatches.first?.offset ?? -1)")
    }
}

import Testing
import Foundation
import CBlockKernels
import TensorCore

/// Products in bfloat16 (bf16_kernels.h): the rounding and the sums follow their definition, written here
/// a second time in Swift, and the avx512bf16 path gives the scalar reference's bits where it runs.
@Suite struct BFloatKernelTests {
    static let avx512bf16 = Int32(SCALPEL_PATH_AVX512BF16), scalar = Int32(SCALPEL_PATH_SCALAR)

    static func rounded(_ x: [Float]) -> [UInt16] {
        var out = [UInt16](repeating: 0, count: x.count)
        scalpel_bf16_round(x, Int64(x.count), &out)
        return out
    }

    /// The nearer of the two bfloat16 values around x (toward and away from zero), ties to the even one:
    /// by distance, not by bits.
    static func nearest(_ x: Float) -> Float {
        if x.isInfinite { return x }
        let low = Float(bitPattern: x.bitPattern & 0xFFFF_0000)
        let high = Float(bitPattern: (x.bitPattern & 0xFFFF_0000) + 0x1_0000)
        let below = abs(Double(x) - Double(low)), above = abs(Double(high) - Double(x))
        if below != above { return below < above ? low : high }
        return (low.bitPattern >> 16) & 1 == 0 ? low : high
    }

    @Test func roundingIsToTheNearestEven() {
        var rng = SeededRandom(seed: 3)
        var x: [Float] = [0, -0, 1, -1, .infinity, -.infinity, .leastNonzeroMagnitude, -.leastNormalMagnitude,
                          Float(bitPattern: 0x3F80_8000), Float(bitPattern: 0x3F81_8000), Float(bitPattern: 0x3F80_7FFF),
                          Float(bitPattern: 0x007F_FFFF), Float(bitPattern: 0x8000_8000)]
        for _ in 0..<20_000 {
            let bits = UInt32(truncatingIfNeeded: rng.next())
            let value = Float(bitPattern: bits)
            if value.isFinite && abs(value) < 3e38 { x.append(value) }
        }
        let out = Self.rounded(x)
        for (value, h) in zip(x, out) {
            let got = Float(bitPattern: UInt32(h) << 16)
            #expect(got.bitPattern == Self.nearest(value).bitPattern, "\(value.bitPattern): \(h)")
            if got.bitPattern != Self.nearest(value).bitPattern { return }
        }
        let nans = Self.rounded([.nan, -.nan, Float(bitPattern: 0x7F80_0001), Float(bitPattern: 0xFFC0_0001)])
        #expect(nans.allSatisfy { $0 & 0x7FC0 == 0x7FC0 }, "NaNs stay quiet NaNs: \(nans)")
        #expect(nans[1] & 0x8000 != 0 && nans[0] & 0x8000 == 0, "and keep their sign")
    }

    /// The definition, in Swift: value() counts subnormals as zeros, flush() after each fused step.
    static func definition(_ w: ArraySlice<UInt16>, _ x: ArraySlice<UInt16>) -> Float {
        func value(_ h: UInt16) -> Float {
            let v = Float(bitPattern: UInt32(h) << 16)
            return v.isSubnormal ? (v.sign == .minus ? -0.0 : 0.0) : v
        }
        func flush(_ z: Float) -> Float { z.isSubnormal ? (z.sign == .minus ? -0.0 : 0.0) : z }
        let (w, x) = (Array(w), Array(x))
        var lane = [Float](repeating: 0, count: 16)
        for p in 0..<(w.count / 2) {
            lane[p % 16] = flush(lane[p % 16].addingProduct(value(w[2 * p + 1]), value(x[2 * p + 1])))
            lane[p % 16] = flush(lane[p % 16].addingProduct(value(w[2 * p]), value(x[2 * p])))
        }
        var s = 8
        while s >= 1 {
            for i in 0..<s { lane[i] = lane[i] + lane[i + s] }
            s /= 2
        }
        return lane[0]
    }

    /// bfloat16 values of every kind: ordinary, tiny (products that underflow, sums near the smallest
    /// normal), subnormal, zeros of both signs, and a wide range of magnitudes whose products stay finite
    /// (a NaN's payload may differ between paths, so no NaN is compared).
    static func values(_ count: Int, seed: UInt64) -> [UInt16] {
        var rng = SeededRandom(seed: seed)
        return (0..<count).map { i in
            let r = rng.next(), sign = UInt16(r & 1) << 15, mantissa = UInt16((r >> 8) & 0x7F)
            let exponent: UInt16 = switch (i / 64) % 5 {
            case 0: 120 + UInt16((r >> 20) % 16)
            case 1: UInt16((r >> 20) % 8)
            case 2: 60 + UInt16((r >> 20) % 10)
            case 3: (r >> 20) % 3 == 0 ? 0 : 127
            default: 64 + UInt16((r >> 20) % 127)      // wide, every product finite
            }
            return sign | exponent << 7 | ((r >> 16) % 7 == 0 ? 0 : mantissa)
        }
    }

    static func products(_ w: [UInt16], rows: Int, _ x: [UInt16], vectors: Int, k: Int, path: Int32) -> [UInt32]? {
        var y = [Float](repeating: .nan, count: rows * vectors)
        let done = scalpel_dot_rows_bf16(w, Int64(k), Int64(rows), x, Int64(k), Int64(vectors), Int64(k), &y,
                                         Int64(rows), path)
        return done == 1 ? y.map(\.bitPattern) : nil
    }

    /// Pairs whose sums land where flushing decides: 2⁻¹²⁶ − 2⁻¹⁵¹ rounds up to the smallest normal and
    /// stays (judged after rounding); 2⁻¹²⁶ − 2⁻¹⁴⁹ is subnormal and goes to zero.
    static let boundaries: (w: [UInt16], x: [UInt16]) = {
        func h(_ f: Float) -> UInt16 { UInt16(f.bitPattern >> 16) }
        var (w, x) = ([UInt16](repeating: 0, count: 64), [UInt16](repeating: 0, count: 64))
        // Lane 0: pair 0 puts 2⁻¹²⁶ (odd element), pair 16 adds −2⁻¹⁵¹.
        (w[1], x[1]) = (h(0x1p-63), h(0x1p-63))
        (w[33], x[33]) = (h(0x1p-75), h(-0x1p-76))
        // Lane 1: 2⁻¹²⁶, then −2⁻¹⁴⁹.
        (w[3], x[3]) = (h(0x1p-63), h(0x1p-63))
        (w[35], x[35]) = (h(0x1p-75), h(-0x1p-74))
        return (w, x)
    }()

    @Test func theReferenceIsTheDefinition() throws {
        let (rows, vectors, k) = (3, 4, 32 * 7)
        let w = Self.values(rows * k, seed: 7), x = Self.values(vectors * k, seed: 8)
        let y = try #require(Self.products(w, rows: rows, x, vectors: vectors, k: k, path: Self.scalar))
        var finite = 0
        for v in 0..<vectors {
            for r in 0..<rows {
                let expected = Self.definition(w[(r * k)..<((r + 1) * k)], x[(v * k)..<((v + 1) * k)])
                let got = Float(bitPattern: y[v * rows + r])
                #expect(got.bitPattern == expected.bitPattern || (expected.isNaN && got.isNaN), "row \(r) vector \(v)")
                if expected.isFinite { finite += 1 }
            }
        }
        #expect(finite == rows * vectors, "the inputs keep every product finite")
        let (bw, bx) = Self.boundaries
        let edge = try #require(Self.products(bw, rows: 1, bx, vectors: 1, k: 64, path: Self.scalar))
        #expect(edge[0] == Self.definition(bw[...], bx[...]).bitPattern)
    }

    /// The definition's own behaviour at the boundaries, lane by lane (one lane per output).
    @Test func flushingIsJudgedAfterRounding() {
        let (w, x) = Self.boundaries
        func lane(_ l: Int) -> Float {          // the definition restricted to lane l's pairs
            var (wl, xl) = ([UInt16](repeating: 0, count: 64), [UInt16](repeating: 0, count: 64))
            for p in stride(from: l, to: 32, by: 16) {
                (wl[2 * p], wl[2 * p + 1], xl[2 * p], xl[2 * p + 1]) = (w[2 * p], w[2 * p + 1], x[2 * p], x[2 * p + 1])
            }
            return Self.definition(wl[...], xl[...])
        }
        #expect(lane(0) == 0x1p-126, "rounds up to the smallest normal, kept")
        #expect(lane(1) == 0, "a subnormal sum, flushed")
        var y = [Float](repeating: .nan, count: 1)
        for (l, value) in [(0, Float(0x1p-126)), (1, 0)] {
            var (wl, xl) = ([UInt16](repeating: 0, count: 64), [UInt16](repeating: 0, count: 64))
            for p in stride(from: l, to: 32, by: 16) {
                (wl[2 * p], wl[2 * p + 1], xl[2 * p], xl[2 * p + 1]) = (w[2 * p], w[2 * p + 1], x[2 * p], x[2 * p + 1])
            }
            for path in [Self.scalar, Self.avx512bf16] where scalpel_kernel_path_available(path) == 1 {
                #expect(scalpel_dot_rows_bf16(wl, 64, 1, xl, 64, 1, 64, &y, 1, path) == 1)
                #expect(y[0].bitPattern == value.bitPattern, "lane \(l), path \(path)")
            }
        }
    }

    /// Rows and vectors that are not whole blocks of the kernel (4 × 3) nor of its vector block (48).
    @Test func everyPathEqualsTheReference() throws {
        let (rows, vectors, k) = (9, 53, 32 * 13)
        let w = Self.values(rows * k, seed: 11), x = Self.values(vectors * k, seed: 12)
        let reference = try #require(Self.products(w, rows: rows, x, vectors: vectors, k: k, path: Self.scalar))
        guard scalpel_kernel_path_available(Self.avx512bf16) == 1 else {
            print("bf16 kernels: path avx512bf16 not tested here: " +
                  String(cString: scalpel_kernel_path_missing(Self.avx512bf16)))
            #expect(Self.products(w, rows: rows, x, vectors: vectors, k: k, path: Self.avx512bf16) == nil)
            return
        }
        #expect(scalpel_bf16_instruction_agrees() == 1)
        let fast = try #require(Self.products(w, rows: rows, x, vectors: vectors, k: k, path: Self.avx512bf16))
        #expect(reference.allSatisfy { Float(bitPattern: $0).isFinite }, "no NaN compared")
        #expect(fast == reference, "avx512bf16 against the scalar reference")
    }

    @Test func whatTheKernelsCannotDoIsRefused() {
        let w = [UInt16](repeating: 0x3F80, count: 48), x = w
        var y = [Float](repeating: 0, count: 1)
        #expect(scalpel_dot_rows_bf16(w, 48, 1, x, 48, 1, 48, &y, 1, Self.scalar) == 0, "k not a multiple of 32")
        for path in [Int32(SCALPEL_PATH_AVX2), Int32(SCALPEL_PATH_AVX512), 7] {
            #expect(scalpel_dot_rows_bf16(w, 32, 1, x, 32, 1, 32, &y, 1, path) == 0, "path \(path) has no bf16 kernels")
        }
        #expect(scalpel_dot_rows_bf16(w, 32, 1, x, 32, 1, 32, &y, 1, Self.scalar) == 1 && y[0] == 32)
    }
}

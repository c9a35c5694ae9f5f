import Testing
import Foundation
import CBlockKernels
import CPUFeatures
import Checkpoints
import TensorCore
import TestSupport

/// The block kernels: one dequantizer, and row products that read blocks in place with the lanes
/// block_kernels.h defines, so that the processor's kernel, the scalar reference and a dot product over
/// the dequantized Float32 rows all give the same bits.
@Suite struct BlockKernelTests {
    static let types: [GGMLType] = [.f32, .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K]

    /// Row products of `vectors` vectors with `rows` rows of width k; `reference` picks the scalar kernel.
    static func products(_ type: GGMLType, _ w: UnsafeRawPointer, rowBytes: Int, rows: Int, x: [Float], vectors: Int, k: Int,
                         reference: Bool) -> [UInt32] {
        var y = [Float](repeating: .nan, count: rows * vectors)
        let done = x.withUnsafeBufferPointer { x in
            y.withUnsafeMutableBufferPointer { y in
                scalpel_dot_rows(Int32(type.rawValue), w, rowBytes, Int64(rows), x.baseAddress!, Int64(vectors), Int64(k), Int64(k),
                                 y.baseAddress!, Int64(rows), reference ? 1 : 0)
            }
        }
        #expect(done == 1, "\(type) is read")
        return y.map(\.bitPattern)
    }

    @Test(arguments: types)
    func rowProductsEqualDequantizeThenDot(type: GGMLType) throws {
        // Widths with a partial chunk of 256, and for the scalar types a tail short of 32 lanes.
        let k = type.blockSize == 1 ? 300 : type.blockSize == 32 ? 352 : 512
        let (rows, vectors) = (5, 3)
        let bytes = try randomQuantizedBlocks(type, elements: rows * k, seed: 3)
        let rowBytes = bytes.count / rows
        var rng = SeededRandom(seed: 4)
        let x = (0..<(vectors * k)).map { _ in Float(rng.nextGaussian()) }
        let dense = try bytes.withUnsafeBytes { try dequantize(type, $0, count: rows * k) }
        bytes.withUnsafeBytes { b in
            let fast = Self.products(type, b.baseAddress!, rowBytes: rowBytes, rows: rows, x: x, vectors: vectors, k: k, reference: false)
            let reference = Self.products(type, b.baseAddress!, rowBytes: rowBytes, rows: rows, x: x, vectors: vectors, k: k, reference: true)
            let decoded = dense.withUnsafeBytes {
                Self.products(.f32, $0.baseAddress!, rowBytes: 4 * k, rows: rows, x: x, vectors: vectors, k: k, reference: false)
            }
            #expect(fast == reference, "\(type): \(String(cString: scalpel_dot_kernel())) against the scalar reference")
            #expect(fast == decoded, "\(type): blocks read in place against their Float32 rows")
            // One vector alone gives what it gave beside the others.
            let alone = Self.products(type, b.baseAddress!, rowBytes: rowBytes, rows: rows, x: Array(x[k..<(2 * k)]), vectors: 1, k: k, reference: false)
            #expect(alone == Array(fast[rows..<(2 * rows)]))
            // And the lanes do compute a dot product.
            for v in 0..<vectors {
                for r in 0..<rows {
                    let exact = (0..<k).reduce(0.0) { $0 + Double(dense[r * k + $1]) * Double(x[v * k + $1]) }
                    let scale = (0..<k).reduce(0.0) { $0 + abs(Double(dense[r * k + $1]) * Double(x[v * k + $1])) }
                    #expect(abs(Double(Float(bitPattern: fast[v * rows + r])) - exact) <= 1e-5 * scale + 1e-30)
                }
            }
        }
    }

    /// A processor with AVX2 and FMA runs the AVX2 kernel, so that the tests above compare two kernels.
    @Test func theProcessorsKernelIsChosen() {
        var features = scalpel_cpu_features()
        scalpel_cpu_features_read(&features)
        let kernel = String(cString: scalpel_dot_kernel())
        print("block kernels: \(kernel)")
        #if arch(x86_64)
        #expect(kernel == (features.avx2 && features.fma ? "avx2" : "scalar"))
        #endif
    }

    /// Every binary16 value, subnormals, infinities and NaNs included, decodes as halfToFloat does.
    @Test func everyHalfDecodesExactly() {
        let halves = (0...UInt16.max).map { $0 }
        var y = [Float](repeating: 0, count: halves.count)
        halves.withUnsafeBytes { b in y.withUnsafeMutableBufferPointer { _ = dequantizeElements(.f16, from: b.baseAddress!, count: halves.count, into: $0.baseAddress!) } }
        #expect(y.map(\.bitPattern) == halves.map { halfToFloat($0).bitPattern })
    }

    /// Widths that are not whole blocks, and rows or vectors shorter than the width, are refused.
    @Test func partialBlocksAreRefused() {
        var y = [Float](repeating: 0, count: 4)
        let bytes = [UInt8](repeating: 0, count: 1024), x = [Float](repeating: 1, count: 512)
        func dot(_ type: GGMLType, k: Int, rowBytes: Int, ldx: Int) -> Int32 {
            bytes.withUnsafeBytes { b in
                x.withUnsafeBufferPointer { x in
                    y.withUnsafeMutableBufferPointer {
                        scalpel_dot_rows(Int32(type.rawValue), b.baseAddress!, rowBytes, 1, x.baseAddress!, 1, Int64(ldx), Int64(k), $0.baseAddress!, 1, 0)
                    }
                }
            }
        }
        #expect(dot(.q4_K, k: 256, rowBytes: 144, ldx: 256) == 1)
        #expect(dot(.q4_K, k: 128, rowBytes: 144, ldx: 256) == 0, "half a Q4_K block")
        #expect(dot(.q8_0, k: 64, rowBytes: 34, ldx: 64) == 0, "a row shorter than its two blocks")
        #expect(dot(.f16, k: 16, rowBytes: 32, ldx: 8) == 0, "vectors closer than the width")
        #expect(bytes.withUnsafeBytes { b in y.withUnsafeMutableBufferPointer { scalpel_dequantize(Int32(GGMLType.q4_0.rawValue), b.baseAddress!, 31, $0.baseAddress!) } } == 0)
    }

    @Test func typesTheKernelsDoNotReadAreRefused() {
        var y: Float = 0, x: Float = 1
        let bytes = [UInt8](repeating: 0, count: 64)
        for type in [GGMLType.q8_1, .q8_K, .i8, .f64] {
            let done = bytes.withUnsafeBytes { scalpel_dot_rows(Int32(type.rawValue), $0.baseAddress!, 64, 1, &x, 1, 1, 1, &y, 1, 0) }
            #expect(done == 0 && scalpel_blocks_supported(Int32(type.rawValue)) == 0, "\(type)")
        }
    }
}

import Testing
import Foundation
import CBlockKernels
import Checkpoints
import TensorCore
import TestSupport

/// Integer row products (q8_kernels.h): weight blocks times activations quantized to int8 per 32.
/// Every path this processor runs gives the scalar reference's bits; the paths it lacks are named.
@Suite struct IntegerKernelTests {
    static let types: [GGMLType] = [.q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K]
    static let paths = (0..<Int32(SCALPEL_PATH_COUNT)).map { $0 }

    /// Blocks of random bytes (every code, sub-scale and minimum occurs) with random fp16 factors:
    /// positive, negative, zero and subnormal.
    static func randomBlocks(_ type: GGMLType, elements: Int, seed: UInt64) -> [UInt8] {
        var rng = SeededRandom(seed: seed)
        return TestSupport.randomBlocks(type, elements: elements, rng: &rng) { rng in
            let choice = rng.next() % 16
            return choice == 0 ? 0 : choice == 1 ? 0x0201 /* subnormal */ : floatToHalf((rng.nextFloat() - 0.3) * 0.01)
        }
    }

    static func quantized(_ x: [Float], k: Int) -> [UInt8] {
        let stride = scalpel_q8_bytes(Int64(k))
        var out = [UInt8](repeating: 0, count: stride * (x.count / k))
        for v in 0..<(x.count / k) {
            let done = x.withUnsafeBufferPointer { x in
                out.withUnsafeMutableBytes { scalpel_quantize_q8(x.baseAddress! + v * k, Int64(k), $0.baseAddress! + v * stride) }
            }
            #expect(done == 1)
        }
        return out
    }

    static func products(_ type: GGMLType, _ w: [UInt8], rows: Int, xq: [UInt8], vectors: Int, k: Int, path: Int32) -> [UInt32]? {
        var y = [Float](repeating: .nan, count: rows * vectors)
        let done = w.withUnsafeBytes { w in
            xq.withUnsafeBytes { xq in
                y.withUnsafeMutableBufferPointer { y in
                    scalpel_dot_rows_q8(Int32(type.rawValue), w.baseAddress!, w.count / rows, Int64(rows), xq.baseAddress!,
                                        Int64(vectors), Int64(k), y.baseAddress!, Int64(rows), path)
                }
            }
        }
        return done == 1 ? y.map(\.bitPattern) : nil
    }

    /// Activations with the cases that could break a path: outliers, ties at .5, whole groups of zeros,
    /// and groups whose largest value is negative (q = −127 against the extreme codes).
    static func activations(count: Int, seed: UInt64) -> [Float] {
        var rng = SeededRandom(seed: seed)
        var x = (0..<count).map { _ in Float(rng.nextGaussian()) }
        for g in 0..<(count / 32) where g % 5 == 1 { x[32 * g + Int(rng.next() % 32)] = -40 }
        for g in 0..<(count / 32) where g % 7 == 2 { for i in 0..<32 { x[32 * g + i] = 0 } }
        for g in 0..<(count / 32) where g % 11 == 3 { for i in 0..<32 { x[32 * g + i] = Float(i % 3) - 1 } }
        return x
    }

    /// The integer form a kernel works from gives the dequantizer's values exactly.
    @Test(arguments: types)
    func theIntegerFormIsTheDequantizersValue(type: GGMLType) throws {
        let elements = type.blockSize, blocks = 64
        let bytes = Self.randomBlocks(type, elements: elements * blocks, seed: 11)
        let dense = try bytes.withUnsafeBytes { try dequantize(type, $0, count: elements * blocks) }
        let hasMinimum = [.q4_1, .q5_1, .q2_K, .q4_K, .q5_K].contains(type)
        var (c, sc, mn) = ([Int8](repeating: 0, count: elements), [Int16](repeating: 0, count: elements / 16),
                           [Int16](repeating: 0, count: elements / 16))
        var (d, dm): (Float, Float) = (0, 0)
        for block in 0..<blocks {
            let done = bytes.withUnsafeBytes {
                scalpel_q8_unpack(Int32(type.rawValue), $0.baseAddress! + block * type.blockBytes, &c, &sc, &mn, &d, &dm)
            }
            #expect(done == 1)
            for e in 0..<elements {
                var value = (d * Float(sc[e / 16])) * Float(c[e])
                if hasMinimum { value = value + dm * Float(mn[e / 16]) }
                #expect(value == dense[block * elements + e], "\(type) block \(block) element \(e)")
                if value != dense[block * elements + e] { return }
            }
        }
    }

    /// Each group keeps its largest magnitude at ±127, rounds to nearest, and sums its halves.
    @Test func theQuantizerFollowsItsDefinition() {
        let k = 32 * 40
        var x = Self.activations(count: k, seed: 5)
        for i in 0..<32 { x[32 * 30 + i] = .leastNonzeroMagnitude * 1000 }                       // 127 / a overflows: the group is 0
        x[32 * 31 + 3] = .nan
        x[32 * 32 + 9] = -.infinity
        let q = Self.quantized(x, k: k)
        q.withUnsafeBytes { raw in
            let d = raw.baseAddress!.assumingMemoryBound(to: Float.self)
            let s16 = (raw.baseAddress! + k / 8).assumingMemoryBound(to: Int16.self)
            let codes = (raw.baseAddress! + k / 4).assumingMemoryBound(to: Int8.self)
            for g in 0..<(k / 32) {
                let group = (0..<32).map { x[32 * g + $0] }, values = (0..<32).map { codes[32 * g + $0] }
                #expect(s16[2 * g] == Int16(values[0..<16].reduce(0) { $0 + Int($1) }))
                #expect(s16[2 * g + 1] == Int16(values[16..<32].reduce(0) { $0 + Int($1) }))
                if g == 31 || g == 32 {
                    #expect(d[g].isNaN && values.allSatisfy { $0 == 0 }, "a non-finite value makes its group NaN")
                    continue
                }
                let a = group.map(abs).max()!
                if a == 0 || g == 30 {
                    #expect(d[g] == 0 && values.allSatisfy { $0 == 0 })
                    continue
                }
                #expect(d[g] == a / 127)
                #expect(values.allSatisfy { $0 >= -127 })
                #expect(values.map { abs(Int($0)) }.max() == 127)
                for i in 0..<32 {
                    #expect(Float(values[i]) == (group[i] * (127 / a)).rounded(.toNearestOrEven))
                }
            }
        }
    }

    /// Every path this processor has gives the scalar reference's bits; one vector alone gives what it
    /// gave beside others; and the product is the dot product of W with the dequantized activations.
    @Test(arguments: types)
    func everyPathEqualsTheReference(type: GGMLType) throws {
        let k = type.blockSize == 32 ? 32 * 13 : 256 * 3         // a partial tile of 32-element blocks
        let (rows, vectors) = (7, 4)
        let w = Self.randomBlocks(type, elements: rows * k, seed: 21)
        let x = Self.activations(count: vectors * k, seed: 22)
        let xq = Self.quantized(x, k: k)
        let reference = try #require(Self.products(type, w, rows: rows, xq: xq, vectors: vectors, k: k, path: 0))
        for path in Self.paths where path != 0 {
            let name = String(cString: scalpel_kernel_path_name(path))
            guard scalpel_kernel_path_available(path) == 1 else {
                print("integer kernels: path \(name) not tested here: \(String(cString: scalpel_kernel_path_missing(path)))")
                #expect(Self.products(type, w, rows: rows, xq: xq, vectors: vectors, k: k, path: path) == nil)
                continue
            }
            let fast = Self.products(type, w, rows: rows, xq: xq, vectors: vectors, k: k, path: path)
            #expect(fast == reference, "\(type): \(name) against the scalar reference")
            let stride = xq.count / vectors
            let alone = Self.products(type, w, rows: rows, xq: Array(xq[(2 * stride)..<(3 * stride)]), vectors: 1, k: k, path: path)
            #expect(alone == Array(reference[(2 * rows)..<(3 * rows)]))
        }
        let dense = try w.withUnsafeBytes { try dequantize(type, $0, count: rows * k) }
        let stride = xq.count / vectors
        for v in 0..<vectors {
            let dequantized = xq.withUnsafeBytes { raw -> [Double] in
                let base = raw.baseAddress! + v * stride
                let d = base.assumingMemoryBound(to: Float.self), q = (base + k / 4).assumingMemoryBound(to: Int8.self)
                return (0..<k).map { Double(d[$0 / 32]) * Double(q[$0]) }
            }
            for r in 0..<rows {
                let exact = (0..<k).reduce(0.0) { $0 + Double(dense[r * k + $1]) * dequantized[$1] }
                let scale = (0..<k).reduce(0.0) { $0 + abs(Double(dense[r * k + $1]) * dequantized[$1]) }
                let y = Double(Float(bitPattern: reference[v * rows + r]))
                #expect(abs(y - exact) <= 1e-5 * scale + 1e-30, "\(type) row \(r) vector \(v)")
                // Against the Float32 activations, the error is at most half a step per element.
                let unquantized = (0..<k).reduce(0.0) { $0 + Double(dense[r * k + $1]) * Double(x[v * k + $1]) }
                let bound = (0..<k).reduce(0.0) { acc, e in
                    let step = (0..<32).map { abs(Double(x[v * k + e / 32 * 32 + $0])) }.max()! / 127
                    return acc + abs(Double(dense[r * k + e])) * step / 2
                }
                #expect(abs(y - unquantized) <= bound * 1.0001 + 1e-5 * scale + 1e-30)
            }
        }
    }

    /// Widths of many tiles, the rows a 7B model has, on every path: still the reference's bits.
    @Test(arguments: [GGMLType.q4_K, .q6_K, .q8_0])
    func wideRowsEqualTheReference(type: GGMLType) throws {
        let k = 4096 + (type.blockSize == 32 ? 96 : 0), rows = 3
        let w = Self.randomBlocks(type, elements: rows * k, seed: 31)
        let xq = Self.quantized(Self.activations(count: k, seed: 32), k: k)
        let reference = Self.products(type, w, rows: rows, xq: xq, vectors: 1, k: k, path: 0)
        for path in Self.paths where scalpel_kernel_path_available(path) == 1 {
            #expect(Self.products(type, w, rows: rows, xq: xq, vectors: 1, k: k, path: path) == reference)
        }
    }

    /// A batch (many vectors: the prepared-tile kernels, vectors a block at a time, a partial last
    /// block) gives the reference's bits on every path, for random blocks and for the extremes that
    /// bound the kernels' int16 sums: every code byte 0xFF or 0x80 against activations all at +127 or
    /// −127. Blocks of 32 end rows in partial tiles of every kind: 1 to 7 groups.
    @Test(arguments: types)
    func batchesEqualTheReference(type: GGMLType) throws {
        for k in type.blockSize == 32 ? [32, 32 * 18, 32 * 19, 32 * 20, 32 * 13, 32 * 14, 32 * 15] : [256 * 2] {
            for vectors in [1, 3, 37] { try batchEqualsTheReference(type: type, k: k, vectors: vectors) }
        }
    }

    func batchEqualsTheReference(type: GGMLType, k: Int, vectors: Int) throws {
        let rows = 5
        var extremes: [(String, [UInt8], [Float])] = []
        for fill: UInt8 in [0xFF, 0x80] {
            var rng = SeededRandom(seed: 51)
            let w = TestSupport.randomBlocks(type, elements: rows * k, rng: &rng, fill: fill) { _ in floatToHalf(0.01) }
            extremes.append(("bytes \(fill)", w, (0..<(vectors * k)).map { ($0 / k) % 2 == 0 ? 1 : -1 }))
        }
        let random = ("random", Self.randomBlocks(type, elements: rows * k, seed: 52), Self.activations(count: vectors * k, seed: 53))
        for (name, w, x) in [random] + extremes {
            let xq = Self.quantized(x, k: k)
            let reference = try #require(Self.products(type, w, rows: rows, xq: xq, vectors: vectors, k: k, path: 0))
            for path in Self.paths where path != 0 && scalpel_kernel_path_available(path) == 1 {
                let fast = Self.products(type, w, rows: rows, xq: xq, vectors: vectors, k: k, path: path)
                #expect(fast == reference, "\(type), k \(k), \(vectors) vectors, \(name): path \(path)")
            }
        }
    }

    /// A large batch (the AVX-512 path's panels of sixteen rows: rows past a whole panel, vectors past
    /// a block, rows of more tiles than a panel passes at once, a partial last tile, a NaN group, and an
    /// odd vector count) gives the reference's bits on every path.
    @Test(arguments: types)
    func largeBatchesEqualTheReference(type: GGMLType) throws {
        try largeBatchEqualsTheReference(type: type, k: type.blockSize == 32 ? 32 * 43 : 256 * 6)
    }

    /// The same for every length of a partial last tile (1 to 7 groups), and for rows so wide that the
    /// panels are prepared a few at a time.
    @Test(arguments: [GGMLType.q4_1, .q8_0])
    func everyPartialTileAndWideRowsEqualTheReference(type: GGMLType) throws {
        for groups in 1...7 { try largeBatchEqualsTheReference(type: type, k: 32 * (8 * 2 + groups)) }
        try largeBatchEqualsTheReference(type: type, k: 32 * 8 * 90)
    }

    /// Rows of no elements are zero on every path, in a batch as alone.
    @Test func emptyRowsGiveZeros() {
        let w = [UInt8](repeating: 0, count: 16), xq = [UInt8](repeating: 0, count: 16)
        for path in Self.paths where scalpel_kernel_path_available(path) == 1 {
            for vectors in [1, 40] {
                var y = [Float](repeating: .nan, count: 3 * vectors)
                let done = w.withUnsafeBytes { w in
                    xq.withUnsafeBytes { xq in
                        scalpel_dot_rows_q8(Int32(GGMLType.q8_0.rawValue), w.baseAddress!, 0, 3, xq.baseAddress!,
                                            Int64(vectors), 0, &y, 3, path)
                    }
                }
                #expect(done == 1 && y.allSatisfy { $0 == 0 }, "path \(path), \(vectors) vectors")
            }
        }
    }

    func largeBatchEqualsTheReference(type: GGMLType, k: Int) throws {
        let rows = 37, vectors = 71
        let w = Self.randomBlocks(type, elements: rows * k, seed: 71)
        var x = Self.activations(count: vectors * k, seed: 72)
        x[5 * k + 40] = .nan
        let xq = Self.quantized(x, k: k)
        let reference = try #require(Self.products(type, w, rows: rows, xq: xq, vectors: vectors, k: k, path: 0))
        #expect((0..<rows).allSatisfy { Float(bitPattern: reference[5 * rows + $0]).isNaN })
        for path in Self.paths where path != 0 && scalpel_kernel_path_available(path) == 1 {
            let fast = Self.products(type, w, rows: rows, xq: xq, vectors: vectors, k: k, path: path)
            #expect(fast == reference, "\(type), k \(k): path \(path) against the scalar reference")
        }
    }

    /// Every path quantizes to the scalar path's bytes: random groups, and groups with a NaN, an
    /// infinity, subnormals, zeros, negative zeros, ties at .5, and the largest floats.
    @Test func everyPathQuantizesAsTheReference() {
        let k = 32 * 40
        var x = Self.activations(count: k, seed: 61)
        x[32 * 1 + 3] = .nan
        x[32 * 2 + 7] = .infinity
        for i in 0..<32 {
            x[32 * 3 + i] = Float(i - 16) * 1e-40
            x[32 * 4 + i] = -0.0
            x[32 * 5 + i] = Float(i % 5) - 2.5
            x[32 * 6 + i] = Float(i) * 0.5 - 8
        }
        (x[32 * 7], x[32 * 7 + 1]) = (3e38, -.greatestFiniteMagnitude)
        func bytes(_ path: Int32) -> [UInt8]? {
            var out = [UInt8](repeating: 0, count: scalpel_q8_bytes(Int64(k)))
            let done = x.withUnsafeBufferPointer { x in
                out.withUnsafeMutableBytes { scalpel_quantize_q8_path(x.baseAddress!, Int64(k), $0.baseAddress!, path) }
            }
            return done == 1 ? out : nil
        }
        let reference = bytes(0)
        #expect(reference != nil)
        for path in Self.paths where path != 0 {
            if scalpel_kernel_path_available(path) == 1 { #expect(bytes(path) == reference, "path \(path)") }
            else { #expect(bytes(path) == nil, "path \(path) is refused where it cannot run") }
        }
    }

    /// A NaN in the activations reaches every row it meets, on every path.
    @Test func aNaNActivationGivesNaNRows() {
        let k = 256, rows = 2
        let w = Self.randomBlocks(.q4_K, elements: rows * k, seed: 41)
        var x = Self.activations(count: k, seed: 42)
        x[100] = .nan
        let xq = Self.quantized(x, k: k)
        for path in Self.paths where scalpel_kernel_path_available(path) == 1 {
            let y = Self.products(.q4_K, w, rows: rows, xq: xq, vectors: 1, k: k, path: path)
            #expect(y?.allSatisfy { Float(bitPattern: $0).isNaN } == true)
        }
    }

    /// Unsupported types, partial blocks and unknown paths are refused, writing nothing.
    @Test func whatTheKernelsCannotDoIsRefused() {
        let w = [UInt8](repeating: 0, count: 1024), xq = [UInt8](repeating: 0, count: 1024)
        #expect(Self.products(.f32, w, rows: 1, xq: xq, vectors: 1, k: 32, path: 0) == nil, "F32 weights")
        #expect(Self.products(.q4_K, w, rows: 1, xq: xq, vectors: 1, k: 128, path: 0) == nil, "half a Q4_K block")
        #expect(Self.products(.q8_0, w, rows: 1, xq: xq, vectors: 1, k: 32, path: 7) == nil, "no path 7")
        #expect(scalpel_q8_bytes(48) == 0)
        #expect(scalpel_kernel_path_available(0) == 1)
        #expect(scalpel_kernel_path_choose(7) == 0)
        #expect(String(cString: scalpel_kernel_path_name(Int32(scalpel_kernel_path()))) != "")
    }
}

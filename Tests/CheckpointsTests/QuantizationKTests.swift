import Foundation
import Testing
import Checkpoints
import TensorCore
import TestSupport

private func deq(_ type: GGMLType, _ bytes: [UInt8], _ count: Int) throws -> [Float] {
    try bytes.withUnsafeBytes { try dequantize(type, $0, count: count) }
}

private func rms(_ x: ArraySlice<Float>) -> Float {
    (x.reduce(Float(0)) { $0 + $1 * $1 } / Float(x.count)).squareRoot()
}

private func rmsError(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>) -> Float {
    (zip(a, b).reduce(Float(0)) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } / Float(a.count)).squareRoot()
}

/// The encoders Scalpel added for Q5_1 and the K-quants (QuantizeK.swift), through `dequantize`, the C
/// decoders' Swift wrapper: bytes those decoders read back to the values, within each format's error.
@Suite struct KQuantizationTests {
    static let types: [GGMLType] = [.q5_1, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K]

    /// The kinds of block the round trip is checked on, one block (32 or 256 values) each.
    enum Kind: CaseIterable { case gaussian, subScales, outlier, negative, zero, constant, negativeConstant }

    static func block(_ kind: Kind, size n: Int, _ rng: inout SeededRandom) -> [Float] {
        let g = (0..<n).map { _ in Float(rng.nextGaussian()) }
        switch kind {
        case .gaussian:
            let sigma = [Float(0.02), 1, 300][Int(rng.next() % 3)]
            return g.map { $0 * sigma }
        case .subScales:
            // Every 16 values a scale from 1e-4 to 10: what the K-quants' sub-block scales are for.
            let scales = (0..<(n / 16)).map { _ in Float(pow(10, -4 + 5 * rng.nextDouble())) }
            return g.enumerated().map { $0.element * scales[$0.offset / 16] }
        case .outlier:
            var x = g.map { $0 * 0.02 }
            x[Int(rng.next() % UInt64(n))] = rng.next() % 2 == 0 ? 5 : -5
            return x
        case .negative: return g.map { -abs($0) * 0.1 }
        case .zero: return [Float](repeating: 0, count: n)
        case .constant: return [Float](repeating: 0.75, count: n)
        case .negativeConstant: return [Float](repeating: -1.3, count: n)
        }
    }

    /// The values: `blocks` blocks of each kind, interleaved, for one seed.
    static func values(_ type: GGMLType, seed: UInt64, blocks: Int) -> (values: [Float], kinds: [Kind]) {
        var rng = SeededRandom(seed: seed)
        var values: [Float] = [], kinds: [Kind] = []
        for i in 0..<(blocks * Kind.allCases.count) {
            let kind = Kind.allCases[i % Kind.allCases.count]
            values += block(kind, size: type.blockSize, &rng)
            kinds.append(kind)
        }
        return (values, kinds)
    }

    /// The RMS round-trip error of a block, over the block's RMS, that a correct encoder stays below.
    /// Uniform rounding to a step h errs by h/√12 in RMS. Over n Gaussian values of deviation σ the
    /// expected range is about 3.5σ (n = 16) or 4.1σ (n = 32), and the largest magnitude about 2σ (16):
    /// - Q5_1, Q5_K: 32 values, 32 levels over the range: h ≈ 4.1σ/31, h/√12 ≈ 0.038σ;
    /// - Q4_K: 32 values, 16 levels: h ≈ 4.1σ/15, 0.079σ;
    /// - Q2_K: 16 values, 4 levels: h ≈ 3.5σ/3, 0.34σ (less: the search trims the range);
    /// - Q3_K: 16 values, levels −4…3 of a scale ≈ 2σ/4: 0.14σ;
    /// - Q6_K: 16 values, levels −32…31 of a scale ≈ 2σ/32: 0.018σ.
    /// The 4- and 6-bit sub-block scales and f16 d add a little; the bounds allow about 1.3× (measured:
    /// 0.056, 0.33, 0.16, 0.077, 0.040, 0.019). A block whose RMS comes from one sub-block (an outlier,
    /// or sub-blocks of very different scales) has the error of those 16 or 32 values alone, whose range
    /// over their RMS varies more than a whole block's: 1.5× the bound for those.
    static func bound(_ type: GGMLType) -> Float {
        switch type {
        case .q5_1: 0.07
        case .q2_K: 0.45
        case .q3_K: 0.2
        case .q4_K: 0.11
        case .q5_K: 0.055
        case .q6_K: 0.026
        default: 0
        }
    }

    @Test(arguments: types)
    func roundTripStaysWithinTheFormatsError(_ type: GGMLType) throws {
        let n = type.blockSize
        for seed in UInt64(1)...4 {
            let (values, kinds) = Self.values(type, seed: seed, blocks: type == .q5_1 ? 80 : 10)
            let packed = try quantize(values, to: type)
            #expect(packed.count == type.byteCount(elements: values.count))
            let back = try deq(type, packed, values.count)
            #expect(back.allSatisfy { $0.isFinite }, "\(type.name): a decoded value is not finite")
            for (b, kind) in kinds.enumerated() {
                let range = (n * b)..<(n * b + n)
                let (x, y) = (values[range], back[range])
                switch kind {
                case .zero:
                    #expect(y.allSatisfy { $0 == 0 }, "\(type.name): an all-zero block decodes to nonzero values")
                case .constant, .negativeConstant:
                    // One level, held exactly up to the f16 rounding of the scale (and minimum).
                    let error = zip(x, y).map { abs($0 - $1) }.max()!
                    #expect(error <= abs(x.first!) * 0x1p-10, "\(type.name) \(kind): off by \(error)")
                default:
                    let relative = rmsError(x, y) / rms(x)
                    let bound = Self.bound(type) * (kind == .subScales || kind == .outlier ? 1.5 : 1)
                    #expect(relative < bound, "\(type.name) \(kind) block \(b), seed \(seed): \(relative)")
                }
            }
        }
    }

    /// The bound is tight enough to catch a misplaced code: moving each code region one byte along
    /// (so every element takes its neighbour's low bits, or high bits) breaks it in nearly every block.
    @Test(arguments: types)
    func aMisplacedCodeBreaksTheBound(_ type: GGMLType) throws {
        // Each type's code regions within a block: low bits, then high bits where they are apart.
        let regions: [Range<Int>] = switch type {
        case .q5_1: [8..<24, 4..<8]
        case .q2_K: [16..<80]
        case .q3_K: [32..<96, 0..<32]
        case .q4_K: [16..<144]
        case .q5_K: [48..<176, 16..<48]
        case .q6_K: [0..<128, 128..<192]
        default: []
        }
        var rng = SeededRandom(seed: 5)
        let n = type.blockSize, blocks = 40
        let values = (0..<(n * blocks)).map { _ in Float(rng.nextGaussian()) }
        let packed = try quantize(values, to: type)
        for region in regions {
            var moved = packed
            for b in 0..<blocks {
                let r = (b * type.blockBytes + region.lowerBound)..<(b * type.blockBytes + region.upperBound)
                moved[r] = packed[r].dropFirst() + [packed[r.lowerBound]]
            }
            let back = try deq(type, moved, values.count)
            let broken = (0..<blocks).filter { b in
                let range = (n * b)..<(n * b + n)
                return rmsError(values[range], back[range]) / rms(values[range]) >= Self.bound(type)
            }.count
            #expect(broken >= blocks * 9 / 10, "\(type.name) \(region) moved: \(broken) of \(blocks) broken")
        }
    }

    /// Quantizing the decoded values again lands no farther from them than the first round trip landed
    /// from the originals: the decoded values are (nearly) on a grid the encoder finds again.
    @Test(arguments: types)
    func requantizingTheDecodedValuesIsStable(_ type: GGMLType) throws {
        let n = type.blockSize
        for seed in UInt64(6)...8 {
            let (values, kinds) = Self.values(type, seed: seed, blocks: type == .q5_1 ? 80 : 10)
            let once = try deq(type, try quantize(values, to: type), values.count)
            let twice = try deq(type, try quantize(once, to: type), values.count)
            #expect(twice.allSatisfy { $0.isFinite })
            var (first, second): (Float, Float) = (0, 0)
            for b in kinds.indices {
                let range = (n * b)..<(n * b + n)
                let (e1, e2) = (rmsError(values[range], once[range]), rmsError(once[range], twice[range]))
                first += e1 * e1
                second += e2 * e2
                #expect(e2 <= e1 + rms(values[range]) * 0x1p-10, "\(type.name) \(kinds[b]) block \(b): \(e2), \(e1)")
            }
            let moved = "requantizing moved the values by \(second.squareRoot()), "
                + "the first round trip by \(first.squareRoot())"
            #expect(second <= first, "\(type.name) seed \(seed): \(moved)")
        }
    }

    @Test(arguments: types)
    func nonFiniteValuesAndPartialBlocksAreRefused(_ type: GGMLType) throws {
        let n = type.blockSize
        for bad in [Float.nan, .infinity, -.infinity] {
            var x = [Float](repeating: 0.5, count: 2 * n)
            x[n + 3] = bad
            #expect(throws: GGUFError.self) { try quantize(x, to: type) }
        }
        for count in [n - 1, n + 1, n + 16, n / 2] {
            #expect(throws: GGUFError.self) { try quantize([Float](repeating: 0.5, count: count), to: type) }
        }
        #expect(try quantize([], to: type).isEmpty)
    }

    /// Extreme finite values (subnormal, where 1/d overflows, and near Float.greatestFiniteMagnitude)
    /// quantize without trapping, to bytes that decode.
    @Test(arguments: types + [.q8_0, .q4_0, .q4_1, .q5_0])
    func extremeMagnitudesDoNotTrap(_ type: GGMLType) throws {
        var rng = SeededRandom(seed: 15)
        for scale in [Float(1e-40), 1e-30, 1e30, 1e37] {
            let x = (0..<(2 * type.blockSize)).map { _ in Float(rng.nextGaussian()) * scale }
            let packed = try quantize(x, to: type)
            #expect(packed.count == type.byteCount(elements: x.count))
            _ = try deq(type, packed, x.count)
        }
    }
}

/// Scalpel's encoders against ggml's own (quantize_row_*_ref in libggml-base), byte for byte, on the
/// inputs and outputs tools/check_quantizers.py writes. Runs only when SCALPEL_GGML_QUANTIZED names that
/// directory; the script needs llama-cpp-python's shared library, which the tests do not.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["SCALPEL_GGML_QUANTIZED"] != nil,
                "SCALPEL_GGML_QUANTIZED is not set: run tools/check_quantizers.py <dir> and set it to <dir>"))
struct GGMLQuantizerAgreementTests {
    static let directory = URL(fileURLWithPath: ProcessInfo.processInfo.environment["SCALPEL_GGML_QUANTIZED"] ?? "/")

    @Test(arguments: [GGMLType.q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K])
    func bytesAreGGMLs(_ type: GGMLType) throws {
        let data = try Data(contentsOf: Self.directory.appendingPathComponent("inputs.f32"))
        let values = data.withUnsafeBytes { raw in
            (0..<(data.count / 4)).map { i in
                Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
            }
        }
        let expected = [UInt8](try Data(contentsOf: Self.directory.appendingPathComponent("\(type.name).ggml")))
        let manifest = try? Data(contentsOf: Self.directory.appendingPathComponent("manifest.json"))
        let kinds = (manifest.flatMap { try? JSONSerialization.jsonObject(with: $0) } as? [String: Any])?["kinds"]
            as? [String] ?? []
        let ours = try quantize(values, to: type)
        try #require(ours.count == expected.count)
        let size = type.blockBytes, blocks = ours.count / size, perSuper = 256 / type.blockSize
        let differing = (0..<blocks).filter { b in
            ours[(size * b)..<(size * b + size)] != expected[(size * b)..<(size * b + size)]
        }
        let summary = "\(type.name): \(blocks - differing.count) of \(blocks) blocks byte-identical to ggml"
        print(summary)
        let examples = differing.prefix(5).map { b in
            "block \(b) (\(kinds.indices.contains(b / perSuper) ? kinds[b / perSuper] : "?"))"
        }
        #expect(differing.isEmpty, "\(summary); differing: \(examples.joined(separator: ", "))")
    }
}

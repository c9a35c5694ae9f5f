import Testing
import Foundation
import Checkpoints
import TestSupport
import TensorCore

/// A small GGUF with every metadata type, a nested and an empty array, a custom alignment, and tensors
/// of several types including a zero-sized one.
func syntheticGGUF(at url: URL, alignment: UInt32 = 64) throws -> (metadata: [(String, GGUFValue)], tensors: [(String, GGMLType, [Int], [UInt8])]) {
    let metadata: [(String, GGUFValue)] = [
        ("general.architecture", .string("llama")),
        ("general.alignment", .uint32(alignment)),
        ("u8", .uint8(200)), ("i8", .int8(-100)), ("u16", .uint16(60000)), ("i16", .int16(-30000)),
        ("u32", .uint32(4_000_000_000)), ("i32", .int32(-2_000_000_000)), ("f32", .float32(3.5)), ("bool", .bool(true)),
        ("string", .string("naïve ✂ text")), ("u64", .uint64(UInt64.max)), ("i64", .int64(Int64.min)), ("f64", .float64(-1e300)),
        ("tokens", .array(.string, [.string("<s>"), .string(""), .string("Ġthe")])),
        ("scores", .array(.float32, [.float32(-1), .float32(0.25)])),
        ("empty", .array(.int32, [])),
        ("nested", .array(.array, [.array(.uint8, [.uint8(1), .uint8(2)]), .array(.uint8, [])])),
    ]
    var rng = SeededRandom(seed: 3)
    let q8 = try quantize((0..<64).map { _ in Float(rng.nextGaussian()) }, to: .q8_0)
    let tensors: [(String, GGMLType, [Int], [UInt8])] = [
        ("token_embd.weight", .q8_0, [2, 32], q8),
        ("blk.0.attn_norm.weight", .f32, [3], [0, 0, 0x80, 0x3F, 0, 0, 0, 0x40, 0, 0, 0x40, 0x40]),
        ("empty.weight", .f32, [0, 4], []),
        ("blk.0.ffn_down.weight", .f16, [1, 2], [0x00, 0x3C, 0x00, 0xC0]),
    ]
    let writer = try GGUFWriter(url: url)
    try writer.writeHeader(tensorCount: tensors.count, metadataCount: metadata.count)
    for (key, value) in metadata { try writer.writeKeyValue(key, value) }
    for (name, type, shape, _) in tensors { try writer.writeTensorInfo(name: name, type: type, shape: shape) }
    for (_, _, _, data) in tensors { try data.withUnsafeBytes { try writer.writeTensorData($0) } }
    try writer.finish()
    return (metadata, tensors)
}

@Suite struct GGUFTests {
    @Test func syntheticFileRoundTrips() throws {
        let directory = try Fixtures.scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("tiny.gguf")
        let (metadata, tensors) = try syntheticGGUF(at: url)
        let file = try GGUFFile(path: url.path)
        #expect(file.version == 3 && file.alignment == 64)
        #expect(file.metadata == GGUFMetadata(metadata))
        #expect(file.tensors.map(\.name) == tensors.map(\.0))
        for (name, type, shape, data) in tensors {
            let info = try #require(file.tensor(named: name))
            #expect(info.type == type && info.shape == shape && info.offset % 64 == 0)
            #expect(Array(file.data(of: info)) == data)
        }
        #expect(try file.dequantized("blk.0.ffn_down.weight") == [1, -2])
        #expect(try file.dequantized("empty.weight") == [])
        #expect(file.parameterCount == 64 + 3 + 0 + 2)
        // Written again through GGUFFile.write: identical bytes, since nothing changed.
        let copy = directory.appendingPathComponent("copy.gguf")
        try file.write(to: copy)
        #expect(try Data(contentsOf: copy) == Data(contentsOf: url))
    }

    @Test func writerRefusesOutOfOrderCalls() throws {
        let directory = try Fixtures.scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("w.gguf")
        let writer = try GGUFWriter(url: url)
        #expect(throws: GGUFError.self) { try writer.writeKeyValue("a", .bool(true)) }
        #expect(throws: GGUFError.self) { try writer.finish() }
        try writer.writeHeader(tensorCount: 1, metadataCount: 1)
        #expect(throws: GGUFError.self) { try writer.writeHeader(tensorCount: 1, metadataCount: 1) }
        #expect(throws: GGUFError.self) { try writer.writeTensorInfo(name: "t", type: .f32, shape: [1]) }
        try writer.writeKeyValue("a", .bool(true))
        #expect(throws: GGUFError.self) { try writer.writeKeyValue("b", .bool(true)) }
        #expect(throws: GGUFError.self) { try [UInt8](repeating: 0, count: 4).withUnsafeBytes { try writer.writeTensorData($0) } }
        try writer.writeTensorInfo(name: "t", type: .f32, shape: [1])
        #expect(throws: GGUFError.self) { try [UInt8](repeating: 0, count: 8).withUnsafeBytes { try writer.writeTensorData($0) } }
        #expect(throws: GGUFError.self) { try writer.finish() }
        try [UInt8](repeating: 0, count: 4).withUnsafeBytes { try writer.writeTensorData($0) }
        try writer.finish()
        #expect(try GGUFFile(path: url.path).tensors.count == 1)
        // An abandoned writer leaves nothing behind.
        let abandoned = directory.appendingPathComponent("abandoned.gguf")
        do {
            let w = try GGUFWriter(url: abandoned)
            try w.writeHeader(tensorCount: 0, metadataCount: 0)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["w.gguf"])
    }

    @Test func quantTypesNeedWholeBlocks() throws {
        let directory = try Fixtures.scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let writer = try GGUFWriter(url: directory.appendingPathComponent("x.gguf"))
        try writer.writeHeader(tensorCount: 1, metadataCount: 0)
        #expect(throws: GGUFError.notWholeBlocks(tensor: "t", type: "Q4_0", rowLength: 40, blockSize: 32)) {
            try writer.writeTensorInfo(name: "t", type: .q4_0, shape: [2, 40])
        }
    }
}

/// The real SmolLM2 checkpoint: dequantization against Hugging Face's, and a byte-exact rewrite.
@Suite(.enabled(if: Fixtures.has("smollm2"), Fixtures.missingReason("smollm2")))
struct SmolLM2CheckpointTests {
    static let cases: [(file: String, tensor: String)] = [
        ("deq_embed", "token_embd.weight"), ("deq_ffn_down_l0", "blk.0.ffn_down.weight"), ("deq_q_l0", "blk.0.attn_q.weight"),
    ]

    @Test(.enabled(if: Fixtures.hasGolden("smollm2-135m"), "../shared/golden is missing"), arguments: 0..<3)
    func dequantizationMatchesTheReference(caseIndex: Int) throws {
        let (prefix, name) = Self.cases[caseIndex]
        let file = try GGUFFile(path: Fixtures.checkpoint("smollm2"))
        let values = try file.dequantized(name)
        let head = try Fixtures.goldenFloats("smollm2-135m", "\(prefix)_head.f32")
        let stats = try Fixtures.goldenFloats("smollm2-135m", "\(prefix)_stats.f32")
        // Row 0 of HF's q_proj is row 0 of GGUF's permuted one, so the head compares directly; sums do not
        // depend on row order. Same float32 operations as the reference: the head must match exactly.
        #expect(compareClose(Array(values.prefix(256)), head, absolute: 0) == nil)
        let sum = values.reduce(0.0) { $0 + Double($1) }, squares = values.reduce(0.0) { $0 + Double($1) * Double($1) }
        // The reference summed in float32; 1e-4 relative covers its rounding over up to 28 M terms.
        #expect(abs(sum - Double(stats[0])) <= 1e-4 * max(1, abs(Double(stats[0]))), "sum \(sum) vs \(stats[0])")
        #expect(abs(squares - Double(stats[1])) <= 1e-4 * Double(stats[1]), "sum of squares \(squares) vs \(stats[1])")
    }

    @Test func rewritingTheRealFileKeepsEveryByteAndValue() throws {
        let directory = try Fixtures.scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let original = try GGUFFile(path: Fixtures.checkpoint("smollm2"))
        #expect(original.tensors.count == 272 && original.metadata["general.architecture"]?.string == "llama")
        let url = directory.appendingPathComponent("copy.gguf")
        try original.write(to: url)
        let copy = try GGUFFile(path: url.path)
        #expect(copy.metadata == original.metadata)
        #expect(copy.metadata.keys == original.metadata.keys)
        for info in original.tensors {
            let other = try #require(copy.tensor(named: info.name))
            #expect(other.type == info.type && other.shape == info.shape)
            #expect(original.data(of: info).elementsEqual(copy.data(of: other)), "\(info.name) differs")
        }
    }
}

@Suite(.enabled(if: Fixtures.has("gemma3"), Fixtures.missingReason("gemma3")))
struct GemmaCheckpointTests {
    /// Every tensor of Gemma 3 dequantizes (Q5_0, Q4_K, Q6_K, Q8_0, F32) to finite values of sane size.
    @Test func everyTensorDequantizes() throws {
        let file = try GGUFFile(path: Fixtures.checkpoint("gemma3"))
        #expect(Set(file.tensors.map(\.type)) == [.f32, .q5_0, .q8_0, .q4_K, .q6_K])
        for info in file.tensors where info.name != "token_embd.weight" {
            let values = try file.dequantized(info.name)
            #expect(values.allSatisfy { $0.isFinite && abs($0) < 100_000 }, "\(info.name): max \(values.map(abs).max()!)")
            let meanSquare = values.reduce(0.0) { $0 + Double($1 * $1) } / Double(values.count)
            #expect(meanSquare > 1e-8, "\(info.name) dequantizes to zeros")
        }
    }
}

import Testing
import Foundation
import Checkpoints
import TensorCore
import TestSupport

/// Builds GGUF bytes by hand, independently of `GGUFWriter`, so that every field can be made wrong.
struct RawGGUF {
    var magic = Array("GGUF".utf8)
    var version: UInt32 = 3
    var tensorCount: UInt64?
    var keyValueCount: UInt64?
    var keyValues: [(key: String, type: UInt32, value: [UInt8])] = [("general.architecture", 8, RawGGUF.string("llama"))]
    var tensors: [(name: String, dims: [UInt64], type: UInt32, offset: UInt64)] = [("a", [32, 2], 0, 0), ("b", [32], 8, 256)]
    var alignment = 32
    var dataBytes = 256 + 34
    var cut: Int?

    static func string(_ s: String) -> [UInt8] { le(UInt64(s.utf8.count)) + Array(s.utf8) }
    static func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }

    var bytes: [UInt8] {
        var out = magic + Self.le(version) + Self.le(tensorCount ?? UInt64(tensors.count)) + Self.le(keyValueCount ?? UInt64(keyValues.count))
        for kv in keyValues { out += Self.string(kv.key) + Self.le(kv.type) + kv.value }
        for t in tensors {
            out += Self.string(t.name) + Self.le(UInt32(t.dims.count))
            for d in t.dims { out += Self.le(d) }
            out += Self.le(t.type) + Self.le(t.offset)
        }
        out += [UInt8](repeating: 0, count: (alignment - out.count % alignment) % alignment)
        out += (0..<dataBytes).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        if let cut { out = Array(out.prefix(cut)) }
        return out
    }
}

func openGGUF(_ bytes: [UInt8]) throws -> GGUFFile { try GGUFFile(file: MappedFile(copying: bytes)) }

@Suite struct CorruptGGUFTests {
    /// Each broken file, and the specific error it must give.
    nonisolated(unsafe) static let cases: [(String, (inout RawGGUF) -> Void, (GGUFError) -> Bool)] = [
        ("bad magic", { $0.magic = Array("GGML".utf8) }, { if case .badMagic = $0 { true } else { false } }),
        ("version 1", { $0.version = 1 }, { $0 == .unsupportedVersion(1) }),
        ("version 4", { $0.version = 4 }, { $0 == .unsupportedVersion(4) }),
        ("absurd tensor count", { $0.tensorCount = 1 << 40 }, { if case .absurdCount(let what, _, _) = $0 { what == "tensors" } else { false } }),
        ("negative tensor count", { $0.tensorCount = UInt64(bitPattern: -1) }, { if case .absurdCount = $0 { true } else { false } }),
        ("absurd metadata count", { $0.keyValueCount = 1 << 60 }, { if case .absurdCount(let what, _, _) = $0 { what == "metadata entries" } else { false } }),
        ("duplicate key", { $0.keyValues.append(("general.architecture", 8, RawGGUF.string("gpt2"))) }, { $0 == .duplicateKey("general.architecture") }),
        ("bad value type", { $0.keyValues.append(("x", 99, [0])) }, { $0 == .badValueType(key: "x", type: 99) }),
        ("bad array element type", { $0.keyValues.append(("x", 9, RawGGUF.le(UInt32(77)) + RawGGUF.le(UInt64(1)))) }, { $0 == .badValueType(key: "x", type: 77) }),
        ("absurd array length", { $0.keyValues.append(("x", 9, RawGGUF.le(UInt32(8)) + RawGGUF.le(UInt64(1) << 50))) },
         { if case .absurdCount = $0 { true } else { false } }),
        ("absurd string length", { $0.keyValues.append(("x", 8, RawGGUF.le(UInt64(1) << 62))) }, { if case .truncated = $0 { true } else { false } }),
        ("arrays nested too deeply", { raw in
            var value: [UInt8] = RawGGUF.le(UInt32(0)) + RawGGUF.le(UInt64(0))
            for _ in 0..<12 { value = RawGGUF.le(UInt32(9)) + RawGGUF.le(UInt64(1)) + value }
            raw.keyValues.append(("deep", 9, value))
        }, { $0 == .nestingTooDeep(key: "deep") }),
        ("alignment 3", { $0.keyValues.append(("general.alignment", 4, RawGGUF.le(UInt32(3)))) }, { $0 == .badAlignment("3") }),
        ("alignment 0", { $0.keyValues.append(("general.alignment", 4, RawGGUF.le(UInt32(0)))) }, { $0 == .badAlignment("0") }),
        ("alignment as a string", { $0.keyValues.append(("general.alignment", 8, RawGGUF.string("32"))) }, { if case .badAlignment = $0 { true } else { false } }),
        ("duplicate tensor", { $0.tensors.append(("a", [32], 0, 320)) }, { $0 == .duplicateTensor("a") }),
        ("five dimensions", { $0.tensors[1].dims = [32, 1, 1, 1, 1] }, { $0 == .tooManyDimensions(tensor: "b", dimensions: 5) }),
        ("negative dimension", { $0.tensors[1].dims = [UInt64(bitPattern: -32)] }, { if case .badDimension = $0 { true } else { false } }),
        ("element count overflow", { $0.tensors[1].dims = [1 << 32, 1 << 32, 1 << 8] }, { if case .elementCountOverflow = $0 { true } else { false } }),
        ("unknown quantization type", { $0.tensors[1].type = 99 }, { $0 == .unknownType(tensor: "b", id: 99) }),
        ("unsupported i-quant", { $0.tensors[1].type = 16 }, { $0 == .unsupportedType(tensor: "b", id: 16, name: "IQ2_XXS") }),
        ("rows not whole blocks", { $0.tensors[1].dims = [40] }, { $0 == .notWholeBlocks(tensor: "b", type: "Q8_0", rowLength: 40, blockSize: 32) }),
        ("misaligned offset", { $0.tensors[1].offset = 260 }, { $0 == .misalignedOffset(tensor: "b", offset: 260, alignment: 32) }),
        ("offset past the end", { $0.tensors[1].offset = 1 << 20 }, { if case .dataOutOfBounds(let t, _, _, _) = $0 { t == "b" } else { false } }),
        ("offset overflows", { $0.tensors[1].offset = UInt64.max - 31 }, { if case .dataOutOfBounds = $0 { true } else { false } }),
        ("truncated data", { $0.dataBytes = 256 + 20 }, { if case .dataOutOfBounds(let t, _, _, _) = $0 { t == "b" } else { false } }),
        ("truncated header", { $0.cut = 120 }, { if case .truncated = $0 { true } else { false } }),
        ("overlapping tensors", { $0.tensors[1].offset = 0 }, { $0 == .overlappingTensors("a", "b") || $0 == .overlappingTensors("b", "a") }),
    ]

    @Test(arguments: 0..<cases.count)
    func brokenFileGivesItsOwnError(_ index: Int) {
        let (name, breakIt, expected) = Self.cases[index]
        var raw = RawGGUF()
        breakIt(&raw)
        do {
            _ = try openGGUF(raw.bytes)
            Issue.record("\(name): the broken file was accepted")
        } catch let error as GGUFError {
            #expect(expected(error), "\(name): got \(error)")
            #expect(error.description.count > 40, "\(name): the message should explain and advise")
        } catch {
            Issue.record("\(name): unexpected error \(error)")
        }
    }

    @Test func theUnbrokenFileAndAZeroSizedDimensionAreValid() throws {
        let file = try openGGUF(RawGGUF().bytes)
        #expect(file.tensors.map(\.name) == ["a", "b"] && file.tensor(named: "a")?.shape == [2, 32])
        var version2 = RawGGUF()
        version2.version = 2   // same layout as 3 (64-bit counts); version 1's 32-bit counts are refused
        #expect(try openGGUF(version2.bytes).version == 2)
        var raw = RawGGUF()
        raw.tensors[1].dims = [32, 0]
        let zero = try openGGUF(raw.bytes)
        #expect(zero.tensor(named: "b")?.elementCount == 0 && zero.tensor(named: "b")?.byteCount == 0)
        #expect(try zero.dequantized("b") == [])
    }

    /// Seeded random corruption of a valid file (byte flips and truncations) must give an error or a valid
    /// file, never a crash; the reader checks every count against the bytes left before allocating.
    @Test func randomCorruptionNeverCrashes() throws {
        let directory = try Fixtures.scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        _ = try syntheticGGUF(at: directory.appendingPathComponent("s.gguf"))
        let valid = Array(try Data(contentsOf: directory.appendingPathComponent("s.gguf")))
        var rng = SeededRandom(seed: 2024)
        var rejected = 0
        for _ in 0..<3000 {
            var bytes = valid
            for _ in 0..<(1 + rng.nextInt(below: 4)) {
                let position = rng.nextInt(below: min(bytes.count, 700))
                bytes[position] = UInt8(truncatingIfNeeded: rng.next())
            }
            if rng.nextInt(below: 4) == 0 { bytes = Array(bytes.prefix(rng.nextInt(below: bytes.count))) }
            do {
                let file = try openGGUF(bytes)
                for info in file.tensors { _ = try? file.dequantized(info.name) }
            } catch {
                rejected += 1
            }
        }
        #expect(rejected > 1000)
    }
}

/// Builds safetensors bytes by hand.
func rawSafetensors(header: String, data: [UInt8], length: UInt64? = nil) -> [UInt8] {
    RawGGUF.le(length ?? UInt64(header.utf8.count)) + Array(header.utf8) + data
}

func openSafetensors(_ bytes: [UInt8]) throws -> SafetensorsFile { try SafetensorsFile(file: MappedFile(copying: bytes)) }

@Suite struct CorruptSafetensorsTests {
    static let good = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[3],"data_offsets":[8,11]}}"#

    nonisolated(unsafe) static let cases: [(String, [UInt8], (SafetensorsError) -> Bool)] = [
        ("too small", [1, 2, 3], { $0 == .headerTooSmall(fileSize: 3) }),
        ("header too large", rawSafetensors(header: "{}", data: [], length: 200_000_000), { if case .headerTooLarge = $0 { true } else { false } }),
        ("header past the end", rawSafetensors(header: "{}", data: [], length: 50), { if case .headerLengthPastEnd = $0 { true } else { false } }),
        ("header not UTF-8", RawGGUF.le(UInt64(3)) + [0x7B, 0xFF, 0x7D], { $0 == .headerNotUTF8 }),
        ("header not JSON", rawSafetensors(header: "{oops}", data: []), { if case .headerNotJSON = $0 { true } else { false } }),
        ("header not an object", rawSafetensors(header: "[1]", data: []), { $0 == .headerNotAnObject }),
        ("duplicate tensor", rawSafetensors(header: #"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}"#, data: [1, 2]),
         { $0 == .duplicateTensor("a") }),
        ("unknown dtype", rawSafetensors(header: #"{"a":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}}"#, data: [0]),
         { $0 == .unknownDtype(tensor: "a", dtype: "F8_E4M3") }),
        ("negative shape", rawSafetensors(header: #"{"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}}"#, data: [0]), { if case .badEntry = $0 { true } else { false } }),
        ("fractional offset", rawSafetensors(header: #"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1.5]}}"#, data: [0]), { if case .badEntry = $0 { true } else { false } }),
        ("offsets not from zero", rawSafetensors(header: #"{"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}"#, data: [0, 0]),
         { $0 == .nonContiguousOffsets(tensor: "a", expectedStart: 0, start: 1) }),
        ("gap between tensors", rawSafetensors(header: #"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"U8","shape":[1],"data_offsets":[2,3]}}"#, data: [0, 0, 0]),
         { $0 == .nonContiguousOffsets(tensor: "b", expectedStart: 1, start: 2) }),
        ("span not count × size", rawSafetensors(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]),
         { $0 == .sizeMismatch(tensor: "a", span: 4, expected: 8) }),
        ("size overflows", rawSafetensors(header: #"{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]),
         { $0 == .sizeOverflow(tensor: "a") }),
        ("truncated data", rawSafetensors(header: good, data: [UInt8](repeating: 0, count: 10)), { $0 == .dataSizeMismatch(dataBytes: 10, described: 11) }),
        ("trailing bytes", rawSafetensors(header: good, data: [UInt8](repeating: 0, count: 12)), { $0 == .dataSizeMismatch(dataBytes: 12, described: 11) }),
        ("metadata not strings", rawSafetensors(header: #"{"__metadata__":{"format":1}}"#, data: []), { if case .badMetadata = $0 { true } else { false } }),
    ]

    @Test(arguments: 0..<cases.count)
    func brokenFileGivesItsOwnError(_ index: Int) {
        let (name, bytes, expected) = Self.cases[index]
        do {
            _ = try openSafetensors(bytes)
            Issue.record("\(name): the broken file was accepted")
        } catch let error as SafetensorsError {
            #expect(expected(error), "\(name): got \(error)")
            #expect(error.description.count > 40, "\(name): the message should explain and advise")
        } catch {
            Issue.record("\(name): unexpected error \(error)")
        }
    }

    @Test func validFilesIncludingZeroSizedTensorsOpen() throws {
        let file = try openSafetensors(rawSafetensors(header: Self.good, data: [UInt8](repeating: 0, count: 11)))
        #expect(file.tensors.map(\.name) == ["a", "b"])
        let zero = try openSafetensors(rawSafetensors(header: #"{"z":{"dtype":"F32","shape":[0,5],"data_offsets":[0,0]}}   "#, data: []))
        #expect(zero.tensor(named: "z")?.elementCount == 0)
    }

    @Test func randomCorruptionNeverCrashes() {
        let valid = rawSafetensors(header: Self.good, data: [UInt8](repeating: 7, count: 11))
        var rng = SeededRandom(seed: 77)
        for _ in 0..<3000 {
            var bytes = valid
            for _ in 0..<(1 + rng.nextInt(below: 3)) { bytes[rng.nextInt(below: bytes.count)] = UInt8(truncatingIfNeeded: rng.next()) }
            if rng.nextInt(below: 4) == 0 { bytes = Array(bytes.prefix(rng.nextInt(below: bytes.count))) }
            if let file = try? openSafetensors(bytes) { for t in file.tensors { _ = try? file.floats(t.name) } }
        }
    }

    @Test func foreignFilesAreRecognisedAsSuch() throws {
        #expect(CheckpointFormat.detect(Array("name,label\n".utf8).withUnsafeBytes { UnsafeRawBufferPointer($0) }) == nil)
        let directory = try Fixtures.scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("x.bin").path
        try Data("PK\u{3}\u{4} not a model".utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: CheckpointFormatError.self) { try CheckpointSummary.load(path: path) }
    }
}

import Testing
import Foundation
import Checkpoints
import JSON
import TestSupport

@Suite struct SafetensorsTests {
    @Test func everyDtypeAndTheMetadataRoundTrip() throws {
        let directory = try Fixtures.scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("t.safetensors")
        let entries = [
            SafetensorsEntry(name: "f32", floats: [1, -2.5, .infinity], shape: [3]),
            SafetensorsEntry(name: "f16", floats: [1, -2, 65504, 0.5], shape: [2, 2], dtype: .f16),
            SafetensorsEntry(name: "bf16", floats: [1, -3], shape: [2], dtype: .bf16),
            SafetensorsEntry(name: "i32", dtype: .i32, shape: [2], bytes: [0xFF, 0xFF, 0xFF, 0xFF, 7, 0, 0, 0]),
            SafetensorsEntry(name: "i64", dtype: .i64, shape: [1], bytes: [5, 0, 0, 0, 0, 0, 0, 0]),
            SafetensorsEntry(name: "u8", dtype: .u8, shape: [3], bytes: [0, 128, 255]),
            SafetensorsEntry(name: "empty \"quoted\"\n", dtype: .f32, shape: [0, 3], bytes: []),
        ]
        try writeSafetensors(entries, metadata: ["format": "pt", "note": "ünïcode \"q\""], to: url)
        let file = try SafetensorsFile(path: url.path)
        #expect(file.metadata == ["format": "pt", "note": "ünïcode \"q\""])
        #expect(Set(file.tensors.map(\.name)) == Set(entries.map(\.name)))
        for entry in entries {
            let info = try #require(file.tensor(named: entry.name))
            #expect(info.dtype == entry.dtype && info.shape == entry.shape && Array(file.data(of: info)) == entry.bytes)
        }
        #expect(try file.floats("f32") == [1, -2.5, .infinity])
        #expect(try file.floats("f16") == [1, -2, 65504, 0.5])
        #expect(try file.floats("bf16") == [1, -3])
        #expect(try file.floats("i32") == [-1, 7])
        #expect(try file.floats("u8") == [0, 128, 255])
        // The header length is a multiple of 8, padded with spaces, as the reference writer does.
        let data = try Data(contentsOf: url)
        let length = data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        #expect(length % 8 == 0)
    }

    @Test func writerRejectsDuplicatesAndWrongSizes() throws {
        let directory = try Fixtures.scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("t.safetensors")
        #expect(throws: SafetensorsError.duplicateTensor("a")) {
            try writeSafetensors([SafetensorsEntry(name: "a", floats: [1], shape: [1]), SafetensorsEntry(name: "a", floats: [1], shape: [1])], to: url)
        }
        #expect(throws: SafetensorsError.sizeMismatch(tensor: "a", span: 4, expected: 8)) {
            try writeSafetensors([SafetensorsEntry(name: "a", dtype: .f32, shape: [2], bytes: [0, 0, 0, 0])], to: url)
        }
        #expect(!FileManager.default.fileExists(atPath: url.path))
    }

    @Test(.enabled(if: Fixtures.has("minilm"), Fixtures.missingReason("minilm")))
    func realMiniLMLoads() throws {
        let file = try SafetensorsFile(path: Fixtures.checkpoint("minilm"))
        #expect(file.tensors.count == 104)
        #expect(file.tensor(named: "encoder.layer.5.intermediate.dense.weight")?.shape == [1536, 384])
        // Hugging Face counts 22,713,216 parameters; position_ids (int64) is a buffer, not a parameter.
        #expect(file.parameterCount == 22_713_216)
        let summary = try CheckpointSummary.load(path: (Fixtures.checkpoint("minilm") as NSString).deletingLastPathComponent)
        #expect(summary.architecture == "bert" && summary.format == "safetensors")
    }
}

@Suite struct StrictJSONTests {
    func parse(_ text: String) throws -> JSONValue {
        try Array(text.utf8).withUnsafeBytes { try StrictJSONParser.parse($0) }
    }

    @Test func valuesAndEscapes() throws {
        #expect(try parse(#"{"a": [1, -2, 3.5, true, null, "x\n\u00e9\ud83d\ude00"], "b": {}}"#)
                == .object([("a", .array([.integer(1), .integer(-2), .number(3.5), .bool(true), .null, .string("x\né😀")])), ("b", .object([]))]))
        #expect(try parse("18446744073709551615") == .number(18446744073709551615))
        #expect(try parse(" 0 ") == .integer(0))
    }

    @Test(arguments: [#"{"a":1,"a":2}"#, "[1,]", "01", "{", #""\x""#, "[1] 2", "\"\u{01}\"", #""\ud800""#, "-", "1.", "tru"])
    func malformedInputIsRefused(_ text: String) {
        #expect(throws: JSONParseError.self) { try parse(text) }
    }

    @Test func deepNestingIsRefused() {
        #expect(throws: JSONParseError.self) { try parse(String(repeating: "[", count: 100) + String(repeating: "]", count: 100)) }
    }
}

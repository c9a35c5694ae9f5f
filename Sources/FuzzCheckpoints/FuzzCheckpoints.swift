import Checkpoints
import Foundation

// Fuzz target for the GGUF and safetensors readers.
//
// Built with libFuzzer (Scripts/fuzz passes -sanitize=fuzzer,address and -DFUZZING), libFuzzer calls
// LLVMFuzzerTestOneInput with mutated files. Built normally, this is a replayer:
//   fuzz-checkpoints FILE...           runs each file through the readers (crash reproduction)
//   fuzz-checkpoints --seeds DIR       writes a small seed corpus of valid files

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    exercise(bytes)
    return 0
}

/// Opens the bytes as both formats and, when they are accepted, reads every tensor.
func exercise(_ bytes: [UInt8]) {
    let file = MappedFile(copying: bytes)
    if let gguf = try? GGUFFile(file: file) {
        for info in gguf.tensors { _ = try? gguf.dequantized(info.name) }
        _ = CheckpointSummary.summary(gguf, path: "<fuzz>")
    }
    if let safetensors = try? SafetensorsFile(file: file) {
        for info in safetensors.tensors { _ = try? safetensors.floats(info.name) }
    }
}

func writeSeeds(to directory: URL) throws {
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let gguf = directory.appendingPathComponent("seed.gguf")
    let writer = try GGUFWriter(url: gguf)
    let types: [(String, GGMLType, Int)] = [("a", .q4_0, 32), ("b", .q4_1, 32), ("c", .q5_0, 32), ("d", .q5_1, 32), ("e", .q8_0, 32),
                                            ("f", .q4_K, 256), ("g", .q5_K, 256), ("h", .q6_K, 256), ("i", .f16, 4), ("j", .bf16, 4), ("k", .f32, 4)]
    try writer.writeHeader(tensorCount: types.count, metadataCount: 3)
    try writer.writeKeyValue("general.architecture", .string("llama"))
    try writer.writeKeyValue("tokens", .array(.string, [.string("a"), .string("b")]))
    try writer.writeKeyValue("nested", .array(.array, [.array(.int32, [.int32(1)])]))
    for (name, type, count) in types { try writer.writeTensorInfo(name: name, type: type, shape: [count]) }
    for (_, type, count) in types {
        let bytes = (0..<type.byteCount(elements: count)!).map { UInt8(truncatingIfNeeded: $0 &* 37) }
        try bytes.withUnsafeBytes { try writer.writeTensorData($0) }
    }
    try writer.finish()
    try writeSafetensors([SafetensorsEntry(name: "w", floats: [1, 2, 3, 4], shape: [2, 2]),
                          SafetensorsEntry(name: "h", floats: [1, 2], shape: [2], dtype: .f16),
                          SafetensorsEntry(name: "u", dtype: .u8, shape: [3], bytes: [1, 2, 3])],
                         metadata: ["format": "pt"], to: directory.appendingPathComponent("seed.safetensors"))
}

#if !FUZZING
@main
struct Replay {
    static func main() throws {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.first == "--seeds", arguments.count == 2 {
            try writeSeeds(to: URL(fileURLWithPath: arguments[1]))
            return
        }
        for path in arguments {
            exercise(Array(try Data(contentsOf: URL(fileURLWithPath: path))))
            print("ok \(path)")
        }
    }
}
#endif

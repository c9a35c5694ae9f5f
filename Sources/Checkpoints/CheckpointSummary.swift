import AtomicFiles
import Foundation
import JSON

/// What `scalpel inspect` shows of any checkpoint: format, architecture, metadata, tensors, parameters.
public struct CheckpointSummary: Sendable {
    public struct TensorRow: Sendable, Equatable {
        public let name: String, type: String, shape: [Int], bytes: Int
    }

    public let path: String
    public let format: String                       // "gguf" or "safetensors"
    public let architecture: String?
    public let metadata: [(key: String, value: MetadataValue)]
    public let tensors: [TensorRow]
    public let parameters: Int

    /// A metadata value as shown to people and in JSON; arrays longer than `arrayPreview` are summarised.
    public enum MetadataValue: Sendable, Equatable {
        case scalar(String, json: String)
        case array(elementType: String, count: Int, head: [MetadataValue])
    }

    public static let arrayPreview = 8

    /// Opens `path`, which may be a GGUF file, a safetensors file, or a Hugging Face folder (one
    /// model.safetensors, or the shards its model.safetensors.index.json lists).
    public static func load(path: String) throws -> CheckpointSummary {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue,
           FileManager.default.fileExists(
               atPath: (path as NSString).appendingPathComponent(SafetensorsFolder.indexName)) {
            return try summary(SafetensorsFolder(folder: path))
        }
        let opened = try CheckpointFormat.open(path)
        switch opened.format {
        case .gguf: return summary(try CheckpointFormat.reading(opened.path) { try GGUFFile(file: opened.file) },
                                   path: opened.path)
        case .safetensors:
            return try summary(try CheckpointFormat.reading(opened.path) { try SafetensorsFile(file: opened.file) },
                               path: opened.path)
        }
    }

    public static func summary(_ gguf: GGUFFile, path: String) -> CheckpointSummary {
        CheckpointSummary(
            path: path, format: "gguf", architecture: gguf.metadata["general.architecture"]?.string,
            metadata: gguf.metadata.entries.map { ($0.key, value($0.value)) },
            tensors: gguf.tensors.map {
                TensorRow(name: $0.name, type: $0.type.name, shape: $0.shape, bytes: $0.byteCount)
            },
            parameters: gguf.parameterCount)
    }

    static func summary(_ file: SafetensorsFile, path: String) throws -> CheckpointSummary {
        // The architecture lives in config.json beside the weights (Hugging Face layout); a bare
        // safetensors file has none, but a config.json that is there must be readable.
        let folder = (path as NSString).deletingLastPathComponent
        let architecture = HuggingFaceConfig.exists(folder: folder)
            ? try HuggingFaceConfig(folder: folder).modelType : nil
        return CheckpointSummary(
            path: path, format: "safetensors", architecture: architecture,
            metadata: file.metadata.keys.sorted().map {
                ($0, .scalar(file.metadata[$0]!, json: jsonString(file.metadata[$0]!)))
            },
            tensors: file.tensors.map {
                TensorRow(name: $0.name, type: $0.dtype.rawValue, shape: $0.shape, bytes: $0.end - $0.start)
            },
            parameters: file.parameterCount)
    }

    /// A sharded folder: its tensors in name order, and where each one lives.
    static func summary(_ folder: SafetensorsFolder) throws -> CheckpointSummary {
        let names = folder.tensors.keys.sorted()
        let shards = folder.files.map { ($0 as NSString).lastPathComponent }
        return CheckpointSummary(
            path: folder.folder, format: "safetensors",
            architecture: try HuggingFaceConfig(folder: folder.folder).modelType,
            metadata: [("shards", .scalar(shards.joined(separator: ", "),
                                          json: jsonString(shards.joined(separator: ","))))],
            tensors: names.map { name in
                let info = folder.tensors[name]!
                return TensorRow(name: name, type: info.dtype.rawValue, shape: info.shape, bytes: info.end - info.start)
            },
            parameters: names.reduce(0) { $0 + folder.tensors[$1]!.elementCount })
    }

    static func value(_ v: GGUFValue) -> MetadataValue {
        switch v {
        case .string(let s): return .scalar(s, json: jsonString(s))
        case .bool(let b): return .scalar(String(b), json: String(b))
        case .float32(let f): return .scalar("\(f)", json: f.isFinite ? "\(f)" : "null")
        case .float64(let f): return .scalar("\(f)", json: f.isFinite ? "\(f)" : "null")
        case .array(let type, let values):
            return .array(elementType: "\(type)", count: values.count, head: values.prefix(arrayPreview).map(value))
        default: return .scalar("\(v.integer ?? 0)", json: "\(v.integer ?? 0)")
        }
    }
}

public enum CheckpointFormat: Sendable {
    case gguf, safetensors

    /// Maps a checkpoint and recognises its format. `path` is a GGUF or safetensors file, or a Hugging Face
    /// folder (its model.safetensors is opened). Missing and foreign files are errors that say so.
    public static func open(_ path: String) throws -> (path: String, file: MappedFile, format: CheckpointFormat) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CheckpointIOError.cannotOpen(path: path, reason: "no such file")
        }
        let file = isDirectory.boolValue ? (path as NSString).appendingPathComponent("model.safetensors") : path
        let mapped = try MappedFile(path: file)
        if mapped.bytes.isEmpty { throw CheckpointFormatError.empty(path: file) }
        guard let format = detect(mapped.bytes, name: file) else {
            throw CheckpointFormatError.unrecognised(path: file, firstBytes: Array(mapped.bytes.prefix(8)))
        }
        return (file, mapped, format)
    }

    /// Recognises a format by its name or first bytes: "GGUF"; or a `.safetensors` name, or a first
    /// 8 bytes that read as a header length a safetensors file can have. A damaged file of either kind
    /// is recognised, so that its own reader says what is wrong with it.
    public static func detect(_ bytes: UnsafeRawBufferPointer, name: String = "") -> CheckpointFormat? {
        if bytes.count >= 4 && Array(bytes.prefix(4)) == Array("GGUF".utf8) { return .gguf }
        if name.hasSuffix(".safetensors") { return .safetensors }
        if bytes.count >= 9 {
            let length = UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
            if length > 1 && length <= UInt64(SafetensorsFile.maxHeaderBytes) &&
                    [UInt8(ascii: "{"), UInt8(ascii: "[")].contains(bytes[8]) {
                return .safetensors
            }
        }
        return nil
    }

    /// Runs a reader of the checkpoint at `path`; its errors come back naming the file.
    public static func reading<T>(_ path: String, _ read: () throws -> T) throws -> T {
        do { return try read() } catch let error as UserFileError { throw error } catch {
            let text = "\(error)"
            if text.contains(path) { throw error }
            throw UserFileError(path: path, reason: text)
        }
    }
}

public enum CheckpointFormatError: Error, Equatable, CustomStringConvertible {
    case unrecognised(path: String, firstBytes: [UInt8])
    case empty(path: String)

    public var description: String {
        switch self {
        case .empty(let path):
            return "'\(path)' is empty (0 bytes), so it is no checkpoint: its download or copy was cut short. " +
                "Fetch or copy it again."
        case .unrecognised(let path, let bytes):
            return "'\(path)' is neither GGUF nor safetensors " +
                "(it starts with \(bytes.map { String(format: "%02x", $0) }.joined(separator: " "))). " +
                "Pass a .gguf file, a .safetensors file, or a Hugging Face model folder."
        }
    }
}

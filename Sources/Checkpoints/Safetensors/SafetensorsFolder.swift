import AtomicFiles
import Foundation
import JSON

/// The weights of a Hugging Face folder: `model.safetensors`, or the shards that
/// `model.safetensors.index.json` lists (`{"weight_map": {tensor: "model-0000k-of-0000n.safetensors"}}`).
///
/// Every shard is opened and verified; a tensor the index names must be in the shard it names, and a
/// shard's tensor that the index does not list, or lists elsewhere, is an error: a mixed-up download
/// must not load as a different model.
public final class SafetensorsFolder: @unchecked Sendable {
    public let folder: String
    /// Each tensor's shard, by name.
    public let shards: [String: SafetensorsFile]
    /// Every tensor's entry, by name.
    public let tensors: [String: SafetensorsTensorInfo]
    /// The files read, for records and messages.
    public let files: [String]

    public static let indexName = "model.safetensors.index.json"

    public init(folder: String) throws {
        self.folder = folder
        let index = (folder as NSString).appendingPathComponent(Self.indexName)
        let single = (folder as NSString).appendingPathComponent("model.safetensors")
        var shards: [String: SafetensorsFile] = [:], tensors: [String: SafetensorsTensorInfo] = [:],
            files: [String] = []
        if FileManager.default.fileExists(atPath: index) {
            let map = try Self.weightMap(index)
            for file in Set(map.values).sorted() {
                let path = (folder as NSString).appendingPathComponent(file)
                let shard = try CheckpointFormat.reading(path) { try SafetensorsFile(path: path) }
                files.append(path)
                for info in shard.tensors {
                    guard map[info.name] == file else {
                        throw UserFileError(
                            path: path,
                            reason: "holds tensor '\(info.name)', which \(Self.indexName) " +
                                "\(map[info.name].map { "places in \($0)" } ?? "does not list"); " +
                                "the shards and the index are from different exports. Download the folder again")
                    }
                    shards[info.name] = shard
                    tensors[info.name] = info
                }
            }
            if let missing = map.keys.sorted().first(where: { tensors[$0] == nil }) {
                throw UserFileError(
                    path: index,
                    reason: "lists tensor '\(missing)' in \(map[missing]!), which does not hold it; " +
                        "a shard is missing or truncated. Download the folder again")
            }
        } else if FileManager.default.fileExists(atPath: single) {
            let file = try CheckpointFormat.reading(single) { try SafetensorsFile(path: single) }
            files.append(single)
            for info in file.tensors { shards[info.name] = file; tensors[info.name] = info }
        } else {
            throw UserFileError(
                path: folder,
                reason: "has neither model.safetensors nor \(Self.indexName); " +
                    "a Hugging Face folder needs its weights. Download them, or pass a GGUF")
        }
        self.shards = shards
        self.tensors = tensors
        self.files = files
    }

    public var shapes: [String: [Int]] { tensors.mapValues(\.shape) }

    /// A tensor as Float32 (from F32, F16 or BF16).
    public func floats(_ name: String) throws -> [Float] {
        guard let shard = shards[name] else { throw SafetensorsError.unknownTensor(name) }
        return try shard.floats(name)
    }

    static func weightMap(_ path: String) throws -> [String: String] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CheckpointIOError.cannotOpen(path: path, reason: "unreadable")
        }
        let json: JSONValue
        do { json = try data.withUnsafeBytes { try StrictJSONParser.parse($0) } } catch {
            throw UserFileError(
                path: path,
                reason: "is not valid JSON (\(error)); it is truncated or corrupt. Download the folder again")
        }
        guard case .object(let members)? = json["weight_map"] else {
            throw UserFileError(
                path: path, reason: "has no \"weight_map\" object of tensor → shard file. Download the folder again")
        }
        var map: [String: String] = [:]
        for (name, value) in members {
            guard case .string(let file) = value, !file.contains("/"), file.hasSuffix(".safetensors") else {
                throw UserFileError(path: path,
                                    reason: "maps '\(name)' to \(value), not a .safetensors file in the folder")
            }
            map[name] = file
        }
        return map
    }
}

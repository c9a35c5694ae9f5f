import Foundation
import JSON

/// A Hugging Face folder's `config.json`, read strictly, with errors that name the file.
public struct HuggingFaceConfig: Sendable {
    public let path: String
    public let data: Data
    public let json: JSONValue
    /// `model_type`: the family that says how to read the rest.
    public let modelType: String

    /// Reads `config.json` in `folder`.
    public init(folder: String) throws(HuggingFaceConfigError) {
        let path = (folder as NSString).appendingPathComponent("config.json")
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
              let data = FileManager.default.contents(atPath: path) else { throw .missing(path: path) }
        try self.init(data: data, path: path)
    }

    /// Reads config.json's bytes; `path` names the file in messages.
    public init(data: Data, path: String) throws(HuggingFaceConfigError) {
        self.path = path
        self.data = data
        let parsed = data.withUnsafeBytes { bytes in
            Result { () throws(JSONParseError) in try StrictJSONParser.parse(bytes) }
        }
        switch parsed {
        case .success(let value): json = value
        case .failure(let error): throw .notJSON(path: path, detail: error.description)
        }
        guard case .object = json else { throw .notAnObject(path: path) }
        guard case .string(let type)? = json["model_type"] else { throw .noModelType(path: path) }
        modelType = type
    }

    /// Whether a folder holds a `config.json` at all (a bare safetensors file may not).
    public static func exists(folder: String) -> Bool {
        FileManager.default.fileExists(atPath: (folder as NSString).appendingPathComponent("config.json"))
    }

    /// A `Decodable` configuration from the file, with a decoding failure told as the key and the problem.
    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        do { return try JSONDecoder().decode(type, from: data) } catch let error as DecodingError {
            throw HuggingFaceConfigError.badField(path: path, detail: DecodingProblem.describe(error))
        }
    }
}

public enum HuggingFaceConfigError: Error, Equatable, CustomStringConvertible {
    case missing(path: String)
    case notJSON(path: String, detail: String)
    case notAnObject(path: String)
    case noModelType(path: String)
    case badField(path: String, detail: String)

    public var description: String {
        let fix = "Re-export the model with save_pretrained, or restore the file from the model's release."
        switch self {
        case .missing(let path):
            return "\(path) is missing: a Hugging Face folder needs its config.json beside the weights. \(fix)"
        case .notJSON(let path, let detail):
            return "\(path) is not valid JSON (\(detail)): it is truncated or corrupt. \(fix)"
        case .notAnObject(let path): return "\(path) is not a JSON object of configuration keys. \(fix)"
        case .noModelType(let path):
            return "\(path) has no \"model_type\" string, so the architecture is unknown. \(fix)"
        case .badField(let path, let detail): return "\(path): \(detail). \(fix)"
        }
    }
}

/// A `DecodingError` in words: which key, and what was wrong with it.
public enum DecodingProblem {
    public static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return keys.isEmpty ? "the top level" : "'\(keys.joined(separator: "."))'"
        }
        switch error {
        case .keyNotFound(let key, let context):
            let inside = context.codingPath.isEmpty ? "" : " in \(path(context))"
            return "the key '\(key.stringValue)' is missing\(inside)"
        case .typeMismatch(let type, let context): return "\(path(context)) is not \(name(of: type))"
        case .valueNotFound(let type, let context): return "\(path(context)) is null where \(name(of: type)) is needed"
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty
                ? "the file is not valid JSON" : "\(path(context)) is invalid: \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }

    static func name(of type: Any.Type) -> String {
        switch type {
        case is Int.Type, is Int32.Type, is Int64.Type, is UInt64.Type: return "an integer"
        case is Double.Type, is Float.Type: return "a number"
        case is String.Type: return "a string"
        case is Bool.Type: return "true or false"
        default: return "\(type)"
        }
    }
}

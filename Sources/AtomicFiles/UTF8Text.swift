import Foundation

/// Strict UTF-8: text Scalpel reads from the user must decode without repair, since a repaired
/// character (U+FFFD) would be tokenized as something the user never wrote.
public enum UTF8Text {
    /// The offset of the first byte that does not belong to a well-formed UTF-8 sequence, or nil.
    public static func firstInvalidByte<Bytes: Collection>(_ bytes: Bytes) -> Int? where Bytes.Element == UInt8 {
        var decoder = UTF8()
        var iterator = bytes.makeIterator()
        var offset = 0
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar): offset += UTF8.width(scalar)
            case .emptyInput: return nil
            case .error: return offset
            }
        }
    }

    /// `bytes` as a string, or an error naming `source` and the byte offset where it stops being UTF-8.
    public static func decode<Bytes: Collection>(_ bytes: Bytes,
                                                 source: String) throws -> String where Bytes.Element == UInt8 {
        if let offset = firstInvalidByte(bytes) { throw InvalidUTF8Error(source: source, offset: offset) }
        return String(decoding: bytes, as: UTF8.self)
    }
}

public struct InvalidUTF8Error: Error, CustomStringConvertible, Equatable {
    public let source: String
    public let offset: Int
    public var description: String {
        "\(source) is not valid UTF-8: the bytes at offset \(offset) do not form a character. Convert it to UTF-8 "
            + "(e.g. iconv -f LATIN1 -t UTF-8)."
    }
}

/// Files the user names, read with an error that says which file and why: missing, a folder, not
/// readable, or not UTF-8 text.
public enum UserFile {
    /// Why `path` cannot be read as a file, or nil when it can.
    public static func problem(_ path: String) -> String? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return "no such file" }
        if isDirectory.boolValue { return "it is a folder, not a file" }
        if !FileManager.default.isReadableFile(atPath: path) { return "permission denied" }
        return nil
    }

    /// The bytes of `path`, or `UserFileError` naming it and the reason.
    public static func data(_ path: String) throws -> Data {
        if let reason = problem(path) { throw UserFileError(path: path, reason: reason) }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw UserFileError(path: path, reason: "it cannot be read")
        }
        return data
    }

    /// The text of `path`, which must be UTF-8.
    public static func text(_ path: String) throws -> String {
        try UTF8Text.decode(try data(path), source: path)
    }
}

public struct UserFileError: Error, CustomStringConvertible, Equatable {
    public let path: String
    public let reason: String
    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }
    public var description: String { "cannot read \(path): \(reason)" }
}

import AtomicFiles
import Foundation
import JSON

/// Element types of safetensors that Scalpel reads and writes.
public enum SafetensorsDtype: String, Sendable, CaseIterable {
    case f32 = "F32", f16 = "F16", bf16 = "BF16", i32 = "I32", i64 = "I64", u8 = "U8"

    public var byteSize: Int {
        switch self {
        case .f32, .i32: 4
        case .f16, .bf16: 2
        case .i64: 8
        case .u8: 1
        }
    }
}

public struct SafetensorsTensorInfo: Sendable, Equatable {
    public let name: String
    public let dtype: SafetensorsDtype
    public let shape: [Int]
    /// Byte range within the data section.
    public let start: Int, end: Int
    public var elementCount: Int { shape.reduce(1, *) }
}

/// A safetensors file, memory-mapped: an 8-byte little-endian header length N, N bytes of JSON
/// ({name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {string: string}}), then the data.
///
/// Validation follows the reference implementation: the header is 8 bytes or more and at most 100 MB,
/// ends inside the file, is UTF-8 JSON starting with '{'; offsets, sorted, are contiguous from zero; each
/// span equals its element count × dtype size, computed without overflow; and the data section is
/// exactly as long as the last span (no truncation, no trailing bytes).
public final class SafetensorsFile: @unchecked Sendable {
    public static let maxHeaderBytes = 100_000_000

    public let tensors: [SafetensorsTensorInfo]   // in data order
    public let metadata: [String: String]
    public let file: MappedFile
    let dataOffset: Int
    private let index: [String: Int]

    public convenience init(path: String) throws {
        try self.init(file: MappedFile(path: path))
    }

    public init(file: MappedFile) throws(SafetensorsError) {
        self.file = file
        let size = file.bytes.count
        guard size >= 8 else { throw .headerTooSmall(fileSize: size) }
        let length = UInt64(littleEndian: file.bytes.loadUnaligned(as: UInt64.self))
        guard length <= UInt64(Self.maxHeaderBytes) else {
            throw .headerTooLarge(length: length, limit: Self.maxHeaderBytes)
        }
        guard length <= UInt64(size - 8) else { throw .headerLengthPastEnd(length: length, fileSize: size) }
        let headerBytes = UnsafeRawBufferPointer(rebasing: file.bytes[8..<(8 + Int(length))])
        guard let header = String(validating: headerBytes, as: UTF8.self) else { throw .headerNotUTF8 }
        guard header.first == "{" else { throw .headerNotAnObject }
        let json: JSONValue
        do {
            json = try StrictJSONParser.parse(headerBytes)
        } catch {
            if error.reason.hasPrefix("duplicate key") {
                throw .duplicateTensor(String(error.reason.dropFirst(15).dropLast()))
            }
            throw .headerNotJSON(error.description)
        }
        guard case .object(let members) = json else { throw .headerNotAnObject }

        var metadata: [String: String] = [:]
        var infos: [SafetensorsTensorInfo] = []
        for (name, entry) in members {
            if name == "__metadata__" {
                guard case .object(let map) = entry else { throw .badMetadata("not an object") }
                for (key, value) in map {
                    guard case .string(let text) = value else { throw .badMetadata("'\(key)' is not a string") }
                    metadata[key] = text
                }
                continue
            }
            guard case .object = entry else { throw .badEntry(tensor: name, detail: "entry is not an object") }
            guard case .string(let dtypeName)? = entry["dtype"] else {
                throw .badEntry(tensor: name, detail: "missing dtype")
            }
            guard let dtype = SafetensorsDtype(rawValue: dtypeName) else {
                throw .unknownDtype(tensor: name, dtype: dtypeName)
            }
            guard case .array(let shapeValues)? = entry["shape"],
                    let shape = Self.nonNegativeIntegers(shapeValues) else {
                throw .badEntry(tensor: name, detail: "shape is missing or not a list of non-negative integers")
            }
            guard case .array(let offsetValues)? = entry["data_offsets"], offsetValues.count == 2,
                  let offsets = Self.nonNegativeIntegers(offsetValues), offsets[0] <= offsets[1] else {
                throw .badEntry(tensor: name, detail: "data_offsets is missing or not [begin, end] with begin ≤ end")
            }
            infos.append(SafetensorsTensorInfo(name: name, dtype: dtype, shape: shape,
                                               start: offsets[0], end: offsets[1]))
        }
        infos.sort { ($0.start, $0.end, $0.name) < ($1.start, $1.end, $1.name) }
        var position = 0
        for info in infos {
            guard info.start == position else {
                throw .nonContiguousOffsets(tensor: info.name, expectedStart: position, start: info.start)
            }
            var elements = 1
            for dimension in info.shape {
                let (product, overflow) = elements.multipliedReportingOverflow(by: dimension)
                guard !overflow else { throw .sizeOverflow(tensor: info.name) }
                elements = product
            }
            let (bytes, overflow) = elements.multipliedReportingOverflow(by: info.dtype.byteSize)
            guard !overflow else { throw .sizeOverflow(tensor: info.name) }
            guard info.end - info.start == bytes else {
                throw .sizeMismatch(tensor: info.name, span: info.end - info.start, expected: bytes)
            }
            position = info.end
        }
        dataOffset = 8 + Int(length)
        guard size - dataOffset == position else {
            throw .dataSizeMismatch(dataBytes: size - dataOffset, described: position)
        }
        self.metadata = metadata
        self.tensors = infos
        var index: [String: Int] = [:]
        for (i, info) in infos.enumerated() { index[info.name] = i }
        self.index = index
    }

    private static func nonNegativeIntegers(_ values: [JSONValue]) -> [Int]? {
        var result: [Int] = []
        for value in values {
            guard case .integer(let integer) = value, integer >= 0 else { return nil }
            result.append(Int(integer))
        }
        return result
    }

    public func tensor(named name: String) -> SafetensorsTensorInfo? { index[name].map { tensors[$0] } }

    public func data(of info: SafetensorsTensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: file.bytes[(dataOffset + info.start)..<(dataOffset + info.end)])
    }

    /// The tensor converted to Float32 (integers converted by value).
    public func floats(_ name: String) throws(SafetensorsError) -> [Float] {
        guard let info = tensor(named: name) else { throw .unknownTensor(name) }
        let bytes = data(of: info)
        let count = info.elementCount
        guard count > 0 else { return [] }
        let b = bytes.baseAddress!
        return (0..<count).map { i in
            switch info.dtype {
            case .f32: Float(bitPattern: UInt32(littleEndian: b.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
            case .f16: halfToFloat(UInt16(littleEndian: b.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
            case .bf16: bfloat16ToFloat(UInt16(littleEndian: b.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
            case .i32: Float(Int32(littleEndian: b.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)))
            case .i64: Float(Int64(littleEndian: b.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)))
            case .u8: Float(b.load(fromByteOffset: i, as: UInt8.self))
            }
        }
    }

    /// Parameters: elements of floating-point tensors (integer tensors such as BERT's position_ids are
    /// buffers, not parameters, and Hugging Face does not count them either).
    public var parameterCount: Int {
        tensors.filter { [.f32, .f16, .bf16].contains($0.dtype) }.reduce(0) { $0 + $1.elementCount }
    }
}

/// One tensor to write.
public struct SafetensorsEntry: Sendable {
    public var name: String
    public var dtype: SafetensorsDtype
    public var shape: [Int]
    public var bytes: [UInt8]

    public init(name: String, dtype: SafetensorsDtype, shape: [Int], bytes: [UInt8]) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    /// Float32 values stored as `dtype` (F32, F16 or BF16).
    public init(name: String, floats: [Float], shape: [Int], dtype: SafetensorsDtype = .f32) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(floats.count * dtype.byteSize)
        for value in floats {
            switch dtype {
            case .f16: withUnsafeBytes(of: floatToHalf(value).littleEndian) { bytes.append(contentsOf: $0) }
            case .bf16: withUnsafeBytes(of: floatToBFloat16(value).littleEndian) { bytes.append(contentsOf: $0) }
            default: withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
            }
        }
        self.init(name: name, dtype: dtype == .f16 || dtype == .bf16 ? dtype : .f32, shape: shape, bytes: bytes)
    }
}

/// Writes a safetensors file atomically: tensors in the given order, offsets contiguous from zero, the
/// header padded with spaces to a multiple of 8 bytes (as the reference writer does).
public func writeSafetensors(_ entries: [SafetensorsEntry], metadata: [String: String] = [:], to url: URL) throws {
    var seen = Set<String>()
    var fields: [String] = []
    if !metadata.isEmpty {
        let pairs = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }
        fields.append("\"__metadata__\":{\(pairs.joined(separator: ","))}")
    }
    var offset = 0
    for entry in entries {
        guard seen.insert(entry.name).inserted else { throw SafetensorsError.duplicateTensor(entry.name) }
        let expected = entry.shape.reduce(1, *) * entry.dtype.byteSize
        guard entry.bytes.count == expected else {
            throw SafetensorsError.sizeMismatch(tensor: entry.name, span: entry.bytes.count, expected: expected)
        }
        let shape = entry.shape.map(String.init).joined(separator: ",")
        fields.append("\(jsonString(entry.name)):{\"dtype\":\"\(entry.dtype.rawValue)\",\"shape\":[\(shape)]," +
                      "\"data_offsets\":[\(offset),\(offset + entry.bytes.count)]}")
        offset += entry.bytes.count
    }
    var json = Array("{\(fields.joined(separator: ","))}".utf8)
    json.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - json.count % 8) % 8))
    try AtomicFile.write(to: url) { temporary in
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
            throw AtomicFileError.cannotCreate(path: temporary.path, reason: "permission denied or disk full")
        }
        let handle = try FileHandle(forWritingTo: temporary)
        defer { try? handle.close() }
        var length = UInt64(json.count).littleEndian
        try handle.write(contentsOf: Data(bytes: &length, count: 8))
        try handle.write(contentsOf: json)
        for entry in entries { try handle.write(contentsOf: entry.bytes) }
    }
}

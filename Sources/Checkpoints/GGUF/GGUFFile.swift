import Foundation

/// One tensor's entry in a GGUF file.
public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    /// ggml's `ne`: innermost (row length) first.
    public let dimensions: [Int]
    public let type: GGMLType
    /// Offset from the start of the data section.
    public let offset: Int
    public let byteCount: Int

    /// Row-major shape, outermost first (the reverse of `dimensions`): a [out, in] matrix for weights.
    public var shape: [Int] { dimensions.reversed() }
    public var elementCount: Int { dimensions.reduce(1, *) }
}

/// A GGUF checkpoint (versions 2 and 3), memory-mapped and validated in full on open.
///
/// Layout (gguf.h): magic "GGUF", u32 version, u64 tensor count, u64 key/value count; the key/values;
/// the tensor infos (name, u32 rank, u64 dims, u32 type, u64 offset); padding to `general.alignment`
/// (default 32); then the data section, where each tensor sits at its aligned offset.
///
/// Every count is checked against the bytes that remain before anything is allocated, so a corrupt
/// header cannot make the reader allocate more than the file's size.
public final class GGUFFile: @unchecked Sendable {
    public static let defaultAlignment = 32
    static let maxNesting = 8

    public let version: UInt32
    public let metadata: GGUFMetadata
    public let tensors: [GGUFTensorInfo]
    public let alignment: Int
    /// Absolute file offset of the data section.
    public let dataOffset: Int
    public let file: MappedFile
    private let index: [String: Int]

    public convenience init(path: String) throws {
        try self.init(file: MappedFile(path: path))
    }

    public init(file: MappedFile) throws(GGUFError) {
        self.file = file
        var reader = ByteReader(file.bytes)
        let magic = Array(try reader.slice(4, "the magic"))
        guard magic == Array("GGUF".utf8) else { throw .badMagic(found: magic) }
        version = try reader.integer(UInt32.self, "the version")
        guard version == 2 || version == 3 else { throw .unsupportedVersion(version) }
        let tensorCount = try reader.integer(UInt64.self, "the tensor count")
        let keyValueCount = try reader.integer(UInt64.self, "the metadata count")
        // The smallest key/value is 13 bytes (empty key, type, one byte); the smallest tensor info 24.
        let keyValues = try Self.checkedCount(keyValueCount, "metadata entries", minimumBytes: 13, reader.remaining)
        let tensorTotal = try Self.checkedCount(tensorCount, "tensors", minimumBytes: 24, reader.remaining)

        var entries: [(String, GGUFValue)] = []
        entries.reserveCapacity(keyValues)
        var seen = Set<String>()
        for i in 0..<keyValues {
            let key = try Self.readString(&reader, "the key of metadata entry \(i)")
            let typeID = try reader.integer(UInt32.self, "the type of '\(key)'")
            let value = try Self.readValue(&reader, typeID: typeID, key: key, depth: 0)
            guard seen.insert(key).inserted else { throw .duplicateKey(key) }
            entries.append((key, value))
        }
        metadata = GGUFMetadata(entries)

        if let value = metadata["general.alignment"] {
            guard case .uint32(let a) = value else { throw .badAlignment("stored as \(value.type)") }
            guard a > 0, a & (a - 1) == 0 else { throw .badAlignment("\(a)") }
            alignment = Int(a)
        } else {
            alignment = Self.defaultAlignment
        }

        var infos: [GGUFTensorInfo] = []
        infos.reserveCapacity(tensorTotal)
        var names: [String: Int] = [:]
        var raw: [(name: String, dims: [Int], type: GGMLType, offset: UInt64)] = []
        for i in 0..<tensorTotal {
            let name = try Self.readString(&reader, "the name of tensor \(i)")
            let rank = try reader.integer(UInt32.self, "the rank of '\(name)'")
            guard rank <= 4 else { throw .tooManyDimensions(tensor: name, dimensions: rank) }
            var rawDims: [UInt64] = []
            for d in 0..<Int(rank) { rawDims.append(try reader.integer(UInt64.self, "dimension \(d) of '\(name)'")) }
            var dims: [Int] = []
            var elements = 1
            for dimension in rawDims {
                guard dimension <= UInt64(Int64.max) else { throw .badDimension(tensor: name, dimension: dimension) }
                let (product, overflow) = elements.multipliedReportingOverflow(by: Int(dimension))
                guard !overflow else { throw .elementCountOverflow(tensor: name, dimensions: rawDims) }
                elements = product
                dims.append(Int(dimension))
            }
            let typeID = try reader.integer(UInt32.self, "the type of '\(name)'")
            guard let type = GGMLType(rawValue: typeID) else {
                if let known = GGMLType.knownName(of: typeID) {
                    throw .unsupportedType(tensor: name, id: typeID, name: known)
                }
                throw .unknownType(tensor: name, id: typeID)
            }
            let offset = try reader.integer(UInt64.self, "the data offset of '\(name)'")
            guard names[name] == nil else { throw .duplicateTensor(name) }
            names[name] = i
            if let rowLength = dims.first, rowLength % type.blockSize != 0 {
                throw .notWholeBlocks(tensor: name, type: type.name, rowLength: rowLength, blockSize: type.blockSize)
            }
            raw.append((name, dims, type, offset))
        }

        // The data section starts at the next multiple of the alignment.
        let headerEnd = reader.offset
        dataOffset = (headerEnd + alignment - 1) / alignment * alignment
        let dataSize = max(0, file.bytes.count - dataOffset)
        for entry in raw {
            guard entry.offset % UInt64(alignment) == 0 else {
                throw .misalignedOffset(tensor: entry.name, offset: entry.offset, alignment: alignment)
            }
            let elements = entry.dims.reduce(1, *)
            guard let bytes = entry.type.byteCount(elements: elements) else {
                throw .elementCountOverflow(tensor: entry.name, dimensions: entry.dims.map { UInt64($0) })
            }
            let (end, overflow) = entry.offset.addingReportingOverflow(UInt64(bytes))
            guard !overflow, end <= UInt64(dataSize) else {
                throw .dataOutOfBounds(tensor: entry.name, start: entry.offset, bytes: bytes, dataSize: dataSize)
            }
            infos.append(GGUFTensorInfo(name: entry.name, dimensions: entry.dims, type: entry.type,
                                        offset: Int(entry.offset), byteCount: bytes))
        }
        let byOffset = infos.filter { $0.byteCount > 0 }.sorted { $0.offset < $1.offset }
        for (a, b) in zip(byOffset, byOffset.dropFirst()) where a.offset + a.byteCount > b.offset {
            throw .overlappingTensors(a.name, b.name)
        }
        tensors = infos
        index = names
    }

    public func tensor(named name: String) -> GGUFTensorInfo? { index[name].map { tensors[$0] } }

    /// The tensor's raw bytes, valid while this file is alive.
    /// An empty tensor has no bytes to point at: the aligned data section may even start past the end of a
    /// file that holds nothing else (the checkpoints fuzzer's find).
    public func data(of tensor: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        guard tensor.byteCount > 0 else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(
            rebasing: file.bytes[(dataOffset + tensor.offset)..<(dataOffset + tensor.offset + tensor.byteCount)])
    }

    /// The tensor as Float32, in row-major order of `shape`.
    public func dequantized(_ name: String) throws -> [Float] {
        guard let info = tensor(named: name) else { throw GGUFError.unknownTensor(name) }
        return try dequantize(info.type, data(of: info), count: info.elementCount, tensor: name)
    }

    /// Total parameters: the sum of every tensor's element count.
    public var parameterCount: Int { tensors.reduce(0) { $0 + $1.elementCount } }

    // MARK: - Parsing helpers

    static func checkedCount(_ count: UInt64, _ what: String, minimumBytes: Int,
                             _ remaining: Int) throws(GGUFError) -> Int {
        let limit = remaining / minimumBytes
        guard count <= UInt64(limit) else { throw .absurdCount(what: what, count: count, limit: limit) }
        return Int(count)
    }

    static func readString(_ reader: inout ByteReader, _ what: String) throws(GGUFError) -> String {
        let length = try reader.integer(UInt64.self, "the length of \(what)")
        guard length <= UInt64(reader.remaining) else {
            throw .truncated(what: what, offset: reader.offset, needed: Int(clamping: length),
                             available: reader.remaining)
        }
        return String(decoding: try reader.slice(Int(length), what), as: UTF8.self)
    }

    static func readValue(_ reader: inout ByteReader, typeID: UInt32, key: String,
                          depth: Int) throws(GGUFError) -> GGUFValue {
        guard let type = GGUFValueType(rawValue: typeID) else { throw .badValueType(key: key, type: typeID) }
        switch type {
        case .uint8: return .uint8(try reader.integer(UInt8.self, "'\(key)'"))
        case .int8: return .int8(try reader.integer(Int8.self, "'\(key)'"))
        case .uint16: return .uint16(try reader.integer(UInt16.self, "'\(key)'"))
        case .int16: return .int16(try reader.integer(Int16.self, "'\(key)'"))
        case .uint32: return .uint32(try reader.integer(UInt32.self, "'\(key)'"))
        case .int32: return .int32(try reader.integer(Int32.self, "'\(key)'"))
        case .uint64: return .uint64(try reader.integer(UInt64.self, "'\(key)'"))
        case .int64: return .int64(try reader.integer(Int64.self, "'\(key)'"))
        case .float32: return .float32(try reader.float32("'\(key)'"))
        case .float64: return .float64(try reader.float64("'\(key)'"))
        case .bool:
            let byte = try reader.integer(UInt8.self, "'\(key)'")
            guard byte <= 1 else { throw .badValueType(key: key, type: typeID) }
            return .bool(byte == 1)
        case .string: return .string(try readString(&reader, "the value of '\(key)'"))
        case .array:
            guard depth < maxNesting else { throw .nestingTooDeep(key: key) }
            let elementTypeID = try reader.integer(UInt32.self, "the element type of '\(key)'")
            guard let elementType = GGUFValueType(rawValue: elementTypeID) else {
                throw .badValueType(key: key, type: elementTypeID)
            }
            let rawCount = try reader.integer(UInt64.self, "the length of '\(key)'")
            let minimum: Int = switch elementType {
            case .uint8, .int8, .bool: 1
            case .uint16, .int16: 2
            case .uint32, .int32, .float32: 4
            case .uint64, .int64, .float64, .string: 8
            case .array: 12
            }
            let count = try checkedCount(rawCount, "elements in '\(key)'", minimumBytes: minimum, reader.remaining)
            var values: [GGUFValue] = []
            values.reserveCapacity(count)
            for _ in 0..<count {
                values.append(try readValue(&reader, typeID: elementTypeID, key: key, depth: depth + 1))
            }
            return .array(elementType, values)
        }
    }
}

/// Metadata in file order, with lookup by key.
public struct GGUFMetadata: Sendable, Equatable {
    public let entries: [(key: String, value: GGUFValue)]
    private let index: [String: Int]

    public init(_ entries: [(String, GGUFValue)]) {
        self.entries = entries.map { (key: $0.0, value: $0.1) }
        var index: [String: Int] = [:]
        for (i, entry) in entries.enumerated() { index[entry.0] = i }
        self.index = index
    }

    public subscript(key: String) -> GGUFValue? { index[key].map { entries[$0].value } }
    public var keys: [String] { entries.map(\.key) }
    public var count: Int { entries.count }

    public static func == (a: GGUFMetadata, b: GGUFMetadata) -> Bool {
        a.entries.count == b.entries.count &&
            zip(a.entries, b.entries).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }
}

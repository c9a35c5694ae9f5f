import AtomicFiles
import Foundation

/// Writes a GGUF v3 file as a state machine, in the only order the format allows:
///
///   header → key/values (exactly the announced count) → tensor infos (exactly the announced count)
///   → tensor data (in info order, each of exactly its size) → finish
///
/// Any call out of that order throws `GGUFError.writerOutOfOrder` and writes nothing. Offsets and padding
/// are computed here, aligned to `general.alignment` if a key/value sets it (else 32). The output goes to
/// a temporary file that `finish` commits atomically (see `AtomicFile`).
public final class GGUFWriter {
    enum State: CustomStringConvertible {
        case empty, keyValues(left: Int), tensorInfos(left: Int), data(next: Int), finished
        var description: String {
            switch self {
            case .empty: "before the header"
            case .keyValues(let left): "while \(left) key/values are still due"
            case .tensorInfos(let left): "while \(left) tensor infos are still due"
            case .data(let next): "while the data of tensor \(next) is due"
            case .finished: "after finish"
            }
        }
    }

    private var state = State.empty
    private var buffer: [UInt8] = []
    private let handle: FileHandle
    private let temporary: URL
    private let destination: URL
    private var alignment = GGUFFile.defaultAlignment
    private var tensorCount = 0
    private var infos: [(name: String, type: GGMLType, byteCount: Int, offset: Int)] = []
    private var nextOffset = 0
    private var written = 0
    /// Bytes of the current tensor written so far by `writeTensorData(partOf:)`.
    private var partWritten = 0

    /// Opens a writer for `url`; nothing appears there until `finish()` succeeds.
    public init(url: URL) throws {
        var isDirectory: ObjCBool = false
        let directory = url.deletingLastPathComponent()
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory),
                isDirectory.boolValue else {
            throw AtomicFileError.missingDirectory(path: directory.path)
        }
        destination = url
        temporary = TemporaryFiles.claim(for: url)
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
            throw AtomicFileError.cannotCreate(path: temporary.path, reason: "permission denied or disk full")
        }
        handle = try FileHandle(forWritingTo: temporary)
    }

    deinit {
        defer { TemporaryFiles.release(temporary) }
        if case .finished = state { return }
        try? handle.close()
        try? FileManager.default.removeItem(at: temporary)
    }

    public func writeHeader(tensorCount: Int, metadataCount: Int) throws {
        guard case .empty = state else {
            throw GGUFError.writerOutOfOrder(call: "writeHeader", state: state.description)
        }
        append(Array("GGUF".utf8))
        append(UInt32(3))
        append(UInt64(tensorCount))
        append(UInt64(metadataCount))
        self.tensorCount = tensorCount
        state = metadataCount > 0
            ? .keyValues(left: metadataCount) : (tensorCount > 0 ? .tensorInfos(left: tensorCount) : .data(next: 0))
    }

    public func writeKeyValue(_ key: String, _ value: GGUFValue) throws {
        guard case .keyValues(let left) = state else {
            throw GGUFError.writerOutOfOrder(call: "writeKeyValue('\(key)')", state: state.description)
        }
        if key == "general.alignment" {
            guard case .uint32(let a) = value, a > 0, a & (a - 1) == 0 else { throw GGUFError.badAlignment("\(value)") }
            alignment = Int(a)
        }
        appendString(key)
        append(value.type.rawValue)
        appendValue(value)
        state = left > 1
            ? .keyValues(left: left - 1) : (tensorCount > 0 ? .tensorInfos(left: tensorCount) : .data(next: 0))
        try flushIfLarge()
    }

    /// Announces a tensor. - shape: row-major, outermost first (as `GGUFTensorInfo.shape`).
    public func writeTensorInfo(name: String, type: GGMLType, shape: [Int]) throws {
        guard case .tensorInfos(let left) = state else {
            throw GGUFError.writerOutOfOrder(call: "writeTensorInfo('\(name)')", state: state.description)
        }
        guard shape.count <= 4 else { throw GGUFError.tooManyDimensions(tensor: name, dimensions: UInt32(shape.count)) }
        let dimensions = Array(shape.reversed())
        guard let bytes = type.byteCount(elements: dimensions.reduce(1, *)),
                (dimensions.first ?? 0) % type.blockSize == 0 else {
            throw GGUFError.notWholeBlocks(tensor: name, type: type.name,
                                           rowLength: dimensions.first ?? 0, blockSize: type.blockSize)
        }
        appendString(name)
        append(UInt32(dimensions.count))
        for d in dimensions { append(UInt64(d)) }
        append(type.rawValue)
        append(UInt64(nextOffset))
        infos.append((name, type, bytes, nextOffset))
        nextOffset += (bytes + alignment - 1) / alignment * alignment
        state = left > 1 ? .tensorInfos(left: left - 1) : .data(next: 0)
        if left == 1 { padToAlignment() }
        try flushIfLarge()
    }

    /// Writes the next tensor's bytes (exactly its size).
    public func writeTensorData(_ bytes: UnsafeRawBufferPointer) throws {
        guard case .data(let next) = state, next < infos.count, partWritten == 0 else {
            throw GGUFError.writerOutOfOrder(call: "writeTensorData", state: state.description)
        }
        let info = infos[next]
        guard bytes.count == info.byteCount else {
            throw GGUFError.writerMismatch(
                "tensor '\(info.name)' needs \(info.byteCount) bytes of \(info.type.name), got \(bytes.count)")
        }
        try writeTensorData(partOf: bytes)
    }

    /// Writes the next part of the current tensor's bytes: a large tensor need not be in memory at once.
    /// The parts must add up to exactly its size; the tensor is done when they do.
    public func writeTensorData(partOf bytes: UnsafeRawBufferPointer) throws {
        guard case .data(let next) = state, next < infos.count else {
            throw GGUFError.writerOutOfOrder(call: "writeTensorData", state: state.description)
        }
        let info = infos[next]
        guard partWritten + bytes.count <= info.byteCount else {
            throw GGUFError.writerMismatch(
                "tensor '\(info.name)' needs \(info.byteCount) bytes of \(info.type.name), " +
                    "got \(partWritten + bytes.count)")
        }
        buffer.append(contentsOf: bytes)
        partWritten += bytes.count
        if partWritten == info.byteCount {
            partWritten = 0
            if next + 1 < infos.count { padToAlignment() }
            state = .data(next: next + 1)
        }
        try flushIfLarge()
    }

    /// Flushes, fsyncs and renames the file into place.
    public func finish() throws {
        guard case .data(let next) = state, next == infos.count, infos.count == tensorCount, partWritten == 0 else {
            throw GGUFError.writerOutOfOrder(call: "finish", state: state.description)
        }
        try flush()
        try handle.synchronize()
        try handle.close()
        try AtomicFile.write(to: destination) { target in
            try FileManager.default.moveItem(at: temporary, to: target)
        }
        state = .finished
    }

    // MARK: - Encoding

    private func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { buffer.append(contentsOf: $0) }
    }

    private func append(_ bytes: [UInt8]) { buffer.append(contentsOf: bytes) }

    private func appendString(_ text: String) {
        let utf8 = Array(text.utf8)
        append(UInt64(utf8.count))
        append(utf8)
    }

    private func appendValue(_ value: GGUFValue) {
        switch value {
        case .uint8(let v): append(v)
        case .int8(let v): append(v)
        case .uint16(let v): append(v)
        case .int16(let v): append(v)
        case .uint32(let v): append(v)
        case .int32(let v): append(v)
        case .uint64(let v): append(v)
        case .int64(let v): append(v)
        case .float32(let v): append(v.bitPattern)
        case .float64(let v): append(v.bitPattern)
        case .bool(let v): append(UInt8(v ? 1 : 0))
        case .string(let v): appendString(v)
        case .array(let type, let values):
            append(type.rawValue)
            append(UInt64(values.count))
            for element in values { appendValue(element) }
        }
    }

    private func padToAlignment() {
        let position = written + buffer.count
        let padding = (alignment - position % alignment) % alignment
        buffer.append(contentsOf: repeatElement(0, count: padding))
    }

    private func flushIfLarge() throws { if buffer.count >= 1 << 24 { try flush() } }

    private func flush() throws {
        try handle.write(contentsOf: buffer)
        written += buffer.count
        buffer.removeAll(keepingCapacity: true)
    }
}

extension GGUFFile {
    /// Writes this file to `url` with the same metadata (in order) and tensors, copying each tensor's bytes
    /// unchanged unless `replacing` gives new bytes (and possibly a new type) for it.
    /// - metadata: replacement metadata in the order to write; nil keeps the file's own.
    public func write(to url: URL, metadata newMetadata: [(String, GGUFValue)]? = nil,
                      replacing: [String: (type: GGMLType, bytes: () throws -> [UInt8])] = [:]) throws {
        for name in replacing.keys where tensor(named: name) == nil { throw GGUFError.unknownTensor(name) }
        let entries = newMetadata ?? metadata.entries.map { ($0.key, $0.value) }
        let writer = try GGUFWriter(url: url)
        try writer.writeHeader(tensorCount: tensors.count, metadataCount: entries.count)
        for (key, value) in entries { try writer.writeKeyValue(key, value) }
        for info in tensors {
            try writer.writeTensorInfo(name: info.name, type: replacing[info.name]?.type ?? info.type,
                                       shape: info.shape)
        }
        for info in tensors {
            if let replacement = replacing[info.name] {
                // Made when written, so that one replaced tensor at a time is in memory.
                let bytes = try replacement.bytes()
                guard bytes.count == replacement.type.byteCount(elements: info.elementCount) else {
                    throw GGUFError.writerMismatch(
                        "the replacement of '\(info.name)' has \(bytes.count) bytes, " +
                            "not what its \(info.elementCount) \(replacement.type.name) elements take")
                }
                try bytes.withUnsafeBytes { try writer.writeTensorData($0) }
            } else {
                try writer.writeTensorData(data(of: info))
            }
        }
        try writer.finish()
    }
}

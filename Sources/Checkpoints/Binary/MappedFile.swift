import Foundation
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// A read-only memory map of a whole file: loading a checkpoint never copies it into the heap; the
/// kernel pages in what is read. The mapping lives as long as this object.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let bytes: UnsafeRawBufferPointer
    private let mapping: UnsafeMutableRawPointer?

    public init(path: String) throws(CheckpointIOError) {
        self.path = path
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { throw .cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            throw .cannotOpen(path: path, reason: String(cString: strerror(errno)))
        }
        if (info.st_mode & S_IFMT) == S_IFDIR { throw .cannotOpen(path: path, reason: "it is a directory") }
        let size = Int(info.st_size)
        if size == 0 {
            mapping = nil
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        let pointer = mmap(nil, size, PROT_READ, MAP_PRIVATE, descriptor, 0)
        guard let pointer, pointer != MAP_FAILED else {
            throw .cannotOpen(path: path, reason: String(cString: strerror(errno)))
        }
        mapping = pointer
        bytes = UnsafeRawBufferPointer(start: pointer, count: size)
    }

    /// A mapping over bytes already in memory (tests and the fuzzer build files this way).
    public init(copying data: [UInt8], name: String = "<memory>") {
        path = name
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(data.count, 1), alignment: 64)
        data.withUnsafeBytes {
            buffer.copyMemory(from: $0.baseAddress ?? UnsafeRawPointer(buffer), byteCount: data.count)
        }
        mapping = nil
        ownedBuffer = buffer
        bytes = UnsafeRawBufferPointer(start: buffer, count: data.count)
    }

    private var ownedBuffer: UnsafeMutableRawPointer?

    deinit {
        if let mapping { munmap(mapping, bytes.count) }
        ownedBuffer?.deallocate()
    }
}

public enum CheckpointIOError: Error, Equatable, CustomStringConvertible {
    case cannotOpen(path: String, reason: String)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let reason):
            return "cannot open '\(path)': \(reason). " +
                "Check the path, or run Scripts/fetch to bring in the real checkpoints."
        }
    }
}

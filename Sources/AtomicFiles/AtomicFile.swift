import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes files that are never half-written: every writer in Scalpel goes through here.
///
/// The content is written to a temporary file in the target's own directory (so the final rename stays on
/// one filesystem and is atomic), the file is fsynced, renamed over the target, and the directory is
/// fsynced so the rename itself survives a crash. If anything fails, or the process is interrupted before
/// the rename, the target keeps its old content (or stays absent) and the temporary file is removed
/// where possible. Temporary names carry the marker `.tmp-`, which readers never trust.
public enum AtomicFile {
    /// Writes `data` to `url` atomically.
    public static func write(_ data: Data, to url: URL) throws {
        try write(to: url) { temporary in
            guard FileManager.default.createFile(atPath: temporary.path, contents: data) else {
                throw AtomicFileError.cannotCreate(path: temporary.path, reason: lastErrno())
            }
        }
    }

    /// Lets `body` produce the file at a temporary URL (by any means: a C library, a stream), then commits it.
    ///
    /// `body` must create the file at the URL it is given and close it before returning.
    public static func write(to url: URL, _ body: (URL) throws -> Void) throws {
        let directory = url.deletingLastPathComponent()
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory),
                isDirectory.boolValue else {
            throw AtomicFileError.missingDirectory(path: directory.path)
        }
        let temporary = TemporaryFiles.claim(for: url)
        defer { TemporaryFiles.release(temporary) }
        do {
            try body(temporary)
            guard FileManager.default.fileExists(atPath: temporary.path) else {
                throw AtomicFileError.nothingWritten(path: url.path)
            }
            try fsync(path: temporary.path, what: "file")
            try TemporaryFiles.uninterruptible {
                guard rename(temporary.path, url.path) == 0 else {
                    throw AtomicFileError.cannotRename(from: temporary.path, to: url.path, reason: lastErrno())
                }
                TemporaryFiles.release(temporary)
            }
        } catch {
            unlink(temporary.path)
            throw error
        }
        try fsync(path: directory.path, what: "directory")
    }

    private static func fsync(path: String, what: String) throws {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { throw AtomicFileError.cannotSync(path: path, reason: lastErrno()) }
        defer { close(descriptor) }
        #if canImport(Glibc)
        let status = Glibc.fsync(descriptor)
        #else
        let status = Darwin.fsync(descriptor)
        #endif
        // Some filesystems refuse fsync on directories (EINVAL); the rename has still happened.
        if status != 0 && !(what == "directory" && errno == EINVAL) {
            throw AtomicFileError.cannotSync(path: path, reason: lastErrno())
        }
    }

    private static func lastErrno() -> String { String(cString: strerror(errno)) }
}

public enum AtomicFileError: Error, CustomStringConvertible, Equatable {
    case missingDirectory(path: String)
    case cannotCreate(path: String, reason: String)
    case nothingWritten(path: String)
    case cannotSync(path: String, reason: String)
    case cannotRename(from: String, to: String, reason: String)

    public var description: String {
        switch self {
        case .missingDirectory(let path):
            return "cannot write into '\(path)': the directory does not exist. " +
                "Create it first (mkdir -p) or choose another output path."
        case .cannotCreate(let path, let reason):
            return "cannot create '\(path)': \(reason). Check the directory's permissions and free space."
        case .nothingWritten(let path):
            return "writing '\(path)' produced no file; this is a bug in the writer, please report it."
        case .cannotSync(let path, let reason):
            return "cannot flush '\(path)' to disk: \(reason). Check free space and the filesystem."
        case .cannotRename(let from, let to, let reason):
            return "cannot move '\(from)' to '\(to)': \(reason). Check permissions on the target directory."
        }
    }
}

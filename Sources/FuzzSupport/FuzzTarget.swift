import Foundation
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// The skeleton every fuzz target shares (see Scripts/fuzz and docs/fuzzing.md).
///
/// A target is a type with `exercise(_:)`, and an executable whose source file ends with the same three
/// declarations:
///
///     @_cdecl("LLVMFuzzerTestOneInput")
///     public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 { Target.fuzz(data, size) }
///     #if !FUZZING
///     @main struct Replay { static func main() throws { try Target.replay() } }
///     #endif
///
/// Scripts/fuzz builds it with `--sanitize fuzzer --sanitize address -DFUZZING`: there is no Swift `main`, and
/// libFuzzer's own `main` feeds mutated inputs to `LLVMFuzzerTestOneInput`. A plain `swift build` makes the
/// same file a replayer: `fuzz-NAME FILE|DIR...` runs each file (every file of a folder) through
/// `exercise` after printing `ok FILE` (and what Scalpel refused it with), which is how a crash file is
/// reproduced under a debugger.
public protocol FuzzTarget {
    /// Runs one input through the code under test, as a user's file would go. Thrown errors are the expected
    /// outcome for most inputs and are dropped; a finding is a trap, a sanitizer report, a leak or a timeout.
    static func exercise(_ bytes: [UInt8])

    /// Writes valid inputs made by Scalpel's own writers (for targets whose seeds are generated).
    static func writeSeeds(to directory: URL) throws
}

extension FuzzTarget {
    public static func writeSeeds(to directory: URL) throws {
        throw FuzzUsage("this target's seeds are committed files in Tests/FuzzCorpus; it does not generate any")
    }

    /// The body of `LLVMFuzzerTestOneInput`.
    public static func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
        let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
        exercise(bytes)
        return 0
    }

    /// The replayer's `main`: `FILE|DIR...` or `--seeds DIR`.
    public static func replay(_ arguments: [String] = Array(CommandLine.arguments.dropFirst())) throws {
        if arguments.first == "--seeds" {
            guard arguments.count == 2 else { throw FuzzUsage("usage: --seeds DIR") }
            try writeSeeds(to: URL(fileURLWithPath: arguments[1]))
            return
        }
        guard !arguments.isEmpty else { throw FuzzUsage("usage: FILE|DIR... (replays each file), or --seeds DIR") }
        FuzzLog.replaying = true
        for path in arguments {
            for file in try files(path) {
                print("ok \(file)")
                exercise(Array(try Data(contentsOf: URL(fileURLWithPath: file))))
            }
        }
    }

    static func files(_ path: String) throws -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw FuzzUsage("no such file or folder: \(path)")
        }
        guard isDirectory.boolValue else { return [path] }
        return try FileManager.default.contentsOfDirectory(atPath: path).sorted()
            .map { (path as NSString).appendingPathComponent($0) }
            .filter { var folder: ObjCBool = false
                      return FileManager.default.fileExists(atPath: $0, isDirectory: &folder) && !folder.boolValue }
    }
}

/// What a target says about an input it runs: every refusal is rendered (the message is code too, and
/// users read it), and printed under the replayer's "ok FILE" line so a replay shows what Scalpel said.
public enum FuzzLog {
    nonisolated(unsafe) static var replaying = false

    public static func refused(_ error: any Error) {
        let message = "\(error)"
        if replaying { print("  refused: \(message.replacingOccurrences(of: "\n", with: "\n    "))") }
    }

    public static func note(_ text: @autoclosure () -> String) {
        if replaying { print("  \(text())") }
    }
}

/// Known issues that a target steps around until their owner fixes them (each is listed in docs/fuzzing.md).
/// Set SCALPEL_FUZZ_KNOWN_ISSUES=1 to stop stepping around them, to reproduce them or check a fix.
public enum KnownIssues {
    public static let guarded = ProcessInfo.processInfo.environment["SCALPEL_FUZZ_KNOWN_ISSUES"] != "1"
}

public struct FuzzUsage: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A file for APIs that take a path: each input replaces it under a new inode (unlink, then create), so
/// no library can mistake it for the file it saw before. It lives in $SCALPEL_FUZZ_SCRATCH (Scripts/fuzz
/// sets it and removes it afterwards, even after a crash), else in /dev/shm where there is one (no disk
/// writes at thousands of inputs a second) and is removed when the process exits normally.
public enum ScratchFile {
    nonisolated(unsafe) private static var directory: String?

    public static func write(_ bytes: [UInt8], name: String) -> URL {
        let path = (folder() as NSString).appendingPathComponent(name)
        unlink(path)
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        precondition(descriptor >= 0, "ScratchFile: cannot create \(path)")
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { writeBytes(descriptor, $0.baseAddress! + written, bytes.count - written) }
            precondition(n > 0, "ScratchFile: cannot write \(path)")
            written += n
        }
        close(descriptor)
        return URL(fileURLWithPath: path)
    }

    private static func folder() -> String {
        if let directory { return directory }
        if let given = ProcessInfo.processInfo.environment["SCALPEL_FUZZ_SCRATCH"], !given.isEmpty {
            try? FileManager.default.createDirectory(atPath: given, withIntermediateDirectories: true)
            directory = given
            return given
        }
        let base = FileManager.default.isWritableFile(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        let made = (base as NSString).appendingPathComponent("scalpel-fuzz-\(getpid())")
        try? FileManager.default.createDirectory(atPath: made, withIntermediateDirectories: true)
        directory = made
        atexit { if let directory = ScratchFile.directory { try? FileManager.default.removeItem(atPath: directory) } }
        return made
    }
}

/// POSIX `write`, out of reach of `ScratchFile.write`'s name.
private func writeBytes(_ descriptor: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    write(descriptor, bytes, count)
}

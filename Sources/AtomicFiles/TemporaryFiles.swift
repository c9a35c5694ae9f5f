import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Every temporary file or folder a writer has open, so that a stop (SIGINT, SIGTERM) removes them
/// rather than leaving them behind, and those a killed process left are swept at the next start.
///
/// Temporary names carry `.tmp-<pid>-<random>-<host>`: the pid and host say whose they are, so a sweep
/// removes only those of this host's processes that no longer run. Shards of a run on several hosts
/// share a folder: another host's pid cannot be checked from here, so its temporaries are left alone. A stop's cleanup is ordinary code on a thread of its own,
/// which may take locks: a stop that arrives inside `uninterruptible` waits for it, which is how two
/// outputs are renamed together.
/// The write end of the stop handler's pipe (set before the handler is installed).
nonisolated(unsafe) private var stopPipe: Int32 = -1

public enum TemporaryFiles {
    private static let lock = NSRecursiveLock()
    nonisolated(unsafe) private static var live: Set<String> = []

    /// A name beside `url` that cannot collide with another writer in this or another process.
    public static func name(for url: URL) -> URL {
        let unique = "\(getpid())-\(UInt32.random(in: 0...UInt32.max))-\(hostTag)"
        return url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(unique)")
    }

    /// A fresh temporary name beside `url`, removed on a stop until `release` is called.
    public static func claim(for url: URL) -> URL {
        let temporary = name(for: url)
        lock.withLock { _ = live.insert(temporary.path) }
        return temporary
    }

    /// The temporary has been renamed into place, or removed: a stop no longer needs to remove it.
    public static func release(_ temporary: URL) {
        lock.withLock { _ = live.remove(temporary.path) }
    }

    /// Runs `body` with stops deferred until it returns: a signal that arrives meanwhile is acted on
    /// after it, so what `body` renames is renamed completely.
    public static func uninterruptible<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    /// Removes every live temporary (files and folders).
    public static func removeAll() {
        lock.withLock {
            for path in live { try? FileManager.default.removeItem(atPath: path) }
            live.removeAll()
        }
    }

    /// Takes SIGINT and SIGTERM: each removes the live temporaries, then ends the process by the same
    /// signal, as the default action would.
    ///
    /// The handler is process-wide (`sigaction`), since libraries start threads of their own before
    /// `main` (OpenBLAS's workers) and the kernel may deliver the signal to any of them. It only writes
    /// the signal's number to a pipe, which is all a signal handler may safely do; a thread of ours
    /// reads it and does the cleanup as ordinary code, under the lock writers take.
    public static func installStopHandler() {
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { return }
        stopPipe = ends[1]
        let reader = ends[0]
        let thread = Thread {
            // Raising the signal below must reach this thread whatever mask it was started with.
            var stops = sigset_t()
            sigemptyset(&stops)
            sigaddset(&stops, SIGINT)
            sigaddset(&stops, SIGTERM)
            pthread_sigmask(SIG_UNBLOCK, &stops, nil)
            var received: Int32 = 0
            while read(reader, &received, MemoryLayout<Int32>.size) != MemoryLayout<Int32>.size {}
            lock.lock()   // held until the process ends: no rename starts after the stop
            for path in live { try? FileManager.default.removeItem(atPath: path) }
            live.removeAll()
            signal(received, SIG_DFL)
            raise(received)
            _exit(128 + received)
        }
        thread.name = "scalpel-stop"
        thread.start()
        for stop in [SIGINT, SIGTERM] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { number in
                var value = number
                _ = write(stopPipe, &value, MemoryLayout<Int32>.size)
            }
            action.sa_flags = SA_RESTART
            sigemptyset(&action.sa_mask)
            sigaction(stop, &action, nil)
        }
    }

    /// Removes the temporaries under `directory` (and its subfolders, `depth` levels down) that
    /// processes which no longer run left behind. Returns what it removed.
    @discardableResult
    public static func sweep(_ directory: URL, depth: Int = 2) -> [String] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else { return [] }
        var removed: [String] = []
        for entry in entries {
            let path = directory.appendingPathComponent(entry)
            if let pid = owner(entry), !isRunning(pid) {
                if (try? FileManager.default.removeItem(at: path)) != nil { removed.append(path.path) }
                continue
            }
            var isDirectory: ObjCBool = false
            if depth > 0, FileManager.default.fileExists(atPath: path.path, isDirectory: &isDirectory),
                    isDirectory.boolValue {
                removed += sweep(path, depth: depth - 1)
            }
        }
        return removed
    }

    /// The pid in a temporary's name `.NAME.tmp-PID-RANDOM-HOST` of this host (or `.NAME.tmp-PID-RANDOM`,
    /// as earlier versions wrote them), or nil for any other name, another host's included.
    static func owner(_ name: String) -> pid_t? {
        guard name.hasPrefix("."), let marker = name.range(of: ".tmp-", options: .backwards) else { return nil }
        let parts = name[marker.upperBound...].split(separator: "-")
        guard parts.count == 2 || parts.count == 3 && parts[2] == hostTag,
              let pid = pid_t(parts[0]), UInt32(parts[1]) != nil else { return nil }
        return pid
    }

    /// This host, as 8 hex digits of the FNV-1a hash of its name (a name may hold '-' and '.').
    static let hostTag: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, buffer.count - 1)
        var hash: UInt32 = 2_166_136_261
        for byte in buffer.prefix(while: { $0 != 0 }) { hash = (hash ^ UInt32(UInt8(bitPattern: byte))) &* 16_777_619 }
        return String(format: "%08x", hash)
    }()

    private static func isRunning(_ pid: pid_t) -> Bool {
        pid == getpid() || kill(pid, 0) == 0 || errno == EPERM
    }
}

/// Several outputs that must appear together or not at all (an edited checkpoint and its Hugging Face
/// folder): each is written into one staging folder beside its destination, then all are renamed into
/// place in one `uninterruptible` step. A stop before that step leaves the old outputs (or none); a
/// stop during it waits for it.
public struct StagedOutputs {
    public let directory: URL
    public let staging: URL

    /// A staging folder inside `directory`, where the outputs will go.
    public init(in directory: URL) throws {
        self.directory = directory
        staging = TemporaryFiles.claim(for: directory.appendingPathComponent("staged"))
        try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: false)
    }

    /// Where to write the output that will become `directory/name`.
    public func url(_ name: String) -> URL { staging.appendingPathComponent(name) }

    /// Moves every staged output over its destination, replacing what was there, then removes the
    /// staging folder.
    public func commit() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: staging.path)
            .filter { !$0.hasPrefix(".") }.sorted()
        var replaced: [(old: URL, destination: URL)] = []
        try TemporaryFiles.uninterruptible {
            // The old outputs go aside first, so that a failed move can put them back; they are deleted last.
            do {
                for name in names {
                    let destination = directory.appendingPathComponent(name)
                    guard FileManager.default.fileExists(atPath: destination.path) else { continue }
                    let old = TemporaryFiles.claim(for: destination)
                    try FileManager.default.moveItem(at: destination, to: old)
                    replaced.append((old, destination))
                }
                for name in names {
                    try FileManager.default.moveItem(at: url(name), to: directory.appendingPathComponent(name))
                }
            } catch {
                for (old, destination) in replaced {
                    if FileManager.default.fileExists(atPath: destination.path) {
                        try? FileManager.default.removeItem(at: old)
                    }
                    else { try? FileManager.default.moveItem(at: old, to: destination) }
                    TemporaryFiles.release(old)
                }
                throw error
            }
            // The renames themselves survive a crash once the folder is on disk.
            let folder = open(directory.path, O_RDONLY)
            if folder >= 0 { _ = fsync(folder); close(folder) }
        }
        for (old, _) in replaced {
            try? FileManager.default.removeItem(at: old)
            TemporaryFiles.release(old)
        }
        discard()
    }

    /// Removes the staging folder and whatever is in it (when the outputs are abandoned).
    public func discard() {
        try? FileManager.default.removeItem(at: staging)
        TemporaryFiles.release(staging)
    }
}

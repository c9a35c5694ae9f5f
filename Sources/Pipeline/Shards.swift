import AtomicFiles
import Foundation

// ----------------------------------------------------------------------------------------------------
// Shards of a stage, as a scheduler sees them.
//
//   <stage>/shard-i-of-N.h5        done: written atomically when the shard finished
//   <stage>/shard-i-of-N.running   {pid, host, started} while it runs (left behind if it was killed)
//   <stage>/shard-i-of-N.failed    {error, host, ended} when it threw
//
// A shard reruns from scratch: its own files are replaced, nobody else's are touched. `status` reads
// these files to say which shards are done, running, failed (it threw, or its process on this host is
// gone) or missing, so a scheduler's retry can target just those.
// ----------------------------------------------------------------------------------------------------

/// The files and states of a stage's shards.
public enum Shards {
    public static func name(_ shard: (Int, Int), _ suffix: String) -> String {
        "shard-\(shard.0)-of-\(shard.1).\(suffix)"
    }

    /// Runs one shard's work, leaving a `.running` marker while it runs and a `.failed` one if it throws.
    public static func run<T>(in folder: URL, shard: (Int, Int), _ body: () throws -> T) throws -> T {
        let running = folder.appendingPathComponent(name(shard, "running"))
        let failed = folder.appendingPathComponent(name(shard, "failed"))
        // From scratch: an earlier attempt's file must not pass for this one's if this one dies.
        try? FileManager.default.removeItem(at: failed)
        try? FileManager.default.removeItem(at: folder.appendingPathComponent(name(shard, "h5")))
        try AtomicFile.write(try marker(["pid": Int(getpid()), "host": host,
                                         "started": ISO8601DateFormatter().string(from: Date())]), to: running)
        do {
            let result = try body()
            try? FileManager.default.removeItem(at: running)
            return result
        } catch {
            try? AtomicFile.write(try marker(["error": "\(error)", "host": host,
                                              "ended": ISO8601DateFormatter().string(from: Date())]), to: failed)
            try? FileManager.default.removeItem(at: running)
            throw error
        }
    }

    /// Test hook: with `SCALPEL_TEST_HOLD=PATH`, a shard that reaches this point writes its pid to PATH
    /// and waits there until it is killed, so a test can stop a shard mid-run without a race.
    public static func holdForTesting() {
        guard let path = ProcessInfo.processInfo.environment["SCALPEL_TEST_HOLD"], !path.isEmpty else { return }
        try? AtomicFile.write(Data("\(getpid())\n".utf8), to: URL(fileURLWithPath: path))
        while true { sleep(60) }
    }

    /// A stage's shards of one count N: which are done, running, failed and missing.
    public struct Status: Sendable, Equatable {
        public var count: Int
        public var done: [Int] = [], running: [Int] = [], failed: [Int] = [], missing: [Int] = []
        /// Why each failed shard failed.
        public var errors: [Int: String] = [:]

        public var complete: Bool { done.count == count }

        public init(count: Int, done: [Int] = [], running: [Int] = [], failed: [Int] = [], missing: [Int] = [],
                    errors: [Int: String] = [:]) {
            self.count = count
            self.done = done; self.running = running; self.failed = failed; self.missing = missing
            self.errors = errors
        }
    }

    /// The shards found in a stage's folder, one status per shard count N (usually one).
    public static func status(of folder: URL) -> [Status] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        var counts = Set<Int>()
        for file in files {
            guard let stem = file.split(separator: ".").first else { continue }
            let parts = stem.split(separator: "-")
            if parts.count == 4, parts[0] == "shard", parts[2] == "of", let n = Int(parts[3]), n > 0 { counts.insert(n) }
        }
        return counts.sorted().map { n in
            var status = Status(count: n)
            for i in 0..<n {
                let file = { folder.appendingPathComponent(name((i, n), $0)) }
                if FileManager.default.fileExists(atPath: file("h5").path) {
                    status.done.append(i)
                } else if let failure = read(file("failed")) {
                    status.failed.append(i)
                    status.errors[i] = failure["error"] as? String ?? "unknown"
                } else if let running = read(file("running")) {
                    // A process of this host that is gone was killed; another host's cannot be seen from here.
                    if running["host"] as? String == host, let pid = running["pid"] as? Int, kill(pid_t(pid), 0) != 0,
                       errno == ESRCH {
                        status.failed.append(i)
                        status.errors[i] = "its process (\(pid) on \(host)) ended without finishing: killed?"
                    } else {
                        status.running.append(i)
                    }
                } else {
                    status.missing.append(i)
                }
            }
            return status
        }
    }

    static var host: String { ProcessInfo.processInfo.hostName }

    static func marker(_ fields: [String: Any]) throws -> Data {
        try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])
    }

    static func read(_ url: URL) -> [String: Any]? {
        guard let data = try? Data(contentsOf: url) else { return nil }
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    }
}

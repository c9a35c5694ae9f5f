import Foundation

/// Progress of long work on stderr: items done, items/s, ETA, and extra figures such as the loss. Prints at
/// most once a second, and once at the end.
public final class ProgressReporter: @unchecked Sendable {
    let label: String
    let total: Int
    let unit: String
    let start = Date()
    var last = Date.distantPast
    public var quiet = false

    public init(_ label: String, total: Int, unit: String = "ex") {
        self.label = label
        self.total = total
        self.unit = unit
    }

    public func update(_ done: Int, _ extra: String = "", force: Bool = false) {
        guard !quiet else { return }
        let now = Date()
        guard force || now.timeIntervalSince(last) >= 1 || done == total else { return }
        last = now
        let elapsed = now.timeIntervalSince(start)
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let eta = rate > 0 ? Double(total - done) / rate : 0
        let line = String(format: "%@ %d/%d  %.1f %@/s  ETA %@%@", label, done, total, rate, unit,
                          Self.duration(eta), extra.isEmpty ? "" : "  " + extra)
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    public static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? "\(s / 3600)h\(s % 3600 / 60)m" : s >= 60 ? "\(s / 60)m\(s % 60)s" : "\(s)s"
    }

    public static func say(_ line: String) { FileHandle.standardError.write(Data((line + "\n").utf8)) }
}

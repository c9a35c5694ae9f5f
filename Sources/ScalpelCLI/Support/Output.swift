import Foundation

/// Where commands write: results to stdout (plain or JSON), progress and diagnostics to stderr.
enum Output {
    static func printJSON(_ object: Any) {
        do {
            let data = try JSONSerialization.data(withJSONObject: object,
                                                  options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            print(String(decoding: data, as: UTF8.self))
        } catch {
            progress("error: cannot encode the JSON summary: \(error)")
        }
    }

    static func progress(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}

/// Seconds on a monotonic clock.
func now() -> Double {
    Double(DispatchTime.now().uptimeNanoseconds) / 1e9
}

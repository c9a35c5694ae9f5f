import Testing
import Foundation

/// Runs the built `scalpel` executable, which SwiftPM places beside the test bundle.
func runScalpel(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
    let executable = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("scalpel")
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
}

@Suite struct CLITests {
    @Test func versionAndHelp() throws {
        let version = try runScalpel(["--version"])
        #expect(version.status == 0)
        #expect(version.stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ".").count == 3)
        let help = try runScalpel(["--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("USAGE: scalpel") && help.stdout.contains("bench"))
    }

    @Test func badBenchOptionIsExplained() throws {
        let result = try runScalpel(["bench", "matmul", "--only", "attention"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("ffn_up"))
    }

    @Test func unknownCommandFailsWithMessage() throws {
        let result = try runScalpel(["frobnicate"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("frobnicate"))
    }

    @Test func matmulBenchPrintsJSON() throws {
        let result = try runScalpel(["bench", "matmul", "--only", "ffn_up", "--naive-rows", "1", "--min-seconds", "0", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        let rows = try #require(object?["results"] as? [[String: Any]])
        #expect(rows.count == 1 && rows[0]["m"] as? Int == 512)
        for row in rows {
            let blas = try #require(row["openblas_gflops"] as? Double), naive = try #require(row["naive_gflops"] as? Double)
            #expect(blas > 0 && naive > 0)
        }
    }
}

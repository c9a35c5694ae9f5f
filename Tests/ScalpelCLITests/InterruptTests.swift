import Testing
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Checkpoints
import HDF5Kit
import Pipeline
import TestSupport

/// An edit stopped by SIGINT leaves the base checkpoint, the earlier edited checkpoint and the evidence
/// archive exactly as they were.
@Suite struct InterruptTests {
    @Test func sigintDuringAnEditLeavesEveryInputAndEarlierOutputIntact() throws {
        let (directory, model, _) = try tinyRunFolder()
        defer { try? FileManager.default.removeItem(at: directory) }
        func recipe(steps: Int) throws -> String {
            let path = directory.appendingPathComponent("r\(steps).yaml")
            try """
            name: tiny
            model: \(model.path)
            seed: 1
            output: \(directory.appendingPathComponent("run").path)
            stages: [collect, rank, edit, audit]
            data: {loader: csv, path: \(directory.appendingPathComponent("data.csv").path), text: text, label: label}
            task: {template: "{text} =", verbalizers: ["a", "b"]}
            collect: {positions: [last], metrics: [label]}
            rank: {permutations: 10, top_k: 3, bootstrap: 0}
            edit: {neurons: 3, steps: \(steps), learning_rate: 0.01}
            """.write(to: path, atomically: true, encoding: .utf8)
            return path.path
        }
        let first = try runScalpel(["run", try recipe(steps: 3), "--json"])
        #expect(first.status == 0, "\(first.stderr)")
        // The run's summary carries each stage's headline.
        let summary = try JSONSerialization.jsonObject(with: Data(first.stdout.utf8)) as? [String: Any]
        #expect((summary?["top_correlation"] as? [String: Any])?["k"] as? Int == 10)   // the top 10 by |r|
        let edit = summary?["edit"] as? [String: Any]
        #expect(edit?["neurons"] as? Int == 3 && edit?["metric"] as? String == "test_accuracy" && edit?["metric_after"] is Double)
        #expect((summary?["audit"] as? [String: Any])?["changed_weights_outside_mask"] as? Int == 0)
        #expect((summary?["edited_checkpoint"] as? String)?.hasSuffix("edit/edited.gguf") == true)
        let edited = directory.appendingPathComponent("run/edit/edited.gguf"), archive = directory.appendingPathComponent("run/evidence.h5")
        let before = try [model, edited, archive].map { try SHA256.file($0.path) }

        // A long edit, interrupted while it trains.
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("scalpel")
        let process = Process()
        process.executableURL = executable
        process.arguments = ["edit", try recipe(steps: 1_000_000)]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        Thread.sleep(forTimeInterval: 1.5)
        #expect(process.isRunning)
        process.interrupt()   // SIGINT
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning {
            Issue.record("scalpel ignored SIGINT for 10 s")
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGINT)
        #expect(try [model, edited, archive].map { try SHA256.file($0.path) } == before)
        _ = try EvidenceArchive.open(archive)
        _ = try GGUFFile(path: edited.path)
    }
}

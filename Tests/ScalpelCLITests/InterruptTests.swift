import ActivationStores
import AtomicFiles
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

    /// Every file and folder under `directory` whose name marks it as a temporary.
    static func temporaries(_ directory: URL) -> [String] {
        let all = FileManager.default.enumerator(atPath: directory.path)?.allObjects as? [String] ?? []
        return all.filter { $0.contains(".tmp-") || $0.contains("staged.tmp") }
    }

    /// Starts `scalpel arguments`, sends SIGINT after `delay` seconds (if it still runs), and waits.
    /// Returns whether the signal landed while it ran.
    static func interrupt(_ arguments: [String], after delay: Double) throws -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("scalpel")
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        Thread.sleep(forTimeInterval: delay)
        let landed = process.isRunning
        if landed { process.interrupt() }
        let deadline = Date().addingTimeInterval(20)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL); Issue.record("\(arguments): ignored SIGINT") }
        process.waitUntilExit()
        if landed && process.terminationReason == .uncaughtSignal { #expect(process.terminationStatus == SIGINT) }
        return landed
    }

    /// SIGINT at several points of a tiny collect and a tiny edit (training, writing, committing): no
    /// temporary is left, the store is absent or whole, and the edit's GGUF and Hugging Face folder are
    /// both there (and load) or both absent.
    @Test func sigintAtAnyPointLeavesNoTemporaryAndNoHalfOutput() throws {
        let (directory, _, data) = try tinyRunFolder()
        defer { try? FileManager.default.removeItem(at: directory) }
        // A model and a dataset large enough that each stage runs for a while.
        let config = TinyModels.llamaConfig(layers: 4, hidden: 64, heads: 4, kvHeads: 2, ffn: 192, vocabulary: 260)
        let model = directory.appendingPathComponent("small.gguf")
        try TinyModels.writeLlamaGGUF(model, tensors: TinyModels.llamaTensors(config), config: config)
        var rows = "text,label\n"
        for i in 0..<1500 { rows += (i % 2 == 0 ? "good film number \(i) again" : "bad film number \(i) again") + ",\(i % 2 == 0 ? "pos" : "neg")\n" }
        try rows.write(to: data, atomically: true, encoding: .utf8)
        let run = directory.appendingPathComponent("run")
        let recipe = directory.appendingPathComponent("r.yaml")
        try """
        name: tiny
        model: \(model.path)
        seed: 1
        output: \(run.path)
        stages: [collect, rank, edit]
        data: {loader: csv, path: \(data.path), text: text, label: label}
        task: {template: "{text} =", verbalizers: ["a", "b"]}
        collect: {positions: [last, mean], metrics: [label, confidence], batch_size: 2}
        rank: {permutations: 10, top_k: 3, bootstrap: 0}
        edit: {neurons: 3, steps: 150, learning_rate: 0.01, batch_size: 4}
        """.write(to: recipe, atomically: true, encoding: .utf8)
        // Each stage runs once whole, timed; the interrupts then land at fractions of that time.
        func seconds(_ arguments: [String]) throws -> Double {
            let start = Date()
            let result = try runScalpel(arguments)
            #expect(result.status == 0, "\(result.stderr)")
            return Date().timeIntervalSince(start)
        }
        let fractions = [0.15, 0.35, 0.55, 0.75, 0.9]
        let store = run.appendingPathComponent("collect/activations.h5")
        let collectTime = try seconds(["collect", recipe.path])
        var landed = 0
        for fraction in fractions {
            if try Self.interrupt(["collect", recipe.path, "--force"], after: fraction * collectTime) { landed += 1 }
            #expect(Self.temporaries(directory).isEmpty, "collect stopped at \(fraction) left \(Self.temporaries(directory))")
            if FileManager.default.fileExists(atPath: store.path) { _ = try ActivationStoreReader(url: store) }
        }
        #expect(landed > 0, "every collect finished before its SIGINT")
        _ = try seconds(["rank", recipe.path])
        let editTime = try seconds(["edit", recipe.path])
        let gguf = run.appendingPathComponent("edit/edited.gguf"), hf = run.appendingPathComponent("edit/hf")
        landed = 0
        for fraction in fractions {
            if try Self.interrupt(["edit", recipe.path], after: fraction * editTime) { landed += 1 }
            #expect(Self.temporaries(directory).isEmpty, "edit stopped at \(fraction) left \(Self.temporaries(directory))")
            let outputs = [gguf, hf.appendingPathComponent("model.safetensors"), hf.appendingPathComponent("config.json")]
                .map { FileManager.default.fileExists(atPath: $0.path) }
            #expect(outputs == [true, true, true], "edit stopped at \(fraction): outputs \(outputs)")
            _ = try GGUFFile(path: gguf.path)
            _ = try SafetensorsFile(path: hf.appendingPathComponent("model.safetensors").path)
        }
        #expect(landed > 0, "every edit finished before its SIGINT")
    }

    /// A process killed outright cannot clean up: its temporaries are swept at the next start.
    @Test func temporariesOfAKilledProcessAreSweptAtTheNextStart() throws {
        let (directory, model, data) = try tinyRunFolder()
        defer { try? FileManager.default.removeItem(at: directory) }
        let run = directory.appendingPathComponent("run")
        try FileManager.default.createDirectory(at: run.appendingPathComponent("collect"), withIntermediateDirectories: true)
        // pid 2^22 + 1 is beyond Linux's pid_max default, so no process has it.
        let orphan = run.appendingPathComponent("collect/.activations.h5.tmp-4194305-12345")
        let stranger = run.appendingPathComponent("collect/.activations.h5.tmp-\(getpid())-12345")   // alive: kept
        // A shard on another host of a shared folder: its pid means nothing here, so it is kept.
        let otherHost = run.appendingPathComponent("collect/.shard-1-of-2.h5.tmp-4194305-12345-0badf00d")
        for file in [orphan, stranger, otherHost] { try Data([1, 2, 3]).write(to: file) }
        let recipe = directory.appendingPathComponent("r.yaml")
        try """
        name: tiny
        model: \(model.path)
        output: \(run.path)
        stages: [collect]
        data: {loader: csv, path: \(data.path), text: text, label: label}
        task: {template: "{text} =", verbalizers: ["a", "b"]}
        """.write(to: recipe, atomically: true, encoding: .utf8)
        let result = try runScalpel(["collect", recipe.path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: orphan.path))
        #expect(FileManager.default.fileExists(atPath: stranger.path))
        #expect(FileManager.default.fileExists(atPath: otherHost.path), "another host's temporary was swept")
    }
}

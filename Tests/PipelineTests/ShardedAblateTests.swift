import AtomicFiles
import Foundation
import HDF5Kit
import Pipeline
import Recipes
import Testing
import TestSupport

/// A sweep run in shards and merged is the single run's result: the same /ablate group (digest), the
/// same intervention files, whatever N; and the merge refuses shards that do not belong together.
@Suite struct ShardedAblateTests {
    func setUp() throws -> (URL, Recipe, CollectRankTests) {
        let fixture = CollectRankTests()
        let (directory, base) = try fixture.setUp(collect: "{positions: [last], metrics: [label, confidence]}",
                                                  rank: "{permutations: 20, top_k: 5, bootstrap: 0}")
        let recipe = try Recipe(text: base.text.replacingOccurrences(of: "stages: [collect, rank]",
                                                                     with: "stages: [collect, rank, ablate]") +
                                "\nablate: {modes: [noise, zero, amplify], k: [\"2\", \"6\"], strengths: [\"3\"], " +
                                "amplify_k: 4, random_sets: 4, general_texts: 0}",
                                file: "tiny.yaml")
        return (directory, recipe, fixture)
    }

    func interventionFiles(_ folder: RunFolder) throws -> [String: String] {
        let stage = folder.url.appendingPathComponent("ablate")
        var files: [String: String] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: stage.path) where name.hasPrefix("intervention-") {
            files[name] = try SHA256.file(stage.appendingPathComponent(name).path)
        }
        return files
    }

    @Test func shardedSweepsMergeIntoTheSingleRunsBytes() throws {
        let (directory, recipe, fixture) = try setUp()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (experiment, folder) = try fixture.stages(directory, recipe)
        _ = try CollectStage(experiment: experiment, folder: folder).run(quiet: true)
        _ = try RankStage(experiment: experiment, folder: folder).run(quiet: true)
        let single = try AblateStage(experiment: experiment, folder: folder).run(quiet: true)
        let archive = try ArchiveDigest.digest(EvidenceArchive.url(folder))
        let files = try interventionFiles(folder)
        #expect(files.count == 5)
        for n in [1, 2, 3, 40] {
            try FileManager.default.removeItem(at: folder.url.appendingPathComponent("ablate"))
            let stage = AblateStage(experiment: experiment, folder: folder)
            var evaluations = 0
            for i in (0..<n).reversed() { evaluations += try stage.run(shard: (i, n), quiet: true).evaluations }
            #expect(evaluations == 5 * 5, "every unit once")
            let merged = try stage.merge(quiet: true)
            #expect(try ArchiveDigest.digest(EvidenceArchive.url(folder)) == archive, "\(n) shards")
            #expect(try interventionFiles(folder) == files, "\(n) shards")
            #expect(merged.headline?.p == single.headline?.p)
            let status = Shards.status(of: folder.url.appendingPathComponent("ablate"))
            #expect(status == [Shards.Status(count: n, done: Array(0..<n))])
        }
        // The merged stage is up to date: a plain run reuses it.
        #expect(try AblateStage(experiment: experiment, folder: folder).run(quiet: true).curves.count == 3)
    }

    @Test func aMergeRefusesMissingForeignAndDamagedShardsByName() throws {
        let (directory, recipe, fixture) = try setUp()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (experiment, folder) = try fixture.stages(directory, recipe)
        _ = try CollectStage(experiment: experiment, folder: folder).run(quiet: true)
        _ = try RankStage(experiment: experiment, folder: folder).run(quiet: true)
        let stage = AblateStage(experiment: experiment, folder: folder)
        for i in [0, 2] { _ = try stage.run(shard: (i, 3), quiet: true) }
        let shard = { (i: Int) in folder.url.appendingPathComponent("ablate/shard-\(i)-of-3.h5") }
        func refusal(_ body: () throws -> Void) -> String {
            do { try body(); return "" } catch { return "\(error)" }
        }
        #expect(refusal { _ = try stage.merge(quiet: true) }.contains("ablate shards 1 of 3 are missing"))
        #expect(Shards.status(of: folder.url.appendingPathComponent("ablate")) ==
                [Shards.Status(count: 3, done: [0, 2], missing: [1])])
        #expect(folder.record("ablate") == nil, "a refused merge finished the stage")
        _ = try stage.run(shard: (1, 3), quiet: true)
        // A shard run from other inputs (another recipe, ranking or model), named by path.
        try HDF5File.update(at: shard(1)) { try $0.setAttribute("inputs_sha256", .string("0")) }
        let message = refusal { _ = try stage.merge(quiet: true) }
        #expect(message.contains("from other inputs") && message.contains(shard(1).path), "\(message)")
        let other = try Recipe(text: recipe.text.replacingOccurrences(of: "seed: 5", with: "seed: 6"), file: "tiny.yaml")
        let (e2, f2) = try fixture.stages(directory, other)
        _ = try stage.run(shard: (1, 3), quiet: true)
        #expect(refusal { _ = try AblateStage(experiment: e2, folder: f2).merge(quiet: true) }
            .contains("\(shard(0).path) was run from other inputs"), "the seed is an input")
        // Another version, and a damaged summary.
        try HDF5File.update(at: shard(1)) { try $0.setAttribute("tool_version", .string("0.0.9")) }
        #expect(refusal { _ = try stage.merge(quiet: true) }.contains("Scalpel 0.0.9"))
        _ = try stage.run(shard: (1, 3), quiet: true)
        try HDF5File.update(at: shard(2)) { root in try root.group("units").remove(try root.group("units").children()[0]) }
        #expect(refusal { _ = try stage.merge(quiet: true) }.contains("does not hold the"))
        // A shard that threw is listed as failed with its error.
        try AtomicFile.write(Data("{\"error\": \"out of memory\"}".utf8),
                             to: folder.url.appendingPathComponent("ablate/shard-4-of-5.failed"))
        let five = try #require(Shards.status(of: folder.url.appendingPathComponent("ablate")).first { $0.count == 5 })
        #expect(five.failed == [4] && five.errors[4] == "out of memory" && five.missing == [0, 1, 2, 3])
    }
}

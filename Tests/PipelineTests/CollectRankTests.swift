import ActivationStores
import AtomicFiles
import Testing
import Foundation
import Autodiff
import Checkpoints
import HDF5Kit
import Models
import Pipeline
import Recipes
import Statistics
import TensorCore
import TestSupport

/// Collection, sharding and ranking end to end on a tiny random Llama and a small labelled CSV.
@Suite struct CollectRankTests {
    static let config = TinyModels.llamaConfig(vocabulary: 260)

    /// A folder with tiny.gguf (its tensors changed by `edit`), data.csv, and a recipe with the given collect and rank sections.
    func setUp(collect: String = "{positions: [last, mean], metrics: [label, confidence, loss, correct, \"column:score\", \"parity = n0 % 2\"], batch_size: 4}",
               rank: String = "{permutations: 200, top_k: 5, bootstrap: 50}",
               edit: (inout [String: Tensor]) -> Void = { _ in }) throws -> (URL, Recipe) {
        let directory = try Fixtures.scratchDirectory()
        var tensors = TinyModels.llamaTensors(Self.config)
        edit(&tensors)
        try TinyModels.writeLlamaGGUF(directory.appendingPathComponent("tiny.gguf"), tensors: tensors, config: Self.config)
        var rows = "text,label,score,gap,flat\n"
        for i in 0..<90 {
            rows += (i % 2 == 0 ? "good film \(i)" : "bad film \(i)") + ",\(i % 2 == 0 ? "pos" : "neg"),\(Double(i) * 0.5),\(i % 7 == 3 ? "" : "1"),7\n"
        }
        try rows.write(to: directory.appendingPathComponent("data.csv"), atomically: true, encoding: .utf8)
        let text = """
        name: tiny
        model: \(directory.appendingPathComponent("tiny.gguf").path)
        seed: 5
        output: \(directory.appendingPathComponent("run").path)
        stages: [collect, rank]
        data: {loader: csv, path: \(directory.appendingPathComponent("data.csv").path), text: text, label: label, split: {train: 0.6, dev: 0.3, test: 0.1}}
        task: {template: "{text} =", verbalizers: ["a", "b"]}
        collect: \(collect)
        rank: \(rank)
        """
        return (directory, try Recipe(text: text, file: "tiny.yaml"))
    }

    func stages(_ directory: URL, _ recipe: Recipe) throws -> (Experiment, RunFolder) {
        let experiment = try Experiment(recipe: recipe, file: "tiny.yaml", root: directory)
        return (experiment, try RunFolder(experiment.runFolder))
    }

    @Test func theStoreHoldsEachExamplesSitesMetricsAndExactMoments() throws {
        let (directory, recipe) = try setUp()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (experiment, folder) = try stages(directory, recipe)
        let result = try CollectStage(experiment: experiment, folder: folder).run(quiet: true)
        #expect(result.trainRows == 54 && result.devRows == 27)
        #expect(result.metrics == ["label", "confidence", "loss", "correct", "column:score", "parity"])
        let store = try ActivationStoreReader(url: URL(fileURLWithPath: result.store))
        #expect(store.header.positions == ["last", "mean"] && store.header.columns == 2 * 24)

        // Recompute three examples one at a time with plain hooks.
        guard case .decoder(let model) = experiment.loaded.model else { Issue.record("not a Llama"); return }
        let task = try PromptStage(experiment: experiment, folder: folder).trained(orUntuned: true).task
        for row in [0, 31, 80] {
            let example = experiment.dataset.examples[store.indices[row]]
            let ids = task.ids(example.text)
            let batch = TokenBatch([ids])
            final class Sites: @unchecked Sendable { var byLayer: [Int: Tensor] = [:] }
            let sites = Sites()
            var hooks = HookSet()
            for l in 0..<2 { hooks.collect(HookName.mlpSite(l)) { sites.byLayer[l] = $0 } }
            _ = model.forward(embeddings: try model.embed(batch), batch: batch, hooks: hooks)
            let last = try store.block(position: 0, rows: row..<(row + 1), columns: 0..<48)
            let mean = try store.block(position: 1, rows: row..<(row + 1), columns: 0..<48)
            for l in 0..<2 { for i in 0..<24 {
                let values = (0..<ids.count).map { sites.byLayer[l]!.scalars[$0 * 24 + i] }
                #expect(abs(last[l * 24 + i] - values.last!) <= 1e-5 * max(1, abs(values.last!)))
                let average = values.reduce(0, +) / Float(values.count)
                #expect(abs(mean[l * 24 + i] - average) <= 1e-5 * max(1, abs(average)))
            } }
            let metrics = (0..<6).map { store.metricValues[row * 6 + $0] }
            #expect(metrics[0] == Double(example.label!))
            #expect(metrics[4] == Double(example.fields["score"]!)!)
            #expect(metrics[5] == Double(Int(example.text.split(separator: " ").last!)! % 2))
            #expect(metrics[1] >= 0.5 && metrics[1] <= 1 && metrics[2] >= 0)
        }
        // The streamed moments equal a two-pass computation over the stored training rows.
        let train = store.trainRows
        for p in 0..<2 {
            let block = try store.block(position: p, rows: train, columns: 0..<48)
            for j in stride(from: 0, to: 48, by: 5) {
                let x = train.map { Double(block[$0 * 48 + j]) }
                for m in [0, 1, 4] {
                    let reference = pearsonTwoPass(x, store.metric(m, rows: train))
                    #expect(abs(store.moments[p].pearson(j, m) - reference) <= 1e-9 * max(abs(reference), 1e-3))
                }
            }
        }
    }

    /// Shards are cut on batch boundaries and the merge replays the single run's batches, so the merged
    /// store is the single run's file byte for byte, and the ranking's archive group equal, for any N.
    @Test func shardsMergeIntoTheUnshardedRunsBytesWhateverTheirNumber() throws {
        let (directory, recipe) = try setUp()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (experiment, folder) = try stages(directory, recipe)
        let stage = CollectStage(experiment: experiment, folder: folder)
        let whole = try stage.run(quiet: true)
        let wholeStore = try SHA256.file(whole.store)
        _ = try RankStage(experiment: experiment, folder: folder).run(quiet: true)
        let wholeArchive = try ArchiveDigest.digest(EvidenceArchive.url(folder))
        for n in [1, 2, 3, 7, 20] {
            try FileManager.default.removeItem(at: folder.url)
            let (e, f) = try stages(directory, recipe)
            let sharded = CollectStage(experiment: e, folder: f)
            for i in (0..<n).reversed() { _ = try sharded.run(shard: (i, n), quiet: true) }
            let merged = try sharded.merge(quiet: true)
            #expect(try SHA256.file(merged.store) == wholeStore, "\(n) shards")
            _ = try RankStage(experiment: e, folder: f).run(quiet: true)
            #expect(try ArchiveDigest.digest(EvidenceArchive.url(f)) == wholeArchive, "\(n) shards")
        }
        // 54 training rows in batches of 4 are 14 batches: shard 1 of 3 holds batches 4..<9, rows 16..<36.
        #expect(CollectStage.slice(Array(0..<54), shard: (1, 3), batch: 4) == Array(16..<36))
        // 5 rows are 2 batches: of 4 shards, 1 holds the first batch, 3 the second, and 0 and 2 none.
        #expect(CollectStage.slice(Array(0..<5), shard: (1, 4), batch: 4) == [0, 1, 2, 3])
        #expect(CollectStage.slice(Array(0..<5), shard: (3, 4), batch: 4) == [4])
        #expect(CollectStage.slice(Array(0..<5), shard: (0, 4), batch: 4) == [])
    }

    @Test func aMergeRefusesMissingDuplicateAndForeignShardsByName() throws {
        let (directory, recipe) = try setUp()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (experiment, folder) = try stages(directory, recipe)
        let stage = CollectStage(experiment: experiment, folder: folder)
        for i in 0..<3 { _ = try stage.run(shard: (i, 3), quiet: true) }
        let shard = { (i: Int) in folder.url.appendingPathComponent("collect/shard-\(i)-of-3.h5") }
        let merged = folder.url.appendingPathComponent("collect/activations.h5")
        #expect(throws: CollectError.incompatibleShards(detail: "shards 1 of 3 are missing; run them with --shard i/3")) {
            try stage.merge(shards: [shard(0), shard(2)], quiet: true)
        }
        #expect(throws: CollectError.incompatibleShards(detail: "shard 2 is given twice: \(shard(2).path) and \(shard(2).path)")) {
            try stage.merge(shards: [shard(2), shard(0), shard(2)], quiet: true)
        }
        // A shard written by another Scalpel is named with both versions.
        try HDF5File.update(at: shard(1)) { try $0.setAttribute("tool_version", .string("0.0.9")) }
        do {
            _ = try stage.merge(quiet: true)
            Issue.record("a shard of another version merged")
        } catch let error as CollectError {
            #expect("\(error)".contains(shard(1).path) && "\(error)".contains("Scalpel version") &&
                    "\(error)".contains("0.0.9"))
        }
        #expect(!FileManager.default.fileExists(atPath: merged.path), "a refused merge wrote a store")
        // Shards of another recipe (another seed) are refused before anything is written: a good store stays.
        _ = try stage.run(shard: (1, 3), quiet: true)
        _ = try stage.merge(quiet: true)
        let good = try SHA256.file(merged.path)
        let other = try Recipe(text: recipe.text.replacingOccurrences(of: "seed: 5", with: "seed: 6"), file: "tiny.yaml")
        let (e2, f2) = try stages(directory, other)
        do {
            _ = try CollectStage(experiment: e2, folder: f2).merge(quiet: true)
            Issue.record("shards of another recipe merged")
        } catch let error as CollectError {
            #expect("\(error)".contains("from other inputs") && "\(error)".contains("shard-0-of-3.h5"), "\(error)")
        }
        #expect(try SHA256.file(merged.path) == good, "a refused merge touched the store")
    }

    @Test func aNaNActivationNamesTheExampleLayerAndNeuronAndLeavesNoStore() throws {
        // Weights of 1e30 in neuron 5's gate and up rows overflow its site to ±∞ or NaN (a GGUF cannot hold NaN weights).
        let (directory, recipe) = try setUp { tensors in
            for role in [TensorRole.ffnGate, .ffnUp] {
                let name = DecoderModel.name(role, layer: 1)
                var w = tensors[name]!
                for c in 0..<16 { w.scalars[5 * 16 + c] = 1e30 }
                tensors[name] = w
            }
        }
        defer { try? FileManager.default.removeItem(at: directory) }
        let (experiment, folder) = try stages(directory, recipe)
        let first = experiment.dataset.examples[CollectStage(experiment: experiment, folder: folder).examplesForTesting().train[0]]
        #expect(throws: CollectError.nanActivation(example: "\(first.source) row \(first.row)", layer: 1, neuron: 5, position: "last")) {
            try CollectStage(experiment: experiment, folder: folder).run(quiet: true)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.url.appendingPathComponent("collect").path).isEmpty)
    }

    @Test func aConstantNeuronIsExcludedAndCounted() throws {
        let (directory, recipe) = try setUp { tensors in
            for role in [TensorRole.ffnGate, .ffnUp] {
                let name = DecoderModel.name(role, layer: 0)
                var w = tensors[name]!
                for c in 0..<16 { w.scalars[3 * 16 + c] = 0 }
                tensors[name] = w
            }
        }
        defer { try? FileManager.default.removeItem(at: directory) }
        let (experiment, folder) = try stages(directory, recipe)
        _ = try CollectStage(experiment: experiment, folder: folder).run(quiet: true)
        let rank = try RankStage(experiment: experiment, folder: folder).run(quiet: true)
        #expect(rank.constantNeurons == ["last": 1, "mean": 1])
        for report in rank.reports { #expect(!report.top.contains { $0.layer == 0 && $0.neuron == 3 }) }
        let archive = try EvidenceArchive.open(URL(fileURLWithPath: rank.archive))
        let scores = try archive.root.group("rank").group("metrics").group("label").group("pearson").read("score", as: Double.self)
        #expect(scores.shape == [2, 48] && scores.values[3].isNaN && scores.values[48 + 3].isNaN)
        #expect(try archive.root.group("rank").read("constant_neurons", as: Int64.self).values == [1, 1])
    }

    @Test func missingAndSingleValuedMetricsHaveClearOutcomes() throws {
        let (d1, r1) = try setUp(collect: "{metrics: [label, \"column:gap\"]}")
        defer { try? FileManager.default.removeItem(at: d1) }
        let (e1, f1) = try stages(d1, r1)
        do {
            _ = try CollectStage(experiment: e1, folder: f1).run(quiet: true)
            Issue.record("a metric with missing values was accepted")
        } catch let error as CollectError {
            guard case .missingMetric(let metric, let count, let examples) = error else { Issue.record("\(error)"); return }
            #expect(metric == "column:gap" && count > 0 && examples.allSatisfy { $0.contains("data.csv row") })
            #expect(error.description.contains("column:gap"))
        }

        let (d2, r2) = try setUp(collect: "{metrics: [label, \"column:flat\"]}")
        defer { try? FileManager.default.removeItem(at: d2) }
        let (e2, f2) = try stages(d2, r2)
        _ = try CollectStage(experiment: e2, folder: f2).run(quiet: true)
        let rank = try RankStage(experiment: e2, folder: f2).run(quiet: true)
        #expect(rank.reports[1].excluded?.contains("single value") == true && rank.reports[0].excluded == nil)

        let (d3, r3) = try setUp(collect: "{metrics: [label, \"column:flat\"]}", rank: "{metric: \"column:flat\", permutations: 50}")
        defer { try? FileManager.default.removeItem(at: d3) }
        let (e3, f3) = try stages(d3, r3)
        _ = try CollectStage(experiment: e3, folder: f3).run(quiet: true)
        #expect(throws: CollectError.self) { try RankStage(experiment: e3, folder: f3).run(quiet: true) }
    }

    /// Reuse follows the stage's typed options, not the recipe's text: a comment, or a default written out,
    /// reuses the ranking; a changed option computes it again.
    @Test func reuseFollowsTheOptionsNotTheText() throws {
        let (directory, recipe) = try setUp()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (experiment, folder) = try stages(directory, recipe)
        _ = try CollectStage(experiment: experiment, folder: folder).run(quiet: true)
        #expect(try !RankStage(experiment: experiment, folder: folder).run(quiet: true).reused)
        func rank(_ text: String) throws -> RankStage.Result {
            let changed = try Recipe(text: text, file: "tiny.yaml")
            let e = try Experiment(recipe: changed, file: "tiny.yaml", root: directory)
            return try RankStage(experiment: e, folder: folder).run(quiet: true)
        }
        #expect(try rank("# a comment\n" + recipe.text).reused)
        let spelledOut = recipe.text.replacingOccurrences(of: "bootstrap: 50}", with: "bootstrap: 50, statistic: pearson}")
        #expect(spelledOut != recipe.text)
        #expect(try rank(spelledOut).reused)
        let changed = recipe.text.replacingOccurrences(of: "permutations: 200", with: "permutations: 300")
        #expect(try !rank(changed).reused)
        #expect(try !rank(recipe.text).reused)     // and back: the record now names 300 permutations
    }

    @Test func rankingIsSeededReusedAndArchived() throws {
        let (directory, recipe) = try setUp()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (experiment, folder) = try stages(directory, recipe)
        _ = try CollectStage(experiment: experiment, folder: folder).run(quiet: true)
        let stage = RankStage(experiment: experiment, folder: folder)
        let first = try stage.run(quiet: true)
        let forced = try stage.run(force: true, quiet: true)
        let reused = try stage.run(quiet: true)
        #expect(!first.reused && reused.reused)
        for (a, b) in zip(first.reports, forced.reports) {
            #expect(a.selection == b.selection)
            #expect(a.intervals.map { $0?.low } == b.intervals.map { $0?.low })
        }
        for (a, b) in zip(first.reports, reused.reports) { #expect(a.selection == b.selection && a.top == b.top) }
        #expect(first.reports[0].selection.count == 5 && first.reports[0].intervals.allSatisfy { $0 != nil })
        let label = first.reports[0]
        for (n, ci) in zip(label.selection, label.intervals) { #expect(ci!.low <= n.score && n.score <= ci!.high) }
        #expect(label.topPredictivity?.count == 10)
        #expect(first.reports[1].topPredictivity == nil)   // confidence is not binary
        #expect(first.overlaps.count == 15)
        // The archive documents itself and carries provenance.
        let archive = try EvidenceArchive.open(URL(fileURLWithPath: first.archive))
        #expect(try archive.root.children() == ["collect", "provenance", "rank"])
        guard case .string(let hash) = try archive.root.group("provenance").attribute("model_sha256") else { Issue.record("no model hash"); return }
        #expect(hash == (try SHA256.file(experiment.modelPath)))
        #expect(try archive.root.group("collect").group("last").read("std", as: Double.self).values.count == 48)
    }

    @Test func truncatedOrForeignStoresAndArchivesAreRefused() throws {
        let (directory, recipe) = try setUp(rank: "{permutations: 20, top_k: 3, bootstrap: 0}")
        defer { try? FileManager.default.removeItem(at: directory) }
        let (experiment, folder) = try stages(directory, recipe)
        let store = try CollectStage(experiment: experiment, folder: folder).run(quiet: true).store
        let archive = try RankStage(experiment: experiment, folder: folder).run(quiet: true).archive
        for (original, open) in [(store, { (url: URL) throws in _ = try ActivationStoreReader(url: url) }),
                                 (archive, { (url: URL) throws in _ = try RankStage.load(url) })] {
            let data = try Data(contentsOf: URL(fileURLWithPath: original))
            for cut in [data.count / 2, 100, 0] {
                let truncated = directory.appendingPathComponent("cut-\(cut).h5")
                try data.prefix(cut).write(to: truncated)
                #expect(throws: (any Error).self) { try open(truncated) }
            }
        }
        let foreign = directory.appendingPathComponent("foreign.h5")
        try HDF5File.create(at: foreign) { root in try root.setAttribute("schema", .string("someone.else/3")) }
        #expect(throws: ActivationStoreError.self) { _ = try ActivationStoreReader(url: foreign) }
        do {
            _ = try EvidenceArchive.open(foreign)
            Issue.record("a foreign archive was opened")
        } catch let error as CollectError {
            #expect(error.description.contains("someone.else/3") && error.description.contains("scalpel.evidence/1"))
        }
    }

    /// int8 collection on a GGUF in Q8_0 blocks, and bf16 collection where the machine runs it: the scores
    /// differ from fp32's by the operands' rounding alone, so the ranking agrees, and the record and the
    /// archive say which precision ran.
    @Test func reducedPrecisionCollectionRanksAsFp32DoesAndIsRecorded() throws {
        let directory = try Fixtures.scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = TinyModels.llamaConfig(hidden: 64, heads: 4, kvHeads: 2, ffn: 96, vocabulary: 260)
        let model = directory.appendingPathComponent("tiny-q8_0.gguf")
        try TinyModels.writeLlamaGGUF(model, tensors: TinyModels.llamaTensors(config), config: config) { _, tensor in
            tensor.rank == 2 ? (.q8_0, try quantize(tensor.scalars, to: .q8_0)) : nil
        }
        var rows = "text,label\n"
        for i in 0..<90 { rows += (i % 2 == 0 ? "good film \(i)" : "bad film \(i)") + ",\(i % 2 == 0 ? "pos" : "neg")\n" }
        try rows.write(to: directory.appendingPathComponent("data.csv"), atomically: true, encoding: .utf8)
        func run(_ precision: String) throws -> (record: RunFolder.StageRecord?, scores: [Double], archive: HDF5File) {
            let recipe = try Recipe(text: """
                name: int8
                model: \(model.path)
                seed: 5
                output: \(directory.appendingPathComponent(precision).path)
                stages: [collect, rank]
                data: {loader: csv, path: \(directory.appendingPathComponent("data.csv").path), text: text, label: label}
                task: {template: "{text} =", verbalizers: ["a", "b"]}
                collect: {positions: [last, mean], metrics: [label, loss], batch_size: 8, precision: \(precision)}
                rank: {permutations: 10, top_k: 5, bootstrap: 0}
                """, file: "int8.yaml")
            let (experiment, folder) = try stages(directory, recipe)
            _ = try CollectStage(experiment: experiment, folder: folder).run(quiet: true)
            _ = try RankStage(experiment: experiment, folder: folder).run(quiet: true)
            let archive = try EvidenceArchive.open(EvidenceArchive.url(folder))
            let scores = try archive.root.group("rank").group("metrics").group("label").group("pearson")
                .read("score", as: Double.self).values
            return (folder.record("collect"), scores, archive)
        }
        let fp32 = try run("fp32")
        #expect(fp32.record?.notes["precision"] == "fp32")
        for precision in [Precision.int8, .bf16] {
            if let why = precision.unavailable {
                print("\(precision.rawValue) collection not tested here: \(why)")
                continue
            }
            let reduced = try run(precision.rawValue)
            #expect(reduced.record?.notes["precision"] == precision.rawValue)
            #expect(try reduced.archive.root.group("collect").attribute("precision") == .string(precision.rawValue))
            let finite = zip(fp32.scores, reduced.scores).filter { $0.0.isFinite && $0.1.isFinite }
            #expect(finite.count > fp32.scores.count / 2)
            #expect(finite.contains { $0.0 != $0.1 }, "\(precision) ran: some score moved")
            let rho = spearman(finite.map(\.0), finite.map(\.1))
            let largest = finite.map { abs($0.0 - $0.1) }.max() ?? 0
            #expect(rho > 0.99 && largest < 0.1, "\(precision): ρ \(rho), largest |Δ score| \(largest)")
        }
    }

    @Test func badCollectAndRankSectionsNameTheirKeys() throws {
        for (collect, rank, path) in [("{positions: [first]}", "{}", "collect.positions"), ("{layers: [\"7\"]}", "{}", "collect.layers"),
                                      ("{metrics: [\"x = = 1\"]}", "{}", "collect.metrics"), ("{}", "{top_k: 3, q_threshold: 0.1}", "rank"),
                                      ("{}", "{per_layer_fraction: 1.5}", "rank.per_layer_fraction"),
                                      ("{precision: int4}", "{}", "collect.precision"),
                                      // int8 reads weights in ggml blocks, and this GGUF's are F32: refused.
                                      ("{precision: int8}", "{}", "collect.precision")] {
            // A range the schema declares is refused with the recipe itself; the rest by the stage.
            do {
                let (directory, recipe) = try setUp(collect: collect, rank: rank)
                defer { try? FileManager.default.removeItem(at: directory) }
                let (experiment, folder) = try stages(directory, recipe)
                _ = try CollectStage(experiment: experiment, folder: folder).run(quiet: true)
                _ = try RankStage(experiment: experiment, folder: folder).run(quiet: true)
                Issue.record("\(path): accepted")
            } catch let errors as RecipeErrors {
                #expect(errors.issues.contains { $0.path == path }, "\(errors)")
            }
        }
    }
}

/// Per-token collection: one row per token that has a next token, with that token's log-probability.
@Suite struct PerTokenCollectionTests {
    func setUp(stages: String = "[collect, rank]", collect: String = "{positions: [every], metrics: [logprob], max_tokens: 6, batch_size: 3}") throws -> (URL, Recipe) {
        let directory = try Fixtures.scratchDirectory()
        let config = CollectRankTests.config
        try TinyModels.writeLlamaGGUF(directory.appendingPathComponent("tiny.gguf"), tensors: TinyModels.llamaTensors(config), config: config)
        var rows = "text\n"
        for i in 0..<40 { rows += "line \(i) of text\(String(repeating: " more", count: i % 3))\n" }
        try rows.write(to: directory.appendingPathComponent("data.csv"), atomically: true, encoding: .utf8)
        let text = """
        name: tokens
        model: \(directory.appendingPathComponent("tiny.gguf").path)
        seed: 2
        output: \(directory.appendingPathComponent("run").path)
        stages: \(stages)
        data: {loader: csv, path: \(directory.appendingPathComponent("data.csv").path), text: text, split: {train: 0.7, dev: 0.3, test: 0.0}}
        task: {template: "{text}"}
        collect: \(collect)
        rank: {permutations: 50, top_k: 4, bootstrap: 20}
        """
        return (directory, try Recipe(text: text, file: "tokens.yaml"))
    }

    @Test func rowsAreTokensWithTheirNextTokenLogProbability() throws {
        let (directory, recipe) = try setUp()
        defer { try? FileManager.default.removeItem(at: directory) }
        let experiment = try Experiment(recipe: recipe, file: "tokens.yaml", root: directory)
        let folder = try RunFolder(experiment.runFolder)
        let result = try CollectStage(experiment: experiment, folder: folder).run(quiet: true)
        let store = try ActivationStoreReader(url: URL(fileURLWithPath: result.store))
        #expect(store.header.positions == ["every"] && store.header.metrics == ["logprob"])
        guard case .decoder(let model) = experiment.loaded.model else { Issue.record("not a Llama"); return }
        // Every text is cut to 6 tokens, so each gives 5 rows (the texts here are all longer than 6 tokens).
        #expect(store.rows == 40 * 5 && result.trainRows == 28 * 5)
        for row in [0, 7, 150] {
            let example = experiment.dataset.examples[store.indices[row]]
            let ids = Array(experiment.loaded.tokenizer.encode(example.text, addSpecialTokens: true).prefix(6))
            let t = store.tokens[row]
            let batch = TokenBatch([ids])
            final class Site: @unchecked Sendable { var value: Tensor? }
            let site = Site()
            var hooks = HookSet()
            hooks.collect(HookName.mlpSite(1), rows: [t]) { site.value = $0 }
            let logits = model.forward(embeddings: try model.embed(batch), batch: batch, hooks: hooks).logits!.value
            let v = logits.shape[1]
            let rowLogits = (0..<v).map { Double(logits.scalars[t * v + $0]) }
            let maximum = rowLogits.max()!
            let expected = rowLogits[Int(ids[t + 1])] - maximum - log(rowLogits.reduce(0) { $0 + exp($1 - maximum) })
            #expect(abs(store.metricValues[row] - expected) < 1e-4)
            let stored = try store.block(position: 0, rows: row..<(row + 1), columns: 24..<48)
            for i in 0..<24 { #expect(abs(stored[i] - site.value!.scalars[i]) <= 1e-5 * max(1, abs(stored[i]))) }
        }
        let rank = try RankStage(experiment: experiment, folder: folder).run(quiet: true)
        #expect(rank.reports[0].selection.count == 4 && rank.reports[0].topPredictivity == nil)
    }

    @Test func perTokenPlansAreChecked() throws {
        for (stages, collect, path) in [("[collect]", "{positions: [every, last]}", "collect.positions"),
                                        ("[collect]", "{positions: [last]}", "collect.metrics"),   // no pairs for pair_preference
                                        ("[collect]", "{positions: [every], metrics: [label]}", "collect.metrics"),
                                        ("[prompt, collect]", "{positions: [every]}", "task")] {
            let (directory, recipe) = try setUp(stages: stages, collect: collect)
            defer { try? FileManager.default.removeItem(at: directory) }
            do {
                let experiment = try Experiment(recipe: recipe, file: "tokens.yaml", root: directory)
                _ = try CollectStage(experiment: experiment, folder: try RunFolder(experiment.runFolder)).run(quiet: true)
                Issue.record("\(collect) with stages \(stages): accepted")
            } catch let errors as RecipeErrors {
                #expect(errors.issues.contains { $0.path == path }, "\(errors)")
            }
        }
    }
}

import Testing
import Foundation
import Autodiff
import HDF5Kit
import Interventions
import Models
import Pipeline
import Recipes
import Statistics
import TensorCore
import TestSupport
import Training

@Suite struct InterventionTests {
    typealias Neuron = Intervention.Neuron

    @Test func randomSetsMatchPerLayerCountsAndAvoidTheSelection() throws {
        let set = [Neuron(layer: 3, neuron: 1), Neuron(layer: 3, neuron: 7), Neuron(layer: 5, neuron: 2), Neuron(layer: 9, neuron: 0)]
        let selected = Set(set + [Neuron(layer: 3, neuron: 4), Neuron(layer: 5, neuron: 9)])
        let sets = try matchedRandomSets(for: set, count: 50, width: 12, excluding: selected, seed: 4)
        let counts = Dictionary(grouping: set, by: \.layer).mapValues(\.count)
        for random in sets {
            #expect(Dictionary(grouping: random, by: \.layer).mapValues(\.count) == counts)
            #expect(Set(random).isDisjoint(with: selected))
            #expect(Set(random).count == random.count)
        }
        #expect(Set(sets.map { $0.map(\.neuron) }).count > 40)   // the draws differ
        #expect(try matchedRandomSets(for: set, count: 50, width: 12, excluding: selected, seed: 4) == sets)
        #expect(throws: InterventionError.self) {
            _ = try matchedRandomSets(for: set, count: 1, width: 3, excluding: Set((0..<3).map { Neuron(layer: 3, neuron: $0) }), seed: 1)
        }
    }

    @Test func nestedRandomSetsFollowTheTopSetsLayerCountsAndNest() throws {
        let ranked = [Neuron(layer: 3, neuron: 1), Neuron(layer: 5, neuron: 2), Neuron(layer: 3, neuron: 7),
                      Neuron(layer: 9, neuron: 0), Neuron(layer: 5, neuron: 4), Neuron(layer: 3, neuron: 9)]
        let tops = [2: Array(ranked.prefix(2)), 4: Array(ranked.prefix(4)), 6: ranked]
        let sets = try nestedMatchedRandomSets(for: tops, count: 30, width: 12, excluding: Set(ranked)) { UInt64($0) }
        for (k, top) in tops {
            let counts = Dictionary(grouping: top, by: \.layer).mapValues(\.count)
            #expect(sets[k]!.count == 30)
            for random in sets[k]! {
                #expect(Dictionary(grouping: random, by: \.layer).mapValues(\.count) == counts)
                #expect(Set(random).isDisjoint(with: ranked) && Set(random).count == random.count)
            }
        }
        // Draw r at k = 2 is inside draw r at k = 4, inside draw r at k = 6; the draws differ.
        for r in 0..<30 {
            #expect(Set(sets[2]![r]).isSubset(of: Set(sets[4]![r])) && Set(sets[4]![r]).isSubset(of: Set(sets[6]![r])))
        }
        #expect(Set(sets[6]!.map { $0.map(\.neuron) }).count > 20)
        #expect(try nestedMatchedRandomSets(for: tops, count: 30, width: 12, excluding: Set(ranked)) { UInt64($0) } == sets)
        #expect(throws: InterventionError.self) {
            _ = try nestedMatchedRandomSets(for: tops, count: 1, width: 3, excluding: Set(ranked)) { UInt64($0) }
        }
    }

    @Test func noOpInterventionsAndLateStartsAreBitIdentical() throws {
        let model = try TinyModels.llama()
        let batch = TokenBatch([[1, 5, 9, 2, 7], [3, 3, 8]])
        let plain = model.forward(embeddings: try model.embed(batch), batch: batch).logits!.value.scalars
        let empty = Intervention(mode: .zero, neurons: [])
        #expect(empty.hooks(rows: batch.rows).isEmpty)
        let once = Intervention(mode: .amplify, strength: 1, neurons: [Neuron(layer: 1, neuron: 3), Neuron(layer: 0, neuron: 2)])
        let amplifiedByOne = model.forward(embeddings: try model.embed(batch), batch: batch, hooks: once.hooks(rows: batch.rows)).logits!.value.scalars
        #expect(amplifiedByOne == plain)
        // Starting at layer 1 from the recorded residual gives the same bits as a full pass.
        final class Box: @unchecked Sendable { var residual: Tensor? }
        let box = Box()
        var record = HookSet()
        record.collect(HookName.residPre(1)) { box.residual = $0 }
        _ = model.forward(embeddings: try model.embed(batch), batch: batch, hooks: record)
        let zero = Intervention(mode: .zero, neurons: [Neuron(layer: 1, neuron: 3)])
        let full = model.forward(embeddings: try model.embed(batch), batch: batch, hooks: zero.hooks(rows: batch.rows)).logits!.value.scalars
        let late = model.forward(embeddings: Variable(box.residual!), batch: batch, hooks: zero.hooks(rows: batch.rows), firstLayer: 1).logits!.value.scalars
        #expect(late == full)
        #expect(full != plain)
        // Scoped to the last token, only the last rows' sites change.
        final class Sites: @unchecked Sendable { var value: Tensor? }
        let sites = Sites()
        var hooks = Intervention(mode: .zero, neurons: [Neuron(layer: 0, neuron: 2)], scope: .last).hooks(rows: batch.rows, lastRows: batch.lastRows)
        hooks.collect(HookName.mlpSite(0)) { sites.value = $0 }
        _ = model.forward(embeddings: try model.embed(batch), batch: batch, hooks: hooks)
        let width = sites.value!.shape[1]
        for row in 0..<batch.rows {
            let value = sites.value!.scalars[row * width + 2]
            #expect(batch.lastRows.contains(row) ? value == 0 : value != 0)
        }
    }

    @Test func interventionsAreValidatedAndRoundTrip() throws {
        let bad = Intervention(mode: .zero, neurons: [Neuron(layer: 2, neuron: 0)])
        #expect(throws: InterventionError.noSuchNeuron(layer: 2, neuron: 0, layers: 2, width: 24)) { try bad.validate(layers: 2, width: 24) }
        #expect(throws: InterventionError.self) { try Intervention(mode: .mean, neurons: [Neuron(layer: 0, neuron: 0)]).validate(layers: 2, width: 24) }
        let directory = try Fixtures.scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let knob = Intervention(mode: .noise, strength: 0.5, neurons: [Neuron(layer: 1, neuron: 4)], sigmas: [2], seed: 9)
        let url = directory.appendingPathComponent("knob.json")
        try JSONEncoder().encode(knob).write(to: url)
        #expect(try Intervention.load(url) == knob)
        try Data("{\"mode\": \"melt\"}".utf8).write(to: url)
        #expect(throws: InterventionError.self) { try Intervention.load(url) }
    }

    @Test func signFlipTestSeesShiftsAndNotNoise() {
        var rng = SeededRandom(seed: 3)
        let noise = (0..<300).map { _ in rng.nextGaussian() }
        #expect(signFlipTest(noise, flips: 2000, seed: 1) > 0.05)
        #expect(signFlipTest(noise.map { $0 + 1 }, flips: 2000, seed: 1) == 1.0 / 2001)
    }
}

/// The ablation stage end to end on the tiny model of the collect/rank tests.
@Suite struct AblateStageTests {
    @Test func sweepsWithMatchedControlsAreArchivedAndSaved() throws {
        let fixture = CollectRankTests()
        let (directory, base) = try fixture.setUp(collect: "{positions: [last], metrics: [label, confidence]}", rank: "{permutations: 20, top_k: 5, bootstrap: 0}")
        defer { try? FileManager.default.removeItem(at: directory) }
        let recipe = try Recipe(text: base.text.replacingOccurrences(of: "stages: [collect, rank]", with: "stages: [collect, rank, ablate]") +
                                "\nablate: {modes: [mean, zero, noise, amplify], k: [\"2\", \"6\"], strengths: [\"0\", \"3\"], amplify_k: 4, random_sets: 3, general_texts: 0}",
                                file: "tiny.yaml")
        let (experiment, folder) = try fixture.stages(directory, recipe)
        _ = try CollectStage(experiment: experiment, folder: folder).run(quiet: true)
        _ = try RankStage(experiment: experiment, folder: folder).run(quiet: true)
        let result = try AblateStage(experiment: experiment, folder: folder).run(quiet: true)
        #expect(result.testExamples == 9 && result.randomSets == 3)
        #expect(result.curves.map(\.mode) == [.mean, .zero, .noise, .amplify], "the recipe's order")
        for curve in result.curves {
            #expect(curve.points.map(\.x) == (curve.mode == .amplify ? [0, 3] : [2, 6]))
            for p in curve.points {
                #expect(p.randomAccuracy.count == 3 && p.pairedP > 0 && p.pairedP <= 1 && p.empiricalP >= 0.25)
                #expect(p.klTask >= 0)
            }
        }
        // Undeclared, the headline is the largest |gap| among the ablations, quoted with the sweep p.
        let headline = try #require(result.headline)
        #expect(!headline.declared && headline.mode != .amplify && headline.test.contains("largest standardized gap"))
        func gap(_ p: AblateStage.Point) -> Double {
            RandomSetComparison.standardizedGap(result.baselineAccuracy - p.accuracy,
                                                p.randomAccuracy.map { result.baselineAccuracy - $0 })
        }
        let ablations = result.curves.filter { $0.mode != .amplify }.flatMap(\.points)
        let chosen = try #require(result.curves.first { $0.mode == headline.mode }?.points.first { $0.x == headline.x })
        #expect(gap(chosen) == ablations.map(gap).max()!)
        #expect(headline.p >= 0.25 && !headline.significant, "3 sets cannot reach 0.05")
        #expect(!headline.sentence(in: result).isEmpty)
        // Each point's intervention is saved and can be applied again.
        #expect(result.interventions.count == 8)
        let knob = try Intervention.load(URL(fileURLWithPath: result.interventions[0]))
        try knob.validate(layers: 2, width: 24)
        #expect(knob.mode == .mean && knob.neurons.count == 2 && knob.values?.count == 2)
        let archive = try EvidenceArchive.open(URL(fileURLWithPath: result.archive))
        let zero = try archive.root.group("ablate").group("zero")
        #expect(try zero.read("random_accuracy", as: Double.self).shape == [2, 3])
        #expect(try archive.root.group("ablate").group("random_sets").read("k6", as: Int64.self).shape == [3, 6, 2])
        // A finished sweep is reused, read back from the archive; the same seed gives the same numbers.
        let reused = try AblateStage(experiment: experiment, folder: folder).run(quiet: true)
        #expect(reused.curves.map(\.mode) == result.curves.map(\.mode) && reused.interventions == result.interventions)
        for (a, b) in zip(result.curves, reused.curves) {
            #expect(a.points.map(\.accuracy) == b.points.map(\.accuracy) && a.points.map(\.randomAccuracy) == b.points.map(\.randomAccuracy))
            #expect(a.points.map(\.pairedP) == b.points.map(\.pairedP) && a.points.map(\.z).description == b.points.map(\.z).description)
        }
        let again = try AblateStage(experiment: experiment, folder: folder).run(force: true, quiet: true)
        for (a, b) in zip(result.curves, again.curves) {
            #expect(a.points.map(\.accuracy) == b.points.map(\.accuracy) && a.points.map(\.pairedP) == b.points.map(\.pairedP))
        }
        #expect(reused.headline?.p == headline.p && reused.headline?.x == headline.x)
        #expect(reused.curves.flatMap(\.points).map(\.parametricP).description ==
                result.curves.flatMap(\.points).map(\.parametricP).description)
    }

    @Test func aDeclaredHeadlineQuotesItsOwnPointAndMustBeInTheSweep() throws {
        let fixture = CollectRankTests()
        let (directory, base) = try fixture.setUp(collect: "{positions: [last], metrics: [label]}",
                                                  rank: "{permutations: 20, top_k: 5, bootstrap: 0}")
        defer { try? FileManager.default.removeItem(at: directory) }
        func recipe(_ headline: String) throws -> Recipe {
            try Recipe(text: base.text.replacingOccurrences(of: "stages: [collect, rank]",
                                                            with: "stages: [collect, rank, ablate]") +
                       "\nablate: {modes: [zero, amplify], k: [2, 6], strengths: [0, 3], amplify_k: 4, " +
                       "random_sets: 4, general_texts: 0\(headline)}", file: "tiny.yaml")
        }
        let (experiment, folder) = try fixture.stages(directory, try recipe(", headline: {mode: zero, k: 2}"))
        _ = try CollectStage(experiment: experiment, folder: folder).run(quiet: true)
        _ = try RankStage(experiment: experiment, folder: folder).run(quiet: true)
        let result = try AblateStage(experiment: experiment, folder: folder).run(quiet: true)
        let headline = try #require(result.headline)
        let point = result.curves.first { $0.mode == .zero }!.points.first { $0.x == 2 }!
        #expect(headline.declared && headline.mode == .zero && headline.x == 2 && headline.p == point.empiricalP)
        // Points outside the sweep, and a k on amplify's or a strength on an ablation's, are refused, with
        // `recipe check` as with the stage.
        for bad in [", headline: {mode: zero, k: 3}", ", headline: {mode: mean, k: 2}",
                    ", headline: {mode: amplify, strength: 2}", ", headline: {mode: amplify, strength: 3, k: 6}",
                    ", headline: {mode: zero, k: 2, strength: 3}", ", headline: {k: 2}"] {
            let (e, f) = try fixture.stages(directory, try recipe(bad))
            #expect(throws: RecipeErrors.self, "\(bad)") { _ = try AblateStage(experiment: e, folder: f).options() }
            #expect(throws: RecipeErrors.self, "\(bad)") { try e.checkStageOptions() }
        }
        let (e, _) = try fixture.stages(directory, try recipe(", headline: {mode: amplify, strength: 3, k: 4}"))
        try e.checkStageOptions()
        // ablate.metric must be a collected metric: `recipe check` says so before the sweep would.
        let (unknown, _) = try fixture.stages(directory, try recipe(", metric: labl"))
        #expect(throws: RecipeErrors.self) { try unknown.checkStageOptions() }
        let (known, _) = try fixture.stages(directory, try recipe(", metric: label"))
        try known.checkStageOptions()
    }
}

/// Transfer: a sweep on another dataset, with the neurons (and prompt) of another run.
@Suite struct AblateTransferTests {
    @Test func neuronsFromAnotherRunAreAblatedOnAnotherDataset() throws {
        let fixture = CollectRankTests()
        let (directory, base) = try fixture.setUp(collect: "{positions: [last], metrics: [label]}",
                                                  rank: "{permutations: 20, top_k: 5, bootstrap: 0}")
        defer { try? FileManager.default.removeItem(at: directory) }
        let (ranking, rankingFolder) = try fixture.stages(directory, base)
        _ = try CollectStage(experiment: ranking, folder: rankingFolder).run(quiet: true)
        _ = try RankStage(experiment: ranking, folder: rankingFolder).run(quiet: true)
        // Another dataset with the task's two classes, spelled differently.
        var rows = "review,stars\n"
        for i in 0..<14 { rows += "\(i % 2 == 0 ? "a fine movie" : "a dull movie") number \(i),\(i % 2 == 0 ? 5 : 1)\n" }
        let other = directory.appendingPathComponent("reviews.csv")
        try rows.write(to: other, atomically: true, encoding: .utf8)
        try (rows + "a middling movie,3\n").write(to: directory.appendingPathComponent("three.csv"),
                                                  atomically: true, encoding: .utf8)
        func recipe(stages: String = "[ablate]", file: URL? = nil,
                    data: String = "labels: {\"1\": 0, \"5\": 1}") throws -> Recipe {
            let text = base.text
                .replacingOccurrences(of: "name: tiny", with: "name: transfer")
                .replacingOccurrences(of: "output: \(rankingFolder.url.path)",
                                      with: "output: \(directory.appendingPathComponent("transfer").path)")
                .replacingOccurrences(of: "stages: [collect, rank]", with: "stages: \(stages)")
            return try Recipe(text: text + """

                ablate: {modes: [zero], k: [3], random_sets: 4, general_texts: 0, examples: 10,
                         neurons_from: \(rankingFolder.url.path),
                         data: {loader: csv, path: \((file ?? other).path), text: review, label: stars, \(data)}}
                """, file: "transfer.yaml")
        }
        let (experiment, folder) = try fixture.stages(directory, try recipe())
        try experiment.checkStageOptions()
        let result = try AblateStage(experiment: experiment, folder: folder).run(quiet: true)
        #expect(result.testExamples == 10, "ablate.examples caps the other dataset")
        let archive = try EvidenceArchive.open(URL(fileURLWithPath: result.archive))
        let group = try archive.root.group("ablate")
        #expect(try group.attribute("neurons_from") == .string(rankingFolder.url.path))
        #expect(try group.attribute("examples_from") == .string("csv \(other.path)"))
        // The swept set is the other run's top 3.
        let rankArchive = try EvidenceArchive.open(EvidenceArchive.url(rankingFolder))
        let top = try rankArchive.root.group("rank").group("metrics").group("label").group("top")
        let (layers, neurons) = (try top.read("layer", as: Int64.self).values, try top.read("neuron", as: Int64.self).values)
        let swept = try group.read("neurons", as: Int64.self).values
        #expect(swept == (0..<3).flatMap { [layers[$0], neurons[$0]] })

        // Refused, by the stage and by `recipe check`: this recipe's own ranking stages beside
        // neurons_from, and a dataset whose classes are not the task's.
        for bad in [try recipe(stages: "[collect, rank, ablate]"),
                    try recipe(file: directory.appendingPathComponent("three.csv"), data: "skip_incomplete: false")] {
            let (e, f) = try fixture.stages(directory, bad)
            #expect(throws: RecipeErrors.self) { _ = try AblateStage(experiment: e, folder: f).options() }
            #expect(throws: RecipeErrors.self) { try e.checkStageOptions() }
        }
        // Neurons ranked on another model are refused with both models named.
        let changed = try CollectRankTests().setUp(collect: "{positions: [last], metrics: [label]}",
                                                   rank: "{permutations: 20, top_k: 5, bootstrap: 0}") {
            let key = $0.keys.sorted()[0], t = $0[key]!
            $0[key] = Tensor(shape: t.shape, scalars: t.scalars.map { $0 * 1.5 })
        }
        defer { try? FileManager.default.removeItem(at: changed.0) }
        try FileManager.default.removeItem(at: directory.appendingPathComponent("tiny.gguf"))
        try FileManager.default.copyItem(at: changed.0.appendingPathComponent("tiny.gguf"),
                                         to: directory.appendingPathComponent("tiny.gguf"))
        let (e, f) = try fixture.stages(directory, try recipe())
        #expect(throws: CollectError.self) { _ = try AblateStage(experiment: e, folder: f).run(force: true, quiet: true) }
    }
}

@Suite struct AblateEvaluationOrderTests {
    /// Batches are formed from examples sorted by length; each example's result must still meet its own
    /// label. A ×1 amplification is the unablated model, so its mean loss must equal the loss computed
    /// one example at a time, in the file's order.
    @Test func lengthSortedBatchesKeepEachExampleWithItsLabel() throws {
        let fixture = CollectRankTests()
        let (directory, base) = try fixture.setUp(collect: "{positions: [last], metrics: [label]}",
                                                  rank: "{permutations: 20, top_k: 5, bootstrap: 0}")
        defer { try? FileManager.default.removeItem(at: directory) }
        var rows = "text,label\n"
        var examples: [(String, Int)] = []
        for i in 0..<11 {
            let text = "film " + String(repeating: "word\(i) ", count: (i * 7) % 5 + 1) + "end"
            examples.append((text, (i * 3) % 2))
            rows += "\(text),\((i * 3) % 2)\n"
        }
        let data = directory.appendingPathComponent("lengths.csv")
        try rows.write(to: data, atomically: true, encoding: .utf8)
        let recipe = try Recipe(text: base.text.replacingOccurrences(of: "stages: [collect, rank]",
                                                                     with: "stages: [collect, rank, ablate]") + """

            ablate: {modes: [amplify], k: [2], strengths: [1], amplify_k: 2, random_sets: 2, general_texts: 0,
                     batch_size: 4, data: {loader: csv, path: \(data.path), text: text, label: label}}
            """, file: "tiny.yaml")
        let (experiment, folder) = try fixture.stages(directory, recipe)
        _ = try CollectStage(experiment: experiment, folder: folder).run(quiet: true)
        _ = try RankStage(experiment: experiment, folder: folder).run(quiet: true)
        let result = try AblateStage(experiment: experiment, folder: folder).run(quiet: true)
        let point = try #require(result.curves.first?.points.first)
        let task = PromptTask(model: experiment.loaded.model, tokenizer: experiment.loaded.tokenizer,
                              framing: .verbalizers(template: "{text} =", ids: experiment.verbalizerIDs!),
                              classes: 2)
        var loss = 0.0
        for (text, label) in examples {
            let logits = try task.logits([task.ids(text)], prompt: nil).value.scalars.map(Double.init)
            let top = logits.max()!
            loss -= logits[label] - top - log(logits.reduce(0) { $0 + exp($1 - top) })
        }
        loss /= Double(examples.count)
        #expect(result.testExamples == examples.count)
        #expect(abs(point.meanLoss - loss) < 1e-4 * max(1, abs(loss)), "\(point.meanLoss) vs \(loss)")
        // Mislabelled by one place, the loss differs: the check can fail.
        var shifted = 0.0
        for (i, (text, _)) in examples.enumerated() {
            let logits = try task.logits([task.ids(text)], prompt: nil).value.scalars.map(Double.init)
            let label = examples[(i + 1) % examples.count].1, top = logits.max()!
            shifted -= logits[label] - top - log(logits.reduce(0) { $0 + exp($1 - top) })
        }
        #expect(abs(shifted / Double(examples.count) - loss) > 1e-3)
    }
}

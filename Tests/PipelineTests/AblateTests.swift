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
    }
}

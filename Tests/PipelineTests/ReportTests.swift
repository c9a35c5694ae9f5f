import Testing
import Foundation
import HDF5Kit
import Pipeline
import Recipes
import Report
import TensorCore
import TestSupport

/// The evidence archive of a whole tiny run (prompt → collect → rank → ablate → edit → audit), read back by
/// `EvidenceReader` and drawn by `ReportPage`; every figure the page shows is checked against the archive's
/// own datasets, read here directly through HDF5Kit.
@Suite struct ReportTests {
    /// A finished tiny run: its folder (to delete), and the archive.
    static func finishedRun() throws -> (URL, URL) {
        let fixture = CollectRankTests()
        let (directory, base) = try fixture.setUp(collect: "{positions: [last, mean], metrics: [label, confidence]}",
                                                  rank: "{permutations: 20, top_k: 4, bootstrap: 30}")
        let text = base.text.replacingOccurrences(of: "stages: [collect, rank]", with: "stages: [prompt, collect, rank, ablate, edit]")
            + "\nprompt: {length: 2, learning_rate: 0.05, epochs: 2, batch_size: 8}"
            + "\nablate: {modes: [zero, mean, amplify], k: [\"2\", \"4\"], strengths: [\"0\", \"3\"], amplify_k: 2, random_sets: 3, general_texts: 0}"
            + "\nedit: {objective: task, neurons: 3, steps: 6, learning_rate: 0.05, batch_size: 6, write: exact}"
        let recipe = try Recipe(text: text, file: "tiny.yaml")
        let (experiment, folder) = try fixture.stages(directory, recipe)
        _ = try PromptStage(experiment: experiment, folder: folder).run(quiet: true)
        _ = try CollectStage(experiment: experiment, folder: folder).run(quiet: true)
        _ = try RankStage(experiment: experiment, folder: folder).run(quiet: true)
        _ = try AblateStage(experiment: experiment, folder: folder).run(quiet: true)
        let edit = try EditStage(experiment: experiment, folder: folder).run(quiet: true)
        let audit = try Audit.run(base: experiment.modelPath, edited: edit.checkpoint, experiment: experiment, generalPath: nil, quiet: true)
        try EvidenceArchive.write(stage: "audit", experiment: experiment, folder: folder, started: Date()) { try audit.write(into: $0) }
        return (directory, EvidenceArchive.url(folder))
    }

    /// Every `data-key` of the page with its exact `data-value`.
    static func keyedValues(_ html: String) -> [String: Double] {
        let pattern = try! NSRegularExpression(pattern: "data-key=\"([^\"]+)\" data-value=\"([^\"]+)\"")
        var out: [String: Double] = [:]
        for m in pattern.matches(in: html, range: NSRange(html.startIndex..., in: html)) {
            let key = String(html[Range(m.range(at: 1), in: html)!]), value = String(html[Range(m.range(at: 2), in: html)!])
            out[key] = Double(value)
        }
        return out
    }

    @Test func theReportsNumbersAreTheArchivesDatasets() throws {
        let (directory, url) = try Self.finishedRun()
        defer { try? FileManager.default.removeItem(at: directory) }
        // The tiny model's 9 test examples give every set the same accuracy, which would hide a mix-up of the
        // random sets' mean, minimum and maximum: give each sweep distinct, seeded values first.
        var rng = SeededRandom(seed: 11)
        try HDF5File.update(at: url) { root in
            for mode in ["zero", "mean", "amplify"] {
                let g = try root.group("ablate").group(mode)
                try g.remove("random_accuracy")
                _ = try g.write("random_accuracy", (0..<6).map { _ in rng.nextDouble() }, shape: [2, 3])
                try g.remove("accuracy")
                _ = try g.write("accuracy", (0..<2).map { _ in rng.nextDouble() }, shape: [2])
            }
        }
        let evidence = try EvidenceReader.read(url)
        let html = ReportPage.html(evidence)
        let shown = Self.keyedValues(html)

        let file = try HDF5File.open(at: url)
        defer { file.close() }
        let root = file.root
        func attribute(_ group: HDF5Group, _ name: String) throws -> Double {
            guard case .double(let d) = try group.attribute(name) else { Issue.record("\(name) is not a double"); return .nan }
            return d
        }
        // The soft prompt.
        let prompt = try root.group("prompt")
        #expect(shown["prompt.prompt_accuracy"] == (try attribute(prompt, "prompt_accuracy")))
        #expect(shown["prompt.zero_shot_accuracy"] == (try attribute(prompt, "zero_shot_accuracy")))
        #expect(try prompt.read("loss", as: Double.self).values == evidence.prompt!.loss)
        #expect(try prompt.read("dev_accuracy", as: Double.self).values.count == 2)
        #expect(try prompt.read("soft_prompt", as: Float.self).shape == [2, 16])

        // The selected neurons, with p and q.
        let selection = try root.group("rank").group("metrics").group("label").group("selection")
        let scores = try selection.read("score", as: Double.self).values, ps = try selection.read("p_value", as: Double.self).values
        let layers = try selection.read("layer", as: Int64.self).values, neurons = try selection.read("neuron", as: Int64.self).values
        #expect(scores.count == 4)
        for i in scores.indices {
            #expect(shown["rank.label.selection.\(i).score"] == scores[i])
            #expect(shown["rank.label.selection.\(i).p_value"] == ps[i])
            #expect(html.contains("data-key=\"rank.label.selection.\(i).neuron\">L\(layers[i]).\(neurons[i])<"))
        }
        // Per-layer maxima, recomputed from the full score table: |score| at each neuron's best position.
        let table = try root.group("rank").group("metrics").group("label").group("pearson").read("score", as: Double.self)
        let columns = table.shape[1], width = columns / 2
        for layer in 0..<2 {
            var best = 0.0
            for p in 0..<table.shape[0] { for c in (layer * width)..<((layer + 1) * width) where !table.values[p * columns + c].isNaN { best = max(best, abs(table.values[p * columns + c])) } }
            #expect(abs((shown["rank.layer.\(layer).maximum"] ?? .nan) - best) < 1e-15)
        }
        #expect(abs((shown["rank.label.top10_mean_abs"] ?? .nan) - evidence.rank!.metrics[0].topMeanAbs["10"]!) == 0)

        // The dose-response curves: the skill set and its random sets' mean, point by point.
        for mode in ["zero", "mean", "amplify"] {
            let g = try root.group("ablate").group(mode)
            let accuracy = try g.read("accuracy", as: Double.self).values, paired = try g.read("paired_p", as: Double.self).values
            let random = try g.read("random_accuracy", as: Double.self)
            #expect(random.shape == [2, 3])
            for i in accuracy.indices {
                #expect(shown["ablate.\(mode).\(i).accuracy"] == accuracy[i])
                #expect(shown["ablate.\(mode).\(i).paired_p"] == paired[i])
                let mean = random.values[(i * 3)..<(i * 3 + 3)].reduce(0, +) / 3
                #expect(abs((shown["ablate.\(mode).\(i).random_mean"] ?? .nan) - mean) < 1e-15)
                let curve = evidence.ablate!.curves.first { $0.mode == mode }!
                #expect(curve.randomLow[i] == random.values[(i * 3)..<(i * 3 + 3)].min() && curve.randomHigh[i] == random.values[(i * 3)..<(i * 3 + 3)].max())
            }
            #expect(html.contains("id=\"dose-\(mode)\""))
        }
        #expect(html.components(separatedBy: "class=\"band\"").count - 1 == 3)

        // The edit's curve and the audit.
        let edit = try root.group("edit")
        #expect(shown["edit.final_loss"] == (try edit.read("loss", as: Double.self).values.last))
        let audit = try root.group("audit")
        #expect(shown["audit.accuracy_after"] == (try attribute(audit, "accuracy_after")))
        #expect(shown["audit.accuracy_before"] == (try attribute(audit, "accuracy_before")))
        #expect(html.contains("data-key=\"audit.changed_weights_outside_mask\" data-value=\"0\""))

        // Provenance and the embedded data; nothing is fetched from the network.
        #expect(html.contains("recipe_sha256") && html.contains("<svg") && html.contains("id=\"scalpel-evidence\""))
        #expect(!html.contains("http://") || html.components(separatedBy: "http://").dropFirst().allSatisfy { $0.hasPrefix("www.w3.org/2000/svg") })
        #expect(!html.contains("https://") && !html.contains("<script src"))
        #expect(Set(evidence.stages.map(\.stage)) == ["prompt", "collect", "rank", "ablate", "edit", "audit"])
    }

    @Test func comparingARunWithItselfAndWithAnEmptierOne() throws {
        let (directory, url) = try Self.finishedRun()
        defer { try? FileManager.default.removeItem(at: directory) }
        let evidence = try EvidenceReader.read(url)
        let same = RunComparison(evidence, evidence)
        #expect(same.overlaps.map(\.metric) == ["confidence", "label"])
        #expect(same.overlaps.allSatisfy { $0.jaccard == 1 && $0.shared.count == $0.selectedA })
        #expect(same.figures.allSatisfy { $0.difference == 0 })
        #expect(same.differences.allSatisfy { $0.a == $0.b })

        // B without its edit and audit: those figures have no difference, and the selection still compares.
        var trimmed = evidence
        trimmed.audit = nil
        trimmed.edit = nil
        trimmed.headline = evidence.headline.filter { !$0.key.hasPrefix("audit_") && !$0.key.hasPrefix("edit_") }
        trimmed.rank!.metrics[0].selection.removeLast()
        let partial = RunComparison(evidence, trimmed)
        let label = partial.overlaps.first { $0.metric == "label" }!
        #expect(label.shared.count == 3 && abs(label.jaccard! - 0.75) < 1e-12)
        #expect(partial.figures.first { $0.name == "audit_accuracy_after" }!.difference == nil)
        let page = partial.html()
        #expect(Self.keyedValues(page)["overlap.label.jaccard"] == label.jaccard)
    }

    @Test func damagedArchivesAreRefusedWithAClearError() throws {
        let (directory, url) = try Self.finishedRun()
        defer { try? FileManager.default.removeItem(at: directory) }
        let bytes = try Data(contentsOf: url)

        // Truncated.
        let truncated = directory.appendingPathComponent("truncated.h5")
        try bytes.prefix(bytes.count / 3).write(to: truncated)
        #expect(throws: (any Error).self) { try EvidenceReader.read(truncated) }
        do { _ = try EvidenceReader.read(truncated) } catch { #expect("\(error)".contains("truncated.h5")) }

        // Not HDF5 at all.
        let foreign = directory.appendingPathComponent("foreign.h5")
        try Data("this is not an archive".utf8).write(to: foreign)
        do { _ = try EvidenceReader.read(foreign); Issue.record("a text file was read") } catch { #expect("\(error)".contains("foreign.h5")) }

        // An HDF5 file of another schema version.
        let future = directory.appendingPathComponent("future.h5")
        try bytes.write(to: future)
        try HDF5File.update(at: future) { try $0.setAttribute("schema", .string("scalpel.evidence/99")) }
        do { _ = try EvidenceReader.read(future); Issue.record("schema 99 was read") } catch {
            #expect("\(error)".contains("scalpel.evidence/99") && "\(error)".contains("scalpel.evidence/1"))
        }

        // A stage group with a dataset missing, and one with a dataset of the wrong length.
        let missing = directory.appendingPathComponent("missing.h5")
        try bytes.write(to: missing)
        try HDF5File.update(at: missing) { try $0.group("ablate").group("mean").remove("accuracy") }
        do { _ = try EvidenceReader.read(missing); Issue.record("a sweep without accuracies was read") } catch let error as EvidenceError {
            #expect(error.object == "/ablate/mean" && error.detail.contains("accuracy"))
        }
        let short = directory.appendingPathComponent("short.h5")
        try bytes.write(to: short)
        try HDF5File.update(at: short) { root in
            let g = try root.group("rank").group("metrics").group("label").group("selection")
            try g.remove("score")
            _ = try g.write("score", [0.5], shape: [1])
        }
        do { _ = try EvidenceReader.read(short); Issue.record("a short selection was read") } catch let error as EvidenceError {
            #expect(error.object == "/rank/metrics/label/selection" && error.detail.contains("1 values in 'score' where 4"))
        }
    }
}

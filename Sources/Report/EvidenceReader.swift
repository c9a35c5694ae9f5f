import Foundation
import HDF5Kit
import Pipeline

/// An archive that opens but whose groups are not what schema `scalpel.evidence/1` says.
public struct EvidenceError: Error, CustomStringConvertible, Equatable {
    public var archive: String
    public var object: String
    public var detail: String

    public var description: String {
        "\(archive): \(object) \(detail); the archive is damaged or was written by another tool. " +
            "Run the stage again (scalpel <stage> RECIPE --force) to rewrite it."
    }
}

/// Reads an evidence archive into `RunEvidence`. Only the groups present are read, so a run that has
/// finished some stages can be reported; a group that is present but malformed is an `EvidenceError`.
public enum EvidenceReader {
    /// Neuron blocks per layer in the layer × neuron map.
    static let mapCells = 64

    public static func read(_ url: URL) throws -> RunEvidence {
        let file = try EvidenceArchive.open(url)
        defer { file.close() }
        let root = file.root, path = url.path
        let reader = GroupReader(archive: path)
        guard root.kind(of: "provenance") == .group else {
            throw EvidenceError(archive: path, object: "/provenance", detail: "is missing")
        }
        let provenanceGroup = try root.group("provenance")
        var fields: [RunEvidence.Field] = [], recipeText: String?
        var timings: [String: RunEvidence.StageTiming] = [:]
        for name in try provenanceGroup.attributeNames().sorted() {
            let value = try provenanceGroup.attribute(name)
            if name == "recipe_text", case .string(let text) = value { recipeText = text; continue }
            for suffix in ["_started", "_seconds"] where name.hasSuffix(suffix) {
                let stage = String(name.dropLast(suffix.count))
                var timing = timings[stage] ?? RunEvidence.StageTiming(stage: stage)
                if case .string(let s) = value { timing.started = s }
                if case .double(let d) = value { timing.seconds = d }
                timings[stage] = timing
            }
            fields.append(RunEvidence.Field(name: name, value: text(value)))
        }
        let order = StageName.allCases.map(\.rawValue)
        let stages = timings.values.sorted {
            (order.firstIndex(of: $0.stage) ?? 99, $0.stage) < (order.firstIndex(of: $1.stage) ?? 99, $1.stage)
        }
        var schema = EvidenceArchive.schema
        if case .string(let s)? = try? root.attribute("schema") { schema = s }

        var evidence = RunEvidence(archive: path, schema: schema, provenance: fields, recipeText: recipeText,
                                   stages: stages, headline: [:])
        if root.kind(of: "prompt") == .group { evidence.prompt = try reader.prompt(try root.group("prompt")) }
        if root.kind(of: "collect") == .group { evidence.collect = try reader.collect(try root.group("collect")) }
        if root.kind(of: "rank") == .group { evidence.rank = try reader.rank(try root.group("rank")) }
        if root.kind(of: "ablate") == .group { evidence.ablate = try reader.ablate(try root.group("ablate")) }
        if root.kind(of: "edit") == .group { evidence.edit = try reader.edit(try root.group("edit")) }
        if root.kind(of: "audit") == .group { evidence.audit = try reader.audit(try root.group("audit")) }
        evidence.headline = headline(evidence)
        return evidence
    }

    static func text(_ value: HDF5AttributeValue) -> String {
        switch value {
        case .string(let s): s
        case .int(let i): String(i)
        case .float(let f): String(f)
        case .double(let d): String(d)
        case .ints(let a): a.map(String.init).joined(separator: ", ")
        case .floats(let a): a.map { String($0) }.joined(separator: ", ")
        case .doubles(let a): a.map { String($0) }.joined(separator: ", ")
        case .strings(let a): a.joined(separator: ", ")
        }
    }

    /// The headline figures, named as in `scalpel run --json` where it has them.
    static func headline(_ e: RunEvidence) -> [String: Double] {
        var h: [String: Double] = [:]
        if let p = e.prompt {
            h["prompt_accuracy"] = p.promptAccuracy
            h["dev_accuracy"] = p.devAccuracy
            if let z = p.zeroShotAccuracy { h["zero_shot_accuracy"] = z }
        }
        if let r = e.rank, let primary = r.metrics.first(where: { $0.metric == r.primaryMetric }) {
            for (k, v) in primary.topMeanAbs { h["top\(k)_mean_abs_\(r.statistic)"] = v }
        }
        if let a = e.ablate {
            h["baseline_accuracy"] = a.baselineAccuracy
            // The headline point's accuracy drop beyond its random sets' mean, and the p it quotes; an
            // archive from before step 17 has no headline, and gives its largest ablation drop instead.
            if let head = a.headline, let c = a.curves.first(where: { $0.mode == head.mode }),
               let i = c.x.firstIndex(of: head.x) {
                h["ablation_excess_drop"] = c.randomMean[i] - c.accuracy[i]
                h["ablation_headline_p"] = head.p
                h["ablation_headline_significant"] = head.significant ? 1 : 0
                h["ablation_excess_drop_paired_p"] = c.pairedP[i]
            } else if a.headline == nil {
                let points = a.curves.filter { $0.mode != "amplify" }.flatMap { c in
                    c.x.indices.map { (excess: c.randomMean[$0] - c.accuracy[$0], p: c.pairedP[$0]) }
                }
                if let best = points.max(by: { $0.excess < $1.excess }) {
                    h["ablation_excess_drop"] = best.excess
                    h["ablation_excess_drop_paired_p"] = best.p
                }
            }
        }
        if let ed = e.edit, let last = ed.loss.last {
            h["edit_final_loss"] = last; h["edit_neurons"] = Double(ed.neurons)
        }
        if let au = e.audit {
            for (key, value) in [("accuracy_before", au.accuracyBefore), ("accuracy_after", au.accuracyAfter),
                                 ("wikitext_perplexity_before", au.perplexityBefore),
                                 ("wikitext_perplexity_after", au.perplexityAfter),
                                 ("kl_general", au.klGeneral), ("bias_score_before", au.biasBefore),
                                 ("bias_score_after", au.biasAfter)] {
                if let value { h["audit_" + key] = value }
            }
        }
        return h
    }
}

/// Typed reads from one group, each failing with an `EvidenceError` that names the object.
struct GroupReader {
    let archive: String

    func fail(_ g: HDF5Group, _ detail: String) -> EvidenceError {
        EvidenceError(archive: archive, object: g.path, detail: detail)
    }

    func double(_ g: HDF5Group, _ name: String) throws -> Double {
        switch try? g.attribute(name) {
        case .double(let d)?: return d
        case .float(let f)?: return Double(f)
        case .int(let i)?: return Double(i)
        default: throw fail(g, "has no numeric attribute '\(name)'")
        }
    }
    func optionalDouble(_ g: HDF5Group, _ name: String) -> Double? {
        guard let d = try? double(g, name), !d.isNaN else { return nil }
        return d
    }
    func int(_ g: HDF5Group, _ name: String) throws -> Int {
        guard case .int(let i)? = try? g.attribute(name) else { throw fail(g, "has no integer attribute '\(name)'") }
        return Int(i)
    }
    func string(_ g: HDF5Group, _ name: String) throws -> String {
        guard case .string(let s)? = try? g.attribute(name) else { throw fail(g, "has no string attribute '\(name)'") }
        return s
    }
    func strings(_ g: HDF5Group, _ name: String) throws -> [String] {
        switch try? g.attribute(name) {
        case .strings(let s)?: return s
        case .string(let s)?: return [s]
        default: throw fail(g, "has no string-array attribute '\(name)'")
        }
    }
    func doubles(_ g: HDF5Group, _ name: String) -> [Double]? {
        guard case .doubles(let d)? = try? g.attribute(name) else { return nil }
        return d
    }
    /// A float64 dataset of exactly `count` elements when `count` is given.
    func column(_ g: HDF5Group, _ name: String, count: Int? = nil) throws -> [Double] {
        guard g.kind(of: name) == .dataset else { throw fail(g, "has no dataset '\(name)'") }
        let values: [Double]
        if (try? g.dataset(name).elementType()) == "float32" {
            values = try g.read(name, as: Float.self).values.map(Double.init)
        }
        else { values = try g.read(name, as: Double.self).values }
        if let count, values.count != count {
            throw fail(g, "has \(values.count) values in '\(name)' where \(count) were expected")
        }
        return values
    }
    func integers(_ g: HDF5Group, _ name: String, count: Int? = nil) throws -> [Int] {
        guard g.kind(of: name) == .dataset else { throw fail(g, "has no dataset '\(name)'") }
        let values = try g.read(name, as: Int64.self).values.map(Int.init)
        if let count, values.count != count {
            throw fail(g, "has \(values.count) values in '\(name)' where \(count) were expected")
        }
        return values
    }

    func prompt(_ g: HDF5Group) throws -> RunEvidence.Prompt {
        RunEvidence.Prompt(length: try int(g, "length"), epochs: try int(g, "epochs"),
                           trainExamples: try? int(g, "train_examples"), testExamples: try? int(g, "test_examples"),
                           zeroShotAccuracy: optionalDouble(g, "zero_shot_accuracy"),
                           promptAccuracy: try double(g, "prompt_accuracy"), devAccuracy: try double(g, "dev_accuracy"),
                           margin: optionalDouble(g, "margin"), marginInterval: doubles(g, "margin_ci"),
                           loss: try column(g, "loss"), devAccuracies: try column(g, "dev_accuracy"))
    }

    func collect(_ g: HDF5Group) throws -> RunEvidence.Collect {
        guard case .ints(let layers)? = try? g.attribute("layers") else {
            throw fail(g, "has no integer-array attribute 'layers'")
        }
        return RunEvidence.Collect(trainRows: try int(g, "train_rows"), devRows: try int(g, "dev_rows"),
                                   positions: try strings(g, "positions"), layers: layers.map(Int.init),
                                   neuronsPerLayer: try int(g, "neurons_per_layer"), metrics: try strings(g, "metrics"))
    }

    func neurons(_ g: HDF5Group, positions: [String]) throws -> [RunEvidence.Neuron] {
        let layer = try integers(g, "layer"), n = layer.count
        let neuron = try integers(g, "neuron", count: n), position = try integers(g, "position", count: n)
        let score = try column(g, "score", count: n), p = try column(g, "p_value", count: n),
            q = try column(g, "q_value", count: n)
        // Intervals exist only when the ranking ran a bootstrap: none, or one per neuron.
        func intervals(_ name: String) throws -> [Double] {
            guard g.kind(of: name) == .dataset else { return [Double](repeating: .nan, count: n) }
            let values = try column(g, name)
            if values.isEmpty { return [Double](repeating: .nan, count: n) }
            guard values.count == n else {
                throw fail(g, "has \(values.count) values in '\(name)' where \(n) were expected")
            }
            return values
        }
        let low = try intervals("ci_low"), high = try intervals("ci_high")
        return try (0..<n).map { i in
            guard positions.indices.contains(position[i]) else {
                throw fail(g, "names position \(position[i]), but the ranking has \(positions.count)")
            }
            return RunEvidence.Neuron(layer: layer[i], neuron: neuron[i], position: positions[position[i]],
                                      score: score[i], pValue: p[i], qValue: q[i],
                                      ciLow: low[i].isNaN ? nil : low[i], ciHigh: high[i].isNaN ? nil : high[i])
        }
    }

    func rank(_ g: HDF5Group) throws -> RunEvidence.Rank {
        let statistic = try string(g, "statistic"), primary = try string(g, "primary_metric")
        let positions = try strings(g, "positions"), metricNames = try strings(g, "metrics")
        guard case .ints(let layerList)? = try? g.attribute("layers") else {
            throw fail(g, "has no integer-array attribute 'layers'")
        }
        let layers = layerList.map(Int.init), width = try int(g, "neurons_per_layer")
        let metricsGroup = try g.group("metrics")
        var metrics: [RunEvidence.MetricRanking] = []
        for name in metricNames {
            let groupName = RankStage.groupName(name)
            guard metricsGroup.kind(of: groupName) == .group else {
                throw fail(metricsGroup, "has no group for metric '\(name)'")
            }
            let m = try metricsGroup.group(groupName)
            if case .string(let reason)? = try? m.attribute("excluded") {
                metrics.append(RunEvidence.MetricRanking(metric: name, excluded: reason, selection: [],
                                                         topMeanAbs: [:], predictivity: nil))
                continue
            }
            let selection = try neurons(try m.group("selection"), positions: positions)
            let topGroup = try m.group("top")
            let top = try neurons(topGroup, positions: positions)
            var means: [String: Double] = [:]
            for k in [1, 10, 50] where !top.isEmpty {
                let best = top.prefix(k)
                means[String(k)] = best.reduce(0) { $0 + abs($1.score) } / Double(best.count)
            }
            let predictivity = topGroup.kind(of: "predictivity") == .dataset
                ? try column(topGroup, "predictivity") : nil
            metrics.append(RunEvidence.MetricRanking(metric: name, excluded: nil, selection: selection,
                                                     topMeanAbs: means, predictivity: predictivity))
        }

        // Per neuron, |score| at its best position, for the selecting metric and statistic.
        let scoreGroup = try metricsGroup.group(RankStage.groupName(primary)).group(statistic)
        let (columns, overflow) = layers.count.multipliedReportingOverflow(by: width)
        // The score table must hold positions × columns values, which bounds the arrays made from them below.
        guard !positions.isEmpty else { throw fail(g, "has no positions") }
        guard width >= 0, !overflow, !positions.count.multipliedReportingOverflow(by: columns).overflow else {
            throw fail(g, "has neurons_per_layer \(width), which no model has")
        }
        let scores = try column(scoreGroup, "score", count: positions.count * columns)
        var best = [Double](repeating: .nan, count: columns)
        for p in 0..<positions.count {
            for c in 0..<columns {
                let v = abs(scores[p * columns + c])
                if !v.isNaN && (best[c].isNaN || v > best[c]) { best[c] = v }
            }
        }
        let selected = metrics.first { $0.metric == primary }?.selection ?? []
        var layerScores: [RunEvidence.LayerScores] = []
        var cells: [[Double]] = []
        let perCell = max(1, (width + EvidenceReader.mapCells - 1) / EvidenceReader.mapCells)
        for (l, layer) in layers.enumerated() {
            let values = best[(l * width)..<((l + 1) * width)].filter { !$0.isNaN }.sorted()
            func quantile(_ q: Double) -> Double {
                guard !values.isEmpty else { return 0 }
                let position = q * Double(values.count - 1), i = Int(position), f = position - Double(i)
                return i + 1 < values.count ? values[i] * (1 - f) + values[i + 1] * f : values[i]
            }
            layerScores.append(RunEvidence.LayerScores(layer: layer, neurons: values.count,
                                                       minimum: values.first ?? 0, lowerQuartile: quantile(0.25),
                                                       median: quantile(0.5), upperQuartile: quantile(0.75),
                                                       maximum: values.last ?? 0,
                                                       selected: selected.filter { $0.layer == layer }.count))
            cells.append(stride(from: 0, to: width, by: perCell).map { start in
                best[(l * width + start)..<(l * width + min(width, start + perCell))].filter { !$0.isNaN }.max() ?? 0
            })
        }

        var overlaps: [RunEvidence.Overlap] = []
        if g.kind(of: "overlap") == .group {
            let overlapGroup = try g.group("overlap")
            for child in try overlapGroup.children().sorted(by: { (Int($0) ?? 0) < (Int($1) ?? 0) }) {
                let o = try overlapGroup.group(child)
                let shared = try o.read("shared", as: Int64.self).shape.first ?? 0
                overlaps.append(RunEvidence.Overlap(a: try string(o, "a"), b: try string(o, "b"),
                                                    jaccard: try double(o, "jaccard"), shared: shared))
            }
        }
        let constant = (try? integers(g, "constant_neurons"))?.reduce(0, +) ?? 0
        return RunEvidence.Rank(statistic: statistic, primaryMetric: primary, rule: try string(g, "rule"),
                                permutations: try int(g, "permutations"), metrics: metrics, layerScores: layerScores,
                                map: RunEvidence.ScoreMap(layers: layers, neuronsPerCell: perCell, cells: cells),
                                overlaps: overlaps, constantNeurons: constant,
                                contrast: try MetricContrast.read(g).map { c in
                                    RunEvidence.Contrast(a: c.a, b: c.b, onlyA: c.onlyA, onlyB: c.onlyB,
                                                         neurons: c.neurons.map {
                                        .init(layer: $0.layer, neuron: $0.neuron,
                                              position: $0.position < positions.count
                                                  ? positions[$0.position] : "\($0.position)",
                                              scoreA: $0.scoreA, scoreB: $0.scoreB, qA: $0.qA, qB: $0.qB)
                                    })
                                })
    }

    func ablate(_ g: HDF5Group) throws -> RunEvidence.Ablate {
        let r = try int(g, "random_sets")
        guard (0...1_000_000).contains(r) else { throw fail(g, "has random_sets \(r), which no run makes") }
        var curves: [RunEvidence.Curve] = []
        for mode in ["zero", "mean", "noise", "amplify"] where g.kind(of: mode) == .group {
            let c = try g.group(mode)
            let x = try column(c, "x"), n = x.count
            let random = try column(c, "random_accuracy", count: n * r)
            func optional(_ values: [Double]) -> [Double?] { values.map { $0.isNaN ? nil : $0 } }
            let rows = (0..<n).map { Array(random[($0 * r)..<(($0 + 1) * r)]) }
            curves.append(RunEvidence.Curve(mode: mode, axis: try string(c, "axis"), fixed: try double(c, "fixed"),
                                            x: x, accuracy: try column(c, "accuracy", count: n),
                                            randomMean: rows.map {
                                                $0.isEmpty ? .nan : $0.reduce(0, +) / Double($0.count)
                                            },
                                            randomLow: rows.map { $0.min() ?? .nan },
                                            randomHigh: rows.map { $0.max() ?? .nan },
                                            pairedP: try column(c, "paired_p", count: n),
                                            empiricalP: try column(c, "empirical_p", count: n),
                                            parametricP: c.kind(of: "parametric_p") == nil ?
                                                [Double?](repeating: nil, count: n) :
                                                optional(try column(c, "parametric_p", count: n)),
                                            z: optional(try column(c, "z", count: n)),
                                            klTask: try column(c, "kl_task", count: n),
                                            klGeneral: optional(try column(c, "kl_general", count: n)),
                                            ciLow: optional(try column(c, "ci_low", count: n)),
                                            ciHigh: optional(try column(c, "ci_high", count: n))))
        }
        return RunEvidence.Ablate(baselineAccuracy: try double(g, "baseline_accuracy"),
                                  baselineMacroF1: try double(g, "baseline_macro_f1"),
                                  testExamples: try int(g, "test_examples"), randomSets: r,
                                  tests: try? string(g, "tests"), curves: curves,
                                  headline: try ablationHeadline(g), score: try? string(g, "score"))
    }

    /// `/ablate`'s `headline_*` attributes, when the archive has them.
    func ablationHeadline(_ g: HDF5Group) throws -> RunEvidence.Headline? {
        guard try g.attributeNames().contains("headline_mode") else { return nil }
        return RunEvidence.Headline(mode: try string(g, "headline_mode"), x: try double(g, "headline_x"),
                                    declared: try int(g, "headline_declared") != 0,
                                    p: try double(g, "headline_p"), test: try string(g, "headline_test"),
                                    significant: try int(g, "headline_significant") != 0)
    }

    func edit(_ g: HDF5Group) throws -> RunEvidence.Edit {
        let neurons = try g.read("neurons", as: Int64.self).shape.first ?? 0
        return RunEvidence.Edit(objective: try string(g, "objective"), selection: try? string(g, "selection"),
                                writeMode: try string(g, "write_mode"), checkpoint: try string(g, "checkpoint"),
                                neurons: neurons, trainableWeights: try int(g, "trainable_weights"),
                                learningRate: try double(g, "learning_rate"), klWeight: try double(g, "kl_weight"),
                                loss: try column(g, "loss"), klPenalty: try column(g, "kl_penalty"))
    }

    func audit(_ g: HDF5Group) throws -> RunEvidence.Audit {
        let names = (try? strings(g, "changed_tensors")) ?? []
        let norms = try column(g, "delta_norm", count: names.count)
        let rows = try integers(g, "changed_rows", count: names.count),
            columns = try integers(g, "changed_columns", count: names.count)
        return RunEvidence.Audit(accuracyBefore: optionalDouble(g, "accuracy_before"),
                                 accuracyAfter: optionalDouble(g, "accuracy_after"),
                                 accuracyIntervalBefore: doubles(g, "accuracy_before_ci"),
                                 accuracyIntervalAfter: doubles(g, "accuracy_after_ci"),
                                 differenceInterval: doubles(g, "accuracy_difference_ci"),
                                 perplexityBefore: optionalDouble(g, "wikitext_perplexity_before"),
                                 perplexityAfter: optionalDouble(g, "wikitext_perplexity_after"),
                                 klGeneral: optionalDouble(g, "kl_general"),
                                 biasBefore: optionalDouble(g, "bias_score_before"),
                                 biasAfter: optionalDouble(g, "bias_score_after"),
                                 biasIntervalBefore: doubles(g, "bias_score_before_ci"),
                                 biasIntervalAfter: doubles(g, "bias_score_after_ci"),
                                 taskExamples: try int(g, "task_examples"),
                                 unchangedTensors: try int(g, "unchanged_tensors"),
                                 changedOutsideMask: try int(g, "changed_weights_outside_mask"),
                                 changedTensors: names.indices.map {
                                     RunEvidence.TensorDelta(name: names[$0], deltaNorm: norms[$0],
                                                             changedRows: rows[$0], changedColumns: columns[$0])
                                 })
    }
}

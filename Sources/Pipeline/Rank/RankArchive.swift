import ActivationStores
import Foundation
import HDF5Kit
import Statistics

/// `/rank` of the evidence archive:
/// - attributes: `statistic` (the selecting one), `rule`, `primary_metric`, `permutations`, `train_rows`, `dev_rows`,
///   `statistics`, `metrics`, `positions`, `layers`, `neurons_per_layer`, `mi_binning`, `excluded_metrics`
///   ("name: reason").
/// - `constant_neurons`: int64 [positions], neurons excluded as constant at each position.
/// - `metrics/<metric>/<statistic>/{score, p_value, q_value}`: float64 [positions, layers × neurons] (NaN: excluded).
/// - `metrics/<metric>/selection` and `metrics/<metric>/top` (the 50 best): `layer`, `neuron`, `position` int64 [k];
///   `score`, `p_value`, `q_value` float64 [k]; the selection also has `ci_low`, `ci_high` (bootstrap 95%,
///   NaN if none),
///   and `top` has `predictivity` [≤ 10] for binary metrics.
/// - `overlap/<i>`: attributes `a`, `b`, `jaccard`; `shared` int64 [n, 2] (layer, neuron).
/// - `contrast` (with `rank.contrast`): see `MetricContrast.write`.
/// `<metric>` is the metric's column name with "/" written as "%2F"; attribute `metric` holds it verbatim.
extension RankStage {
    /// The archive group of a metric: its column name with "%" and "/" escaped.
    public static func groupName(_ metric: String) -> String {
        metric.replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: "/", with: "%2F")
    }

    static func write(_ result: Result, scores: [Int: [NeuronStatistic: (score: [Double], p: [Double])]],
                      qValues: [Int: [NeuronStatistic: [Double]]],
                      header: ActivationStore.Header, excluded: [String: String],
                      statistics: [NeuronStatistic], into group: HDF5Group) throws {
        try group.setAttribute("statistic", .string(result.statistic.rawValue))
        try group.setAttribute("rule", .string(result.rule.description))
        try group.setAttribute("primary_metric", .string(result.primaryMetric))
        try group.setAttribute("permutations", .int(Int64(result.permutations)))
        try group.setAttribute("train_rows", .int(Int64(result.trainRows)))
        try group.setAttribute("dev_rows", .int(Int64(result.devRows)))
        try group.setAttribute("statistics", .strings(statistics.map(\.rawValue)))
        try group.setAttribute("metrics", .strings(header.metrics))
        try group.setAttribute("positions", .strings(header.positions))
        try group.setAttribute("layers", .ints(header.layers.map(Int64.init)))
        try group.setAttribute("neurons_per_layer", .int(Int64(header.neuronsPerLayer)))
        try group.setAttribute("mi_binning", .string(
            "activation: \(MutualInformation.binCount(examples: result.trainRows)) equal-frequency bins by rank " +
            "(min(16, max(2, floor(n^(1/3))))); metric: one bin per value if at most 16 values, " +
            "else the same rule; plug-in estimate in nats; p-value by the G-test"))
        try group.setAttribute("excluded_metrics",
                               .strings(excluded.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }))
        try group.write("constant_neurons", header.positions.map { Int64(result.constantNeurons[$0] ?? 0) },
                        shape: [header.positions.count])

        let metricsGroup = try group.createGroup("metrics")
        let shape = [header.positions.count, header.columns]
        for (m, name) in header.metrics.enumerated() {
            let g = try metricsGroup.createGroup(groupName(name))
            try g.setAttribute("metric", .string(name))
            if let reason = excluded[name] { try g.setAttribute("excluded", .string(reason)) }
            for (statistic, table) in scores[m] ?? [:] {
                let s = try g.createGroup(statistic.rawValue)
                try s.write("score", table.score, shape: shape, chunks: [1, 4096], compression: 1)
                try s.write("p_value", table.p, shape: shape, chunks: [1, 4096], compression: 1)
                try s.write("q_value", qValues[m]![statistic]!, shape: shape, chunks: [1, 4096], compression: 1)
            }
            guard let report = result.reports.first(where: { $0.metric == name }), report.excluded == nil else {
                continue
            }
            let selection = try writeNeurons(report.selection, into: try g.createGroup("selection"))
            try selection.write("ci_low", report.intervals.map { $0?.low ?? .nan }, shape: [report.intervals.count])
            try selection.write("ci_high", report.intervals.map { $0?.high ?? .nan }, shape: [report.intervals.count])
            let top = try writeNeurons(report.top, into: try g.createGroup("top"))
            if let p = report.topPredictivity { try top.write("predictivity", p, shape: [p.count]) }
        }
        let overlap = try group.createGroup("overlap")
        for (i, o) in result.overlaps.enumerated() {
            let g = try overlap.createGroup(String(i))
            try g.setAttribute("a", .string(o.a))
            try g.setAttribute("b", .string(o.b))
            try g.setAttribute("jaccard", .double(o.jaccard))
            try g.write("shared", o.shared.flatMap { [Int64($0.layer), Int64($0.neuron)] }, shape: [o.shared.count, 2])
        }
        try result.contrast?.write(into: group)
    }

    @discardableResult
    static func writeNeurons(_ neurons: [ScoredNeuron], into g: HDF5Group) throws -> HDF5Group {
        let k = neurons.count
        try g.write("layer", neurons.map { Int64($0.layer) }, shape: [k])
        try g.write("neuron", neurons.map { Int64($0.neuron) }, shape: [k])
        try g.write("position", neurons.map { Int64($0.position) }, shape: [k])
        try g.write("score", neurons.map(\.score), shape: [k])
        try g.write("p_value", neurons.map(\.pValue), shape: [k])
        try g.write("q_value", neurons.map(\.qValue), shape: [k])
        return g
    }

    static func readNeurons(_ g: HDF5Group) throws -> [ScoredNeuron] {
        let layer = try g.read("layer", as: Int64.self).values, neuron = try g.read("neuron", as: Int64.self).values
        let position = try g.read("position", as: Int64.self).values
        let score = try g.read("score", as: Double.self).values, p = try g.read("p_value", as: Double.self).values
        let q = try g.read("q_value", as: Double.self).values
        guard [neuron.count, position.count, score.count, p.count, q.count].allSatisfy({ $0 == layer.count }) else {
            throw CollectError.corruptStore(path: g.fileName, detail: "\(g.path) has datasets of different lengths")
        }
        return layer.indices.map { ScoredNeuron(layer: Int(layer[$0]), neuron: Int(neuron[$0]),
                                                position: Int(position[$0]),
                                                score: score[$0], pValue: p[$0], qValue: q[$0]) }
    }

    /// The position names of a ranking, in the order its neurons' `position` indices count.
    public static func positions(_ archive: String) throws -> [String] {
        let file = try EvidenceArchive.open(URL(fileURLWithPath: archive))
        guard case .strings(let positions) = try file.root.group("rank").attribute("positions") else { return [] }
        return positions
    }

    /// Reads a finished rank stage back from the archive.
    public static func load(_ url: URL, reused: Bool = true) throws -> Result {
        let file = try EvidenceArchive.open(url)
        let group = try file.root.group("rank")
        func string(_ name: String) throws -> String {
            guard case .string(let v) = try group.attribute(name) else {
                throw CollectError.corruptStore(path: url.path, detail: "/rank attribute \(name) is not a string")
            }
            return v
        }
        func int(_ name: String) throws -> Int {
            guard case .int(let v) = try group.attribute(name) else {
                throw CollectError.corruptStore(path: url.path, detail: "/rank attribute \(name) is not an integer")
            }
            return Int(v)
        }
        guard case .strings(let metrics) = try group.attribute("metrics"),
              case .strings(let positions) = try group.attribute("positions"),
              let statistic = NeuronStatistic(rawValue: try string("statistic")) else {
            throw CollectError.corruptStore(path: url.path, detail: "/rank is incomplete")
        }
        let constant = try group.read("constant_neurons", as: Int64.self).values
        var reports: [MetricReport] = []
        let metricsGroup = try group.group("metrics")
        for name in metrics {
            let g = try metricsGroup.group(groupName(name))
            if case .string(let reason)? = try? g.attribute("excluded") {
                reports.append(MetricReport(metric: name, excluded: reason, top: [], selection: [],
                                            intervals: [], topPredictivity: nil))
                continue
            }
            let selectionGroup = try g.group("selection"), topGroup = try g.group("top")
            let low = try selectionGroup.read("ci_low", as: Double.self).values,
                high = try selectionGroup.read("ci_high", as: Double.self).values
            let intervals: [(low: Double, high: Double)?] = zip(low, high).map { $0.isNaN ? nil : ($0, $1) }
            let predictivity = topGroup.kind(of: "predictivity") == .dataset ?
                try topGroup.read("predictivity", as: Double.self).values : nil
            reports.append(MetricReport(metric: name, excluded: nil, top: try readNeurons(topGroup),
                                        selection: try readNeurons(selectionGroup),
                                        intervals: intervals, topPredictivity: predictivity))
        }
        var overlaps: [(a: String, b: String, jaccard: Double, shared: [NeuronKey])] = []
        let overlapGroup = try group.group("overlap")
        for child in try overlapGroup.children().sorted(by: { (Int($0) ?? 0) < (Int($1) ?? 0) }) {
            let g = try overlapGroup.group(child)
            guard case .string(let a) = try g.attribute("a"), case .string(let b) = try g.attribute("b"),
                  case .double(let j) = try g.attribute("jaccard") else { continue }
            let shared = try g.read("shared", as: Int64.self).values
            overlaps.append((a, b, j, stride(from: 0, to: shared.count, by: 2).map {
                NeuronKey(layer: Int(shared[$0]), neuron: Int(shared[$0 + 1]))
            }))
        }
        let ruleText = try string("rule")
        let rule: SelectionRule
        if ruleText.hasPrefix("top "), let k = Int(ruleText.dropFirst(4)) { rule = .topK(k) }
        else if ruleText.hasPrefix("q < "), let q = Double(ruleText.dropFirst(4)) { rule = .qBelow(q) }
        else { rule = .perLayerFraction((Double(ruleText.dropFirst(4).prefix { $0 != "%" }) ?? 0) / 100) }
        return Result(statistic: statistic, rule: rule, primaryMetric: try string("primary_metric"), reports: reports,
                      constantNeurons: Dictionary(uniqueKeysWithValues: zip(positions, constant.map(Int.init))),
                      overlaps: overlaps,
                      contrast: try MetricContrast.read(group), permutations: try int("permutations"),
                      trainRows: try int("train_rows"), devRows: try int("dev_rows"),
                      archive: url.path, reused: reused)
    }
}

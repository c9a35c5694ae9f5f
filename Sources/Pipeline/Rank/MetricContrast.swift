import Foundation
import HDF5Kit
import Statistics

/// Neurons that track one metric more than another (`rank.contrast: [a, b]`), e.g. an arithmetic
/// shortcut heuristic more than correctness: the neurons with the largest |score for a| − |score for b|
/// at the same position, under the selecting statistic.
public struct MetricContrast: Sendable, Equatable {
    public struct Neuron: Sendable, Equatable {
        public var layer: Int, neuron: Int, position: Int
        public var scoreA: Double, scoreB: Double
        public var qA: Double, qB: Double
        public var margin: Double { abs(scoreA) - abs(scoreB) }
    }

    public var a: String
    public var b: String
    /// The neurons with the largest positive margin, largest first (at most `count`).
    public var neurons: [Neuron]
    /// Neurons (at their best position) significant for a at q < 0.05 and not for b, and the reverse.
    public var onlyA: Int
    public var onlyB: Int

    /// - tables: [positions, columns] score and q-value tables of the two metrics.
    public static func compute(a: String, b: String, scoreA: [Double], qA: [Double], scoreB: [Double], qB: [Double],
                        positions: Int, columns: Int, layers: [Int], neuronsPerLayer: Int,
                        count: Int = 20) -> MetricContrast {
        var best: [Neuron] = []
        var onlyA = 0, onlyB = 0
        for j in 0..<columns {
            var chosen: Neuron?
            var significantA = false, significantB = false
            for p in 0..<positions {
                let at = p * columns + j
                guard !scoreA[at].isNaN, !scoreB[at].isNaN else { continue }
                significantA = significantA || qA[at] < 0.05
                significantB = significantB || qB[at] < 0.05
                let candidate = Neuron(layer: layers[j / neuronsPerLayer], neuron: j % neuronsPerLayer, position: p,
                                       scoreA: scoreA[at], scoreB: scoreB[at], qA: qA[at], qB: qB[at])
                if chosen == nil || candidate.margin > chosen!.margin { chosen = candidate }
            }
            if significantA && !significantB { onlyA += 1 }
            if significantB && !significantA { onlyB += 1 }
            if let chosen, chosen.margin > 0 { best.append(chosen) }
        }
        best.sort { $0.margin != $1.margin ? $0.margin > $1.margin : ($0.layer, $0.neuron) < ($1.layer, $1.neuron) }
        return MetricContrast(a: a, b: b, neurons: Array(best.prefix(count)), onlyA: onlyA, onlyB: onlyB)
    }

    /// `/rank/contrast`: attributes `a`, `b`, `only_a`, `only_b`; `layer`, `neuron`, `position` int64 [n];
    /// `score_a`, `score_b`, `q_a`, `q_b` float64 [n].
    func write(into group: HDF5Group) throws {
        let g = try group.createGroup("contrast")
        try g.setAttribute("a", .string(a))
        try g.setAttribute("b", .string(b))
        try g.setAttribute("only_a", .int(Int64(onlyA)))
        try g.setAttribute("only_b", .int(Int64(onlyB)))
        let n = neurons.count
        try g.write("layer", neurons.map { Int64($0.layer) }, shape: [n])
        try g.write("neuron", neurons.map { Int64($0.neuron) }, shape: [n])
        try g.write("position", neurons.map { Int64($0.position) }, shape: [n])
        try g.write("score_a", neurons.map(\.scoreA), shape: [n])
        try g.write("score_b", neurons.map(\.scoreB), shape: [n])
        try g.write("q_a", neurons.map(\.qA), shape: [n])
        try g.write("q_b", neurons.map(\.qB), shape: [n])
    }

    public static func read(_ group: HDF5Group) throws -> MetricContrast? {
        guard group.kind(of: "contrast") == .group else { return nil }
        let g = try group.group("contrast")
        guard case .string(let a) = try g.attribute("a"), case .string(let b) = try g.attribute("b"),
              case .int(let onlyA) = try g.attribute("only_a"), case .int(let onlyB) = try g.attribute("only_b") else {
            throw CollectError.corruptStore(path: g.fileName, detail: "/rank/contrast is missing its attributes")
        }
        let layer = try g.read("layer", as: Int64.self).values, neuron = try g.read("neuron", as: Int64.self).values
        let position = try g.read("position", as: Int64.self).values
        let sa = try g.read("score_a", as: Double.self).values, sb = try g.read("score_b", as: Double.self).values
        let qa = try g.read("q_a", as: Double.self).values, qb = try g.read("q_b", as: Double.self).values
        guard [neuron.count, position.count, sa.count, sb.count,
               qa.count, qb.count].allSatisfy({ $0 == layer.count }) else {
            throw CollectError.corruptStore(path: g.fileName,
                                            detail: "/rank/contrast has datasets of different lengths")
        }
        return MetricContrast(a: a, b: b, neurons: layer.indices.map {
            Neuron(layer: Int(layer[$0]), neuron: Int(neuron[$0]), position: Int(position[$0]),
                   scoreA: sa[$0], scoreB: sb[$0], qA: qa[$0], qB: qb[$0])
        }, onlyA: Int(onlyA), onlyB: Int(onlyB))
    }
}

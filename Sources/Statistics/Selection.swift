/// One neuron's standing for one metric and statistic: its best position and the scores there.
public struct ScoredNeuron: Sendable, Equatable {
    public var layer: Int
    public var neuron: Int
    /// Index of the position (in the collection's position list) where |score| is largest.
    public var position: Int
    /// The signed statistic at that position (r, ρ, MI, or predictivity).
    public var score: Double
    public var pValue: Double
    public var qValue: Double

    public init(layer: Int, neuron: Int, position: Int, score: Double, pValue: Double, qValue: Double) {
        self.layer = layer; self.neuron = neuron; self.position = position
        self.score = score; self.pValue = pValue; self.qValue = qValue
    }

    public var key: NeuronKey { NeuronKey(layer: layer, neuron: neuron) }
}

public struct NeuronKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var layer: Int, neuron: Int
    public init(layer: Int, neuron: Int) { self.layer = layer; self.neuron = neuron }
    public static func < (a: NeuronKey, b: NeuronKey) -> Bool { (a.layer, a.neuron) < (b.layer, b.neuron) }
    public var description: String { "L\(layer).\(neuron)" }
}

/// How neurons are selected from their scores. Ties in |score| are broken by layer, then neuron, so a
/// selection never depends on the order the scores were computed in.
public enum SelectionRule: Sendable, Equatable, CustomStringConvertible {
    /// The k neurons with the largest |score| over the whole model.
    case topK(Int)
    /// The top fraction of each layer, by |score| (Wang et al.'s rule), at least one per layer.
    case perLayerFraction(Double)
    /// Every neuron whose q-value is below the threshold.
    case qBelow(Double)

    public var description: String {
        switch self {
        case .topK(let k): "top \(k)"
        case .perLayerFraction(let f): "top \(f * 100)% of each layer"
        case .qBelow(let q): "q < \(q)"
        }
    }

    static func before(_ a: ScoredNeuron, _ b: ScoredNeuron) -> Bool {
        let x = abs(a.score), y = abs(b.score)
        return x != y ? x > y : a.key < b.key
    }

    /// The selected neurons, strongest first. NaN scores (excluded neurons) are never selected.
    public func select(_ scored: [ScoredNeuron]) -> [ScoredNeuron] {
        let valid = scored.filter { !$0.score.isNaN }
        switch self {
        case .topK(let k):
            return Array(valid.sorted(by: Self.before).prefix(max(0, k)))
        case .perLayerFraction(let fraction):
            var chosen: [ScoredNeuron] = []
            for (_, group) in Dictionary(grouping: valid, by: \.layer) {
                let keep = max(1, Int((Double(group.count) * fraction).rounded()))
                chosen += group.sorted(by: Self.before).prefix(keep)
            }
            return chosen.sorted(by: Self.before)
        case .qBelow(let threshold):
            return valid.filter { $0.qValue < threshold }.sorted(by: Self.before)
        }
    }
}

/// The overlap of two selections: Jaccard's index |A ∩ B| / |A ∪ B| and the shared neurons, sorted.
public func selectionOverlap(_ a: [ScoredNeuron], _ b: [ScoredNeuron]) -> (jaccard: Double, shared: [NeuronKey]) {
    let x = Set(a.map(\.key)), y = Set(b.map(\.key))
    let union = x.union(y).count
    return (union == 0 ? 0 : Double(x.intersection(y).count) / Double(union), x.intersection(y).sorted())
}

/// A set of FFN neurons, by layer, and its expansion into the gradient masks of the weights they own.
public struct NeuronSelection: Sendable, Equatable, Codable {
    /// layer → neuron ids in that layer
    public var neurons: [Int: [Int]]

    public init(_ neurons: [Int: [Int]]) { self.neurons = neurons }

    public var count: Int { neurons.values.reduce(0) { $0 + Set($1).count } }
}

/// The parameters one layer's FFN neurons own, by how each is sliced.
///
/// - Llama/Gemma (SwiGLU/GeGLU): rows of W_gate and W_up, columns of W_down.
/// - BERT, GPT-2, NeoX: rows of W_in and entries of b_in, columns of W_out.
/// - Phi-3's fused gate_up: rows i and F + i, columns of W_down.
public struct FFNNeuronOwnership: Sendable {
    public var rowOwned: [String]      // [F, C] weights: neuron i owns row i
    public var columnOwned: [String]   // [C, F] weights: neuron i owns column i
    public var entryOwned: [String]    // [F] biases: neuron i owns entry i
    public var halvesOwned: [String]   // [2F, C] fused gate_up (Phi-3): neuron i owns rows i and F + i

    public init(rowOwned: [String], columnOwned: [String], entryOwned: [String] = [], halvesOwned: [String] = []) {
        self.rowOwned = rowOwned
        self.columnOwned = columnOwned
        self.entryOwned = entryOwned
        self.halvesOwned = halvesOwned
    }
}

extension NeuronSelection {
    /// The gradient mask of every parameter the selected neurons own.
    /// - parameterShapes: every parameter of the model by name.
    /// - layers: the model's layer count; `ownership(l)` names layer l's FFN parameters.
    /// - Throws: `GradientMaskError` naming the missing layer, parameter or out-of-range neuron.
    public func gradientMasks(
        parameterShapes: [String: [Int]], layers: Int, ownership: (Int) -> FFNNeuronOwnership
    ) throws(GradientMaskError) -> [String: GradientMask] {
        var masks: [String: GradientMask] = [:]
        for layer in neurons.keys.sorted() {
            let ids = neurons[layer]!
            guard layer >= 0 && layer < layers else { throw .layerOutOfRange(layer: layer, layers: layers) }
            let owned = ownership(layer)
            let slices: [(String, GradientMask.Axis)] =
                owned.rowOwned.map { ($0, .rows) } + owned.columnOwned.map { ($0, .columns) } +
                    owned.entryOwned.map { ($0, .rows) }
            for (name, axis) in slices {
                guard let shape = parameterShapes[name] else {
                    throw .unknownParameter(name: name, known: Array(parameterShapes.keys))
                }
                masks[name] = try GradientMask(parameter: name, shape: shape, axis: axis, indices: ids)
            }
            for name in owned.halvesOwned {
                guard let shape = parameterShapes[name] else {
                    throw .unknownParameter(name: name, known: Array(parameterShapes.keys))
                }
                let half = shape[0] / 2
                // A neuron id must name a row of the first half; then it owns that row and its twin.
                if let bad = ids.first(where: { $0 < 0 || $0 >= half }) {
                    throw .indexOutOfRange(parameter: name, axis: .rows, index: bad, size: half)
                }
                masks[name] = try GradientMask(parameter: name, shape: shape, axis: .rows,
                                               indices: ids + ids.map { $0 + half })
            }
        }
        return masks
    }
}

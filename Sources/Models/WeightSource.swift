import Autodiff
import TensorCore

/// Loads each expected tensor, checking its shape, and refuses files with tensors the model does not use.
struct WeightSource {
    let shapes: [String: [Int]]
    let load: (String) throws -> [Float]
    /// The tensor left in its file's encoding, where the source keeps it so; nil to load it as Float32.
    var encoded: (String) -> (any EncodedMatrix)? = { _ in nil }

    func tensor(_ name: String, _ shape: [Int]) throws -> [Float] {
        guard let found = shapes[name] else { throw ModelError.missingTensor(name) }
        guard found == shape else { throw ModelError.wrongShape(tensor: name, expected: shape, found: found) }
        return try load(name)
    }

    func checkNoExtras(_ used: Set<String>, ignoring ignored: Set<String> = []) throws {
        let extra = shapes.keys.filter { !used.contains($0) && !ignored.contains($0) }.sorted()
        if !extra.isEmpty { throw ModelError.unexpectedTensors(extra) }
    }

    /// The tensor as a model parameter: trainable in the slices `mask` names, frozen without one.
    func parameter(_ name: String, _ shape: [Int], mask: GradientMask?) throws -> Variable {
        if let matrix = encoded(name) {
            guard matrix.shape == shape else {
                throw ModelError.wrongShape(tensor: name, expected: shape, found: matrix.shape)
            }
            return try Variable(encoded: matrix, mask: mask, name: name)
        }
        let value = Tensor(shape: shape, scalars: try tensor(name, shape))
        return try mask.map { try Variable(value, mask: $0, name: name) } ?? Variable(value, name: name)
    }
}

extension WeightSource {
    /// Weights given as named tensors (tiny test models, or weights built in memory).
    init(tensors: [String: TensorCore.Tensor]) {
        self.init(shapes: tensors.mapValues(\.shape), load: { name in tensors[name]!.scalars })
    }
}

extension DecoderModel {
    /// A model from named tensors (GGUF names), verified like a checkpoint.
    public convenience init(config: DecoderConfig, tensors: [String: TensorCore.Tensor],
                            masks: [String: GradientMask] = [:]) throws {
        try self.init(config: config, weights: WeightSource(tensors: tensors), masks: masks)
    }
}

extension BertModel {
    /// A model from named tensors (Hugging Face names), verified like a checkpoint.
    public convenience init(config: BertConfig, tensors: [String: TensorCore.Tensor],
                            masks: [String: GradientMask] = [:]) throws {
        try self.init(config: config, weights: WeightSource(tensors: tensors), masks: masks)
    }
}

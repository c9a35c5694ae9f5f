/// Why a model could not be built from a checkpoint, naming what is wrong and what to do.
public enum ModelError: Error, Equatable, CustomStringConvertible {
    case unknownArchitecture(String, supported: [String])
    case missingMetadata(key: String)
    case badMetadata(key: String, detail: String)
    case missingTensor(String)
    case unexpectedTensors([String])
    case wrongShape(tensor: String, expected: [Int], found: [Int])
    case tokenOutOfRange(id: Int32, vocabulary: Int)
    case emptyInput
    case contextTooLong(tokens: Int, limit: Int)

    public var description: String {
        switch self {
        case .unknownArchitecture(let name, let supported):
            return "architecture '\(name)' is not supported; Scalpel runs \(supported.joined(separator: ", ")). Use a checkpoint of one of these families."
        case .missingMetadata(let key): return "the checkpoint lacks '\(key)', which the model needs; it is incomplete or converted by an old tool."
        case .badMetadata(let key, let detail): return "'\(key)' is invalid: \(detail)."
        case .missingTensor(let name): return "the checkpoint lacks tensor '\(name)'; it is incomplete or of another architecture."
        case .unexpectedTensors(let names): return "the checkpoint has tensors the model does not use: \(names.prefix(5).joined(separator: ", "))\(names.count > 5 ? " …" : ""); it is of another variant of the architecture."
        case .wrongShape(let name, let expected, let found): return "tensor '\(name)' has shape \(found), but the config implies \(expected)."
        case .tokenOutOfRange(let id, let vocabulary): return "token id \(id) is outside the vocabulary (0..<\(vocabulary))."
        case .emptyInput: return "the input has no tokens."
        case .contextTooLong(let tokens, let limit): return "\(tokens) tokens exceed the model's context of \(limit)."
        }
    }
}

/// Loads each expected tensor, checking its shape, and refuses files with tensors the model does not use.
struct WeightSource {
    let shapes: [String: [Int]]
    let load: (String) throws -> [Float]

    func tensor(_ name: String, _ shape: [Int]) throws -> [Float] {
        guard let found = shapes[name] else { throw ModelError.missingTensor(name) }
        guard found == shape else { throw ModelError.wrongShape(tensor: name, expected: shape, found: found) }
        return try load(name)
    }

    func checkNoExtras(_ used: Set<String>, ignoring ignored: Set<String> = []) throws {
        let extra = shapes.keys.filter { !used.contains($0) && !ignored.contains($0) }.sorted()
        if !extra.isEmpty { throw ModelError.unexpectedTensors(extra) }
    }
}

extension WeightSource {
    /// Weights given as named tensors (tiny test models, or weights built in memory).
    init(tensors: [String: TensorCore.Tensor]) {
        self.init(shapes: tensors.mapValues(\.shape)) { name in tensors[name]!.scalars }
    }
}

extension LlamaModel {
    /// A model from named tensors (GGUF names), verified like a checkpoint.
    public convenience init(config: LlamaConfig, tensors: [String: TensorCore.Tensor], masks: [String: GradientMask] = [:]) throws {
        try self.init(config: config, weights: WeightSource(tensors: tensors), masks: masks)
    }
}

extension BertModel {
    /// A model from named tensors (Hugging Face names), verified like a checkpoint.
    public convenience init(config: BertConfig, tensors: [String: TensorCore.Tensor], masks: [String: GradientMask] = [:]) throws {
        try self.init(config: config, weights: WeightSource(tensors: tensors), masks: masks)
    }
}

import Autodiff
import TensorCore

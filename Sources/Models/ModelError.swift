/// Why a model could not be built from a checkpoint, naming what is wrong and what to do.
public enum ModelError: Error, Equatable, CustomStringConvertible {
    case unknownArchitecture(String, supported: [String])
    case missingMetadata(key: String)
    case badMetadata(key: String, detail: String)
    case unsupportedSetting(key: String, detail: String)
    case missingTensor(String)
    case unexpectedTensors([String])
    case wrongShape(tensor: String, expected: [Int], found: [Int])
    case tokenOutOfRange(id: Int32, vocabulary: Int)
    case emptyInput
    case contextTooLong(tokens: Int, limit: Int)
    case nonFiniteLogits(position: Int)

    public var description: String {
        switch self {
        case .unknownArchitecture(let name, let supported):
            return "architecture '\(name)' is not supported; Scalpel runs \(supported.joined(separator: ", ")). " +
                "Use a checkpoint of one of these families."
        case .missingMetadata(let key):
            return "the checkpoint lacks '\(key)', which the model needs; it is incomplete or converted by an old tool."
        case .badMetadata(let key, let detail): return "'\(key)' is invalid: \(detail)."
        case .unsupportedSetting(let key, let detail): return "'\(key)' is not supported: \(detail)."
        case .missingTensor(let name):
            return "the checkpoint lacks tensor '\(name)'; it is incomplete or of another architecture."
        case .unexpectedTensors(let names):
            return "the checkpoint has tensors the model does not use: " +
                "\(names.prefix(5).joined(separator: ", "))\(names.count > 5 ? " …" : ""); " +
                "it is of another variant of the architecture."
        case .wrongShape(let name, let expected, let found):
            return "tensor '\(name)' has shape \(found), but the config implies \(expected)."
        case .tokenOutOfRange(let id, let vocabulary):
            return "token id \(id) is outside the vocabulary (0..<\(vocabulary))."
        case .emptyInput: return "the input has no tokens."
        case .contextTooLong(let tokens, let limit): return "\(tokens) tokens exceed the model's context of \(limit)."
        case .nonFiniteLogits(let position):
            return "the logits at position \(position) are NaN or infinite: " +
                "an intervention's strength, or the weights, overflow Float32. " +
                "Lower the strength (amplifications beyond about 1e4 overflow), or check the checkpoint."
        }
    }
}

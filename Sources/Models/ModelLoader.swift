import AtomicFiles
import Autodiff
import Checkpoints
import Foundation
import Tokenizers

/// A model ready to run, with its tokenizer.
public enum LanguageModel: @unchecked Sendable {
    case llama(LlamaModel)
    case bert(BertModel)

    public var parameters: [String: Variable] {
        switch self {
        case .llama(let m): m.parameters
        case .bert(let m): m.parameters
        }
    }

    public var layers: Int {
        switch self {
        case .llama(let m): m.config.layers
        case .bert(let m): m.config.layers
        }
    }

    public var ffnWidth: Int {
        switch self {
        case .llama(let m): m.config.intermediateSize
        case .bert(let m): m.config.intermediateSize
        }
    }

    /// The parameters FFN neurons of a layer own, for gradient masks.
    public func ownership(_ layer: Int) -> FFNNeuronOwnership {
        switch self {
        case .llama: LlamaModel.ownership(layer)
        case .bert: BertModel.ownership(layer)
        }
    }
}

public struct LoadedModel: @unchecked Sendable {
    public let path: String
    public let architecture: String
    public let model: LanguageModel
    public let tokenizer: any Tokenizer
    /// The recognised chat template, or why there is none (absent, or a template Scalpel does not know).
    public let chatTemplate: Result<ChatTemplate, TokenizerError>
}

public enum ModelLoader {
    public static let supportedArchitectures = ["llama", "gemma3", "bert"]

    /// Loads a checkpoint (path or alias), dequantizing every weight to Float32 once.
    /// - neurons: FFN neurons to make trainable; their owned rows and columns get gradient masks.
    public static func load(_ model: String, trainableNeurons neurons: NeuronSelection? = nil) throws -> LoadedModel {
        let (weightsPath, mapped, format) = try CheckpointFormat.open(try ModelAliases.resolve(model))
        switch format {
        case .gguf:
            let file = try CheckpointFormat.reading(weightsPath) { try GGUFFile(file: mapped) }
            guard let architecture = file.metadata["general.architecture"]?.string else {
                throw UserFileError(path: weightsPath, reason: "\(ModelError.missingMetadata(key: "general.architecture"))")
            }
            let shapes = Dictionary(uniqueKeysWithValues: file.tensors.map { ($0.name, $0.shape) })
            let source = WeightSource(shapes: shapes) { try file.dequantized($0) }
            switch architecture {
            case "llama", "gemma3":
                let config = try CheckpointFormat.reading(weightsPath) {
                    try LlamaConfig(gguf: file.metadata, tensorShapes: shapes, architecture: architecture)
                }
                let masks = try neurons?.gradientMasks(parameterShapes: shapes, layers: config.layers, ownership: LlamaModel.ownership) ?? [:]
                let llama = try LlamaModel(config: config, weights: source, masks: masks)
                let tokenizer = try TokenizerLoader.load(gguf: file.metadata)
                return LoadedModel(path: weightsPath, architecture: architecture, model: .llama(llama), tokenizer: tokenizer,
                                   chatTemplate: TokenizerLoader.chatTemplateResult(gguf: file.metadata))
            default:
                throw ModelError.unknownArchitecture(architecture, supported: supportedArchitectures)
            }
        case .safetensors:
            let file = try CheckpointFormat.reading(weightsPath) { try SafetensorsFile(file: mapped) }
            let folder = URL(fileURLWithPath: weightsPath).deletingLastPathComponent()
            let configFile = try HuggingFaceConfig(folder: folder.path)
            guard configFile.modelType == "bert" else {
                throw ModelError.unknownArchitecture(configFile.modelType, supported: supportedArchitectures)
            }
            let config = try configFile.decode(BertConfig.self)
            let shapes = Dictionary(uniqueKeysWithValues: file.tensors.map { ($0.name, $0.shape) })
            let source = WeightSource(shapes: shapes) { try file.floats($0) }
            let masks = try neurons?.gradientMasks(parameterShapes: shapes, layers: config.layers, ownership: BertModel.ownership) ?? [:]
            let bert = try BertModel(config: config, weights: source, masks: masks)
            let tokenizerFile = folder.appendingPathComponent("tokenizer.json")
            let tokenizer = try CheckpointFormat.reading(tokenizerFile.path) { try TokenizerLoader.load(tokenizerJSON: tokenizerFile) }
            return LoadedModel(path: weightsPath, architecture: "bert", model: .bert(bert), tokenizer: tokenizer, chatTemplate: .failure(.noChatTemplate))
        }
    }
}

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
            let file = try GGUFFile(file: mapped)
            let architecture = file.metadata["general.architecture"]?.string ?? "unknown"
            let shapes = Dictionary(uniqueKeysWithValues: file.tensors.map { ($0.name, $0.shape) })
            let source = WeightSource(shapes: shapes) { try file.dequantized($0) }
            switch architecture {
            case "llama", "gemma3":
                let config = try LlamaConfig(gguf: file.metadata, tensorShapes: shapes, architecture: architecture)
                let masks = try neurons?.gradientMasks(parameterShapes: shapes, layers: config.layers, ownership: LlamaModel.ownership) ?? [:]
                let llama = try LlamaModel(config: config, weights: source, masks: masks)
                let tokenizer = try TokenizerLoader.load(gguf: file.metadata)
                return LoadedModel(path: weightsPath, architecture: architecture, model: .llama(llama), tokenizer: tokenizer,
                                   chatTemplate: TokenizerLoader.chatTemplateResult(gguf: file.metadata))
            default:
                throw ModelError.unknownArchitecture(architecture, supported: supportedArchitectures)
            }
        case .safetensors:
            let file = try SafetensorsFile(file: mapped)
            let folder = URL(fileURLWithPath: weightsPath).deletingLastPathComponent()
            let configURL = folder.appendingPathComponent("config.json")
            guard let data = FileManager.default.contents(atPath: configURL.path) else { throw ModelError.missingMetadata(key: configURL.path) }
            let type = (try? JSONSerialization.jsonObject(with: data) as? [String: Any])?["model_type"] as? String ?? "unknown"
            guard type == "bert" else { throw ModelError.unknownArchitecture(type, supported: supportedArchitectures) }
            let config: BertConfig
            do { config = try JSONDecoder().decode(BertConfig.self, from: data) } catch {
                throw ModelError.badMetadata(key: configURL.path, detail: "\(error)")
            }
            let shapes = Dictionary(uniqueKeysWithValues: file.tensors.map { ($0.name, $0.shape) })
            let source = WeightSource(shapes: shapes) { try file.floats($0) }
            let masks = try neurons?.gradientMasks(parameterShapes: shapes, layers: config.layers, ownership: BertModel.ownership) ?? [:]
            let bert = try BertModel(config: config, weights: source, masks: masks)
            let tokenizer = try TokenizerLoader.load(tokenizerJSON: folder.appendingPathComponent("tokenizer.json"))
            return LoadedModel(path: weightsPath, architecture: "bert", model: .bert(bert), tokenizer: tokenizer, chatTemplate: .failure(.noChatTemplate))
        }
    }
}

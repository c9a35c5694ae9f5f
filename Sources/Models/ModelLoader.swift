import AtomicFiles
import Autodiff
import Checkpoints
import Foundation
import Tokenizers

/// A model ready to run, with its tokenizer.
public enum LanguageModel: @unchecked Sendable {
    /// Every decoder family, described by its `DecoderConfig`.
    case decoder(DecoderModel)
    case bert(BertModel)

    public var parameters: [String: Variable] {
        switch self {
        case .decoder(let m): m.parameters
        case .bert(let m): m.parameters
        }
    }

    public var layers: Int {
        switch self {
        case .decoder(let m): m.config.layers
        case .bert(let m): m.config.layers
        }
    }

    public var ffnWidth: Int {
        switch self {
        case .decoder(let m): m.config.intermediateSize
        case .bert(let m): m.config.intermediateSize
        }
    }

    /// The parameters FFN neurons of a layer own, for gradient masks.
    public func ownership(_ layer: Int) -> FFNNeuronOwnership {
        switch self {
        case .decoder(let m): m.config.ownership(layer)
        case .bert: BertModel.ownership(layer)
        }
    }
}

public struct LoadedModel: @unchecked Sendable {
    public let path: String
    /// The GGUF architecture, or the folder's `model_type`.
    public let architecture: String
    public let model: LanguageModel
    public let tokenizer: any Tokenizer
    /// The recognised chat template, or why there is none (absent, or a template Scalpel does not know).
    public let chatTemplate: Result<ChatTemplate, TokenizerError>
    /// Where the weights live: a GGUF's stay as stored unless asked otherwise; other formats are Float32.
    public var storage: WeightStorage = .float32
}

/// Where a GGUF's weights live while a model runs.
public enum WeightStorage: String, Sendable, CaseIterable {
    /// Compact tensors (F16, BF16, the quantized types) stay in the memory-mapped file, decoded a panel
    /// at a time by each product; F32 tensors and norms are copied.
    case asStored = "stored"
    /// Every tensor decoded to Float32 at load: the reference the stored path is checked against.
    case float32

    /// `SCALPEL_WEIGHTS=stored|float32`, for comparing the two on any command; `stored` when unset.
    public static func fromEnvironment() throws -> WeightStorage {
        guard let text = ProcessInfo.processInfo.environment["SCALPEL_WEIGHTS"], !text.isEmpty else { return .asStored }
        guard let storage = WeightStorage(rawValue: text) else {
            throw UserFileError(
                path: "SCALPEL_WEIGHTS",
                reason: "is '\(text)'; it takes stored (weights kept in the file's format, the default) " +
                    "or float32 (every weight decoded at load)")
        }
        return storage
    }
}

public enum ModelLoader {
    public static var supportedArchitectures: [String] { DecoderFamily.all.map(\.family.rawValue) + ["bert"] }

    /// Loads a checkpoint (alias, GGUF file, safetensors file or Hugging Face folder).
    /// - neurons: FFN neurons to make trainable; their owned rows and columns get gradient masks.
    /// - storage: a GGUF's compact weights stay in the file's encoding (`asStored`), or are decoded to
    ///   Float32 once (`float32`, the reference; both compute the same bits).
    public static func load(_ model: String, trainableNeurons neurons: NeuronSelection? = nil,
                            storage: WeightStorage? = nil) throws -> LoadedModel {
        let storage = try storage ?? WeightStorage.fromEnvironment()
        let path = try ModelAliases.resolve(model)
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            return try loadFolder(path, neurons: neurons)
        }
        let (weightsPath, mapped, format) = try CheckpointFormat.open(path)
        switch format {
        case .gguf:
            let file = try OpenGGUFFiles.shared.file(weightsPath, mapped: mapped)
            try MemoryEstimate(gguf: file, storage: storage).check(path: weightsPath, storage: storage)
            return try loadGGUF(file, path: weightsPath, neurons: neurons, storage: storage)
        case .safetensors:
            return try loadFolder(URL(fileURLWithPath: weightsPath).deletingLastPathComponent().path, neurons: neurons)
        }
    }

    /// A GGUF of any decoder family: its metadata says which.
    static func loadGGUF(_ file: GGUFFile, path: String, neurons: NeuronSelection?,
                         storage: WeightStorage) throws -> LoadedModel {
        guard let architecture = file.metadata["general.architecture"]?.string else {
            throw UserFileError(path: path, reason: "\(ModelError.missingMetadata(key: "general.architecture"))")
        }
        guard let family = DecoderFamily.named(gguf: architecture) else {
            throw ModelError.unknownArchitecture(architecture, supported: supportedArchitectures)
        }
        let shapes = Dictionary(uniqueKeysWithValues: file.tensors.map { ($0.name, $0.shape) })
        let config = try CheckpointFormat.reading(path) {
            try family.config(gguf: file.metadata, tensorShapes: shapes) { try file.dequantized($0) }
        }
        var source = WeightSource(shapes: shapes, load: { try file.dequantized($0) })
        if storage == .asStored { source.encoded = { GGUFMatrix(file: file, name: $0) } }
        let model = try decoder(config, source, neurons: neurons)
        let tokenizer = try CheckpointFormat.reading(path) { try TokenizerLoader.load(gguf: file.metadata) }
        return LoadedModel(path: path, architecture: architecture, model: .decoder(model), tokenizer: tokenizer,
                           chatTemplate: TokenizerLoader.chatTemplateResult(gguf: file.metadata), storage: storage)
    }

    /// A Hugging Face folder: config.json, model.safetensors or its shards, tokenizer.json.
    static func loadFolder(_ folder: String, neurons: NeuronSelection?) throws -> LoadedModel {
        let configFile = try HuggingFaceConfig(folder: folder)
        let tokenizerFile = URL(fileURLWithPath: folder).appendingPathComponent("tokenizer.json")
        guard FileManager.default.fileExists(atPath: tokenizerFile.path) else {
            throw UserFileError(
                path: tokenizerFile.path,
                reason: "is missing: a Hugging Face folder needs its tokenizer.json beside the weights. " +
                    "Copy the model's tokenizer files into the folder " +
                    "(an export of a GGUF whose vocabulary is not GPT-2 byte-level BPE has none)")
        }
        if configFile.modelType == "bert" { return try loadBert(folder, configFile: configFile, neurons: neurons) }
        guard let family = DecoderFamily.named(huggingFace: configFile.modelType) else {
            throw UserFileError(
                path: configFile.path,
                reason: "\(ModelError.unknownArchitecture(configFile.modelType, supported: supportedArchitectures))")
        }
        let weights = try SafetensorsFolder(folder: folder)
        let config = try family.config(huggingFace: configFile, tensorShapes: weights.shapes)
        let mapped = try CheckpointFormat.reading(folder) {
            try HuggingFaceWeights(folder: weights, family: family, tied: config.tiedEmbeddings)
        }
        let model = try CheckpointFormat.reading(folder) {
            try decoder(config, mapped.source(config: config), neurons: neurons)
        }
        model.huggingFaceConfig = configFile.data
        let tokenizer = try CheckpointFormat.reading(tokenizerFile.path) {
            try TokenizerLoader.load(tokenizerJSON: tokenizerFile)
        }
        return LoadedModel(path: folder, architecture: configFile.modelType, model: .decoder(model),
                           tokenizer: tokenizer, chatTemplate: TokenizerLoader.chatTemplateResult(folder: folder))
    }

    static func decoder(_ config: DecoderConfig, _ source: WeightSource,
                        neurons: NeuronSelection?) throws -> DecoderModel {
        let masks = try neurons?.gradientMasks(parameterShapes: source.shapes, layers: config.layers,
                                               ownership: config.ownership) ?? [:]
        return try DecoderModel(config: config, weights: source, masks: masks)
    }

    static func loadBert(_ folder: String, configFile: HuggingFaceConfig,
                         neurons: NeuronSelection?) throws -> LoadedModel {
        let weightsPath = (folder as NSString).appendingPathComponent("model.safetensors")
        let file = try CheckpointFormat.reading(weightsPath) { try SafetensorsFile(path: weightsPath) }
        let config = try configFile.decode(BertConfig.self)
        let shapes = Dictionary(uniqueKeysWithValues: file.tensors.map { ($0.name, $0.shape) })
        let source = WeightSource(shapes: shapes) { try file.floats($0) }
        let masks = try neurons?.gradientMasks(parameterShapes: shapes, layers: config.layers,
                                               ownership: BertModel.ownership) ?? [:]
        let bert = try BertModel(config: config, weights: source, masks: masks)
        let tokenizerFile = URL(fileURLWithPath: folder).appendingPathComponent("tokenizer.json")
        let tokenizer = try CheckpointFormat.reading(tokenizerFile.path) {
            try TokenizerLoader.load(tokenizerJSON: tokenizerFile)
        }
        return LoadedModel(path: weightsPath, architecture: "bert", model: .bert(bert), tokenizer: tokenizer,
                           chatTemplate: .failure(.noChatTemplate))
    }
}

extension ModelLoader {
    /// The GGUF at `path`, sharing the mapping of any model loaded from it, so that reading its bytes
    /// (to copy or compare them) does not make them resident a second time.
    public static func openGGUF(_ path: String) throws -> GGUFFile {
        let (weightsPath, mapped, format) = try CheckpointFormat.open(path)
        guard format == .gguf else { return try GGUFFile(path: path) }      // its error names the problem
        return try OpenGGUFFiles.shared.file(weightsPath, mapped: mapped)
    }
}

/// GGUF files open in this process, by path: two models of one file (the edit stage's base and its
/// editable copy) share one mapping, so its pages are resident once. An entry lives as long as some
/// model uses the file, and a file changed on disk since is opened afresh.
final class OpenGGUFFiles: @unchecked Sendable {
    static let shared = OpenGGUFFiles()
    private struct Entry { weak var file: GGUFFile?; let stamp: [String] }
    private var entries: [String: Entry] = [:]
    private let lock = NSLock()

    func file(_ path: String, mapped: MappedFile) throws -> GGUFFile {
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        let stamp = [attributes?[.size], attributes?[.modificationDate], attributes?[.systemFileNumber]].map {
            "\($0 ?? "")"
        }
        lock.lock()
        defer { lock.unlock() }
        if let entry = entries[path], entry.stamp == stamp, let file = entry.file { return file }
        let file = try CheckpointFormat.reading(path) { try GGUFFile(file: mapped) }
        entries[path] = Entry(file: file, stamp: stamp)
        return file
    }
}

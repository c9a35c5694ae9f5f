import Checkpoints
import Foundation
import FuzzSupport
import JSON
import Models
import TensorCore

/// Fuzz target for a Hugging Face `config.json`, read the way Scalpel reads one:
/// - `ModelLoader` (safetensors) and `CheckpointSummary` take `model_type` through JSONSerialization, and
///   `ModelLoader` decodes `BertConfig` with JSONDecoder, and reads every decoder family's config through
///   `DecoderFamily.config(huggingFace:)`;
/// - the same bytes through `StrictJSONParser`, the parser of every other JSON file Scalpel reads;
/// - a decoded BERT config small enough to build is then used as a loaded checkpoint would use it: a tiny
///   `BertModel` with weights of exactly the shapes the config names, and one forward pass.
enum ConfigTarget: FuzzTarget {
    static func exercise(_ bytes: [UInt8]) {
        let data = Data(bytes)
        _ = bytes.withUnsafeBytes { try? StrictJSONParser.parse($0) }
        _ = bytes.withUnsafeBytes { try? StrictJSONParser.parse($0, rejectDuplicateKeys: false) }
        let type = (try? JSONSerialization.jsonObject(with: data) as? [String: Any])?["model_type"] as? String
        if let file = try? HuggingFaceConfig(data: data, path: "config.json"),
           let family = DecoderFamily.named(huggingFace: file.modelType) {
            do { _ = try family.config(huggingFace: file, tensorShapes: [:]) } catch { FuzzLog.refused(error) }
        }
        guard type == "bert" else { return FuzzLog.note("model_type \(type ?? "none"): not a BERT config") }
        do { run(try JSONDecoder().decode(BertConfig.self, from: data)) } catch { FuzzLog.refused(error) }
    }

    /// Builds and runs a model of `config` when its sizes are small (a real config names megabytes of weights).
    static func run(_ config: BertConfig) {
        let sizes = [config.hiddenSize, config.intermediateSize, config.vocabularySize, config.maxPositions,
                     config.typeVocabularySize]
        guard sizes.allSatisfy({ (1...64).contains($0) }), (0...2).contains(config.layers) else { return }
        var tensors: [String: Tensor] = [:]
        let c = config.hiddenSize, f = config.intermediateSize
        func add(_ role: TensorRole, _ layer: Int?, _ shape: [Int]) {
            let count = shape.reduce(1, *)
            tensors[BertModel.name(role, layer: layer)] =
                Tensor(shape: shape, scalars: (0..<count).map { Float(($0 * 7919) % 17) / 17 - 0.5 })
        }
        add(.tokenEmbedding, nil, [config.vocabularySize, c])
        add(.positionEmbedding, nil, [config.maxPositions, c])
        add(.tokenTypeEmbedding, nil, [config.typeVocabularySize, c])
        add(.embeddingNorm, nil, [c])
        add(.embeddingNormBias, nil, [c])
        for l in 0..<config.layers {
            for role: TensorRole in [.attentionQuery, .attentionKey, .attentionValue, .attentionOutput] {
                add(role, l, [c, c])
            }
            for role: TensorRole in [.attentionQueryBias, .attentionKeyBias, .attentionValueBias, .attentionOutputBias,
                                     .attentionOutputNorm, .attentionOutputNormBias, .ffnDownBias, .layerOutputNorm,
                                     .layerOutputNormBias] { add(role, l, [c]) }
            add(.ffnUp, l, [f, c])
            add(.ffnUpBias, l, [f])
            add(.ffnDown, l, [c, f])
        }
        do {
            let model = try BertModel(config: config, tensors: tensors)
            let batch = TokenBatch([[0, Int32(config.vocabularySize - 1)].prefix(config.maxPositions).map { $0 }])
            _ = model.forward(embeddings: try model.embed(batch), batch: batch)
            FuzzLog.note("built and ran a BERT of this config")
        } catch {
            FuzzLog.refused(error)
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 { ConfigTarget.fuzz(data, size) }

#if !FUZZING
@main struct Replay { static func main() throws { try ConfigTarget.replay() } }
#endif

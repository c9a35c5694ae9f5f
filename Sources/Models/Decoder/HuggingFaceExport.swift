import AtomicFiles
import Checkpoints
import Foundation
import JSON
import TensorCore

/// A decoder's weights in Hugging Face's layout: `model.safetensors` with the family's HF names and
/// layouts, and `config.json`, so that `AutoModelForCausalLM.from_pretrained(folder)` loads an edit.
///
/// Tensors go back through the family's `HuggingFaceLayout` (Q/K rows un-permuted, Conv1D transposed,
/// NeoX's QKV regrouped per head). A tied head is not written. A model loaded from a folder writes that
/// folder's own config.json back; one loaded from a GGUF gets a config.json built from its description.
/// Gemma's HF norms hold w in (1 + w): a GGUF's folded weights are written as w − 1.
extension DecoderModel {
    /// - tokenIDs: `bos_token_id`, `eos_token_id`, `pad_token_id` for a config.json built from a GGUF (each
    ///   family's transformers defaults, such as Phi-3's pad 32000, may lie outside a small vocabulary).
    public func exportHuggingFace(to folder: URL, metadata: [String: String] = [:],
                                  tokenIDs: [String: Int] = [:]) throws {
        guard let family = DecoderFamily.named(huggingFace: config.family) else {
            throw ModelError.unknownArchitecture(config.family, supported: ModelLoader.supportedArchitectures)
        }
        let json = try huggingFaceConfig ?? synthesizedConfig(family, tokenIDs: tokenIDs)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var entries: [SafetensorsEntry] = []
        let unfold = family.huggingFaceNormOffset - config.norm.weightOffset
        for name in parameters.keys.sorted() {
            let tensor = parameters[name]!.materialized()
            guard let (role, layer) = TensorNameMap.role(of: name, family: family.family),
                  let hfName = TensorNameMap.huggingFaceName(role, family: family.family, layer: layer) else {
                throw ModelError.badMetadata(key: name,
                                             detail: "has no Hugging Face name in the \(family.family.rawValue) family")
            }
            var (values, shape) = (tensor.scalars, tensor.shape)
            if let layout = family.huggingFaceLayouts[role] {
                (values, shape) = layout.toHuggingFace(values, shape: shape, config: config)
            }
            if unfold != 0 && Self.isRMSNormWeight(role) { values = values.map { $0 - unfold } }
            entries.append(SafetensorsEntry(name: hfName, floats: values, shape: shape))
        }
        try writeSafetensors(entries, metadata: metadata.merging(["format": "pt"]) { a, _ in a },
                             to: folder.appendingPathComponent("model.safetensors"))
        try AtomicFile.write(json, to: folder.appendingPathComponent("config.json"))
    }

    static func isRMSNormWeight(_ role: TensorRole) -> Bool {
        [.attentionNorm, .ffnNorm, .postAttentionNorm, .postFFNNorm, .outputNorm, .attentionQueryNorm,
         .attentionKeyNorm].contains(role)
    }

    /// config.json for a model read from a GGUF, in transformers' keys for the family.
    func synthesizedConfig(_ family: DecoderFamily, tokenIDs: [String: Int]) throws -> Data {
        let c = config
        // Text-only Gemma 3 checkpoints are `gemma3_text` (`gemma3` is the multimodal wrapper).
        let modelType = family.family == .gemma3 ? "gemma3_text" : family.family.rawValue
        var json: [String: Any] = ["model_type": modelType, "architectures": [Self.huggingFaceClass[family.family]!],
                                   "vocab_size": c.vocabularySize, "tie_word_embeddings": c.tiedEmbeddings,
                                   "torch_dtype": "float32"]
        for key in ["bos_token_id", "eos_token_id", "pad_token_id"] { json[key] = tokenIDs[key] ?? NSNull() }
        let activation = [Activation.silu: "silu", .geluTanh: "gelu_pytorch_tanh", .geluErf: "gelu"][c.ffn.activation]!
        if family.family == .gpt2 {
            json.merge(["n_embd": c.hiddenSize, "n_inner": c.intermediateSize, "n_layer": c.layers, "n_head": c.heads,
                        "n_positions": positionEmbedding?.shape[0] ?? c.contextLength, "n_ctx": c.contextLength,
                        "layer_norm_epsilon": Double(c.norm.eps),
                        "activation_function": c.ffn.activation == .geluTanh ? "gelu_new" : activation]) { $1 }
            return ConfigJSON.data(json)
        }
        json.merge(["hidden_size": c.hiddenSize, "intermediate_size": c.intermediateSize, "num_hidden_layers": c.layers,
                    "num_attention_heads": c.heads, "num_key_value_heads": c.kvHeads, "head_dim": c.headDim,
                    "max_position_embeddings": c.contextLength, "hidden_act": activation]) { $1 }
        json[c.norm.kind == .rms ? "rms_norm_eps" : "layer_norm_eps"] = Double(c.norm.eps)
        if let rope = c.rope {
            var parameters: [String: Any] = ["rope_theta": rope.base, "rope_type": "default"]
            switch rope.scaling {
            case .none: break
            case .linear(let factor): parameters.merge(["rope_type": "linear", "factor": factor]) { $1 }
            case .llama3(let factor, let low, let high, let original):
                parameters.merge(["rope_type": "llama3", "factor": factor, "low_freq_factor": low,
                                  "high_freq_factor": high, "original_max_position_embeddings": original]) { $1 }
            case .divisors(let divisors):
                guard let fitted = Self.llama3Parameters(divisors: divisors, rotaryDims: rope.rotaryDims,
                                                         base: rope.base) else {
                    throw ModelError.unsupportedSetting(
                        key: "rope_freqs.weight", detail: "these RoPE divisors are not Llama 3.1's scaling, " +
                            "which is all config.json can state; the edited GGUF is the result")
                }
                parameters.merge(fitted) { $1 }
            }
            if rope.rotaryDims != c.headDim {                    // transformers 5 reads it inside, 4 outside
                parameters["partial_rotary_factor"] = Double(rope.rotaryDims) / Double(c.headDim)
                json["partial_rotary_factor"] = parameters["partial_rotary_factor"]
            }
            json["rope_parameters"] = parameters
            json["rope_theta"] = rope.base                        // transformers 4 reads it here
            if let local = rope.localBase { json["rope_local_base_freq"] = local }
        }
        if family.family == .gptneox {
            json["use_parallel_residual"] = c.parallelResidual
            json["rotary_pct"] = Double(c.rope?.rotaryDims ?? c.headDim) / Double(c.headDim)
            json["attention_bias"] = c.attention.qkvBias
        }
        if [.llama, .mistral].contains(family.family) {
            json["attention_bias"] = c.attention.qkvBias
            json["mlp_bias"] = c.ffn.bias
        }
        let windows = c.attention.windows
        if let window = windows.compactMap({ $0 }).first {
            json["sliding_window"] = window
            json["layer_types"] = windows.map { $0 == nil ? "full_attention" : "sliding_attention" }
        } else if family.family != .gptneox {
            json["sliding_window"] = NSNull()
        }
        if family.family == .gemma2 || family.family == .gemma3 {
            json["hidden_activation"] = activation
            json["query_pre_attn_scalar"] = Int(Double(1 / (c.attention.scale * c.attention.scale)).rounded())
            json["attn_logit_softcapping"] = c.attention.softcap.map { Double($0) } ?? NSNull()
            json["final_logit_softcapping"] = c.finalLogitSoftcap.map { Double($0) } ?? NSNull()
        }
        return ConfigJSON.data(json)
    }

    static let huggingFaceClass: [ModelFamily: String] = [
        .llama: "LlamaForCausalLM", .mistral: "MistralForCausalLM", .qwen2: "Qwen2ForCausalLM",
        .qwen3: "Qwen3ForCausalLM", .phi3: "Phi3ForCausalLM", .gemma2: "Gemma2ForCausalLM",
        .gemma3: "Gemma3ForCausalLM", .gpt2: "GPT2LMHeadModel", .gptneox: "GPTNeoXForCausalLM",
    ]

    /// Llama 3.1's rope_parameters recovered from llama.cpp's divisors: the factor is the largest divisor,
    /// and the blended pairs fix the low and high frequency factors for an original context of 8192
    /// (only their ratios to it matter). nil unless the parameters reproduce every divisor.
    static func llama3Parameters(divisors: [Float], rotaryDims: Int, base: Double) -> [String: Any]? {
        guard let factor = divisors.max(), factor > 1 else { return nil }
        let original = 8192.0
        let plain = DecoderConfig.inverseFrequencies(rotaryDims: rotaryDims, base: base, scaling: .none)
        // Blended pairs: 1/d = (1 − s)/factor + s, with s = original/λ·a − b linear in 1/λ.
        var points: [(Double, Double)] = []
        for (theta, d) in zip(plain, divisors) where d > 1.0001 && d < factor * 0.9999 {
            let s = (1 / Double(d) - 1 / Double(factor)) / (1 - 1 / Double(factor))
            points.append((original * Double(theta) / (2 * .pi), s))
        }
        var candidates: [(Double, Double)] = []
        if points.count >= 2 {
            let (x0, y0) = points.first!, (x1, y1) = points.last!
            let slope = (y1 - y0) / (x1 - x0)            // s = (x − low)/(high − low)
            candidates.append((x0 - y0 / slope, x0 - y0 / slope + 1 / slope))
        }
        candidates.append((1, 4))                        // Llama 3.1 and 3.2's own values
        for (low, high) in candidates where high > low && low > 0 {
            let check = DecoderConfig.inverseFrequencies(rotaryDims: rotaryDims, base: base,
                scaling: .llama3(factor: Double(factor), lowFrequencyFactor: low, highFrequencyFactor: high,
                                 originalContext: Int(original)))
            let reproduced = zip(zip(plain, check), divisors).allSatisfy { pair, d in
                abs(pair.0 / pair.1 - d) <= 1e-4 * d
            }
            if reproduced {
                return ["rope_type": "llama3", "factor": Double(factor), "low_freq_factor": low,
                        "high_freq_factor": high, "original_max_position_embeddings": Int(original)]
            }
        }
        return nil
    }
}

/// Files of a Hugging Face folder that travel with its weights.
public enum HuggingFaceExport {
    public static let tokenizerFiles = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                                        "generation_config.json", "vocab.json", "merges.txt", "tokenizer.model",
                                        "chat_template.jinja"]

    /// Copies the tokenizer files a base folder has into an export, so that the export loads on its own.
    public static func copyTokenizerFiles(from folder: String, to export: URL) throws {
        for name in tokenizerFiles {
            let source = URL(fileURLWithPath: folder).appendingPathComponent(name)
            guard let data = FileManager.default.contents(atPath: source.path) else { continue }
            try AtomicFile.write(data, to: export.appendingPathComponent(name))
        }
    }
}

/// config.json text as transformers validates it: a Double is always written with a decimal point
/// (`5.0`, never `5`, which its strict config classes refuse for float fields), keys sorted.
enum ConfigJSON {
    static func data(_ object: [String: Any]) -> Data { Data((render(object, indent: "") + "\n").utf8) }

    static func render(_ value: Any, indent: String) -> String {
        let inner = indent + "  "
        switch value {
        case let object as [String: Any]:
            if object.isEmpty { return "{}" }
            let members = object.keys.sorted().map {
                "\(inner)\(jsonString($0)): \(render(object[$0]!, indent: inner))"
            }
            return "{\n" + members.joined(separator: ",\n") + "\n\(indent)}"
        case let array as [Any]:
            return "[" + array.map { render($0, indent: inner) }.joined(separator: ", ") + "]"
        case let text as String: return jsonString(text)
        case let flag as Bool: return flag ? "true" : "false"
        case let integer as Int: return String(integer)
        case let number as Double:
            guard number.isFinite else { return "null" }
            let text = "\(number)"
            return text.contains(".") || text.contains("e") ? text : text + ".0"
        default: return "null"
        }
    }
}

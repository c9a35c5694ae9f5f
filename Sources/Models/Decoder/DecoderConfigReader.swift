import Checkpoints
import Foundation
import JSON
import TensorCore

/// Reads a decoder's configuration, from GGUF metadata (llama.cpp's `<arch>.*` keys) or from a Hugging
/// Face config.json (both transformers 5's `rope_parameters` and transformers 4's `rope_theta` /
/// `rope_scaling` spellings), into one `DecoderConfig`.
///
/// Nothing is ignored silently: a key that would change the math and that Scalpel does not implement
/// (YaRN or LongRoPE scaling, mixture-of-experts, ALiBi, …), or any key the reader does not know, is an
/// error that names it.
struct DecoderConfigReader {
    enum Source {
        case gguf(GGUFMetadata, architecture: String)
        case huggingFace(HuggingFaceConfig)
    }

    let family: DecoderFamily
    let source: Source

    /// The settings both sources give, before they are checked and assembled.
    struct Settings {
        var hidden = 0, ffn = 0, layers = 0, heads = 0, kvHeads: Int? = nil, headDim: Int? = nil, vocabulary: Int? = nil
        var context = 2048
        var eps = 1e-5
        var ropeBase = 10_000.0, localRopeBase: Double? = nil, rotaryDims: Int? = nil, scaling = RoPEScaling.none
        var slidingWindow: Int? = nil
        /// Which layers use the window; nil: the family's rule.
        var slidingLayers: [Bool]? = nil
        var windowPattern: Int? = nil
        var attentionSoftcap: Double? = nil, finalSoftcap: Double? = nil, queryPreAttentionScalar: Double? = nil
        var parallelResidual: Bool? = nil
        var tied: Bool? = nil
        var activation: Activation? = nil
    }

    func read(tensorShapes: [String: [Int]], tensor: (String) throws -> [Float]) throws -> DecoderConfig {
        switch source {
        case .gguf(let metadata, let architecture):
            var settings = try readGGUF(metadata, architecture)
            settings.tied = tensorShapes["output.weight"] == nil
            if let embedding = tensorShapes["token_embd.weight"] {
                guard embedding.count == 2 else {
                    throw ModelError.wrongShape(tensor: "token_embd.weight", expected: [-1, settings.hidden],
                                                found: embedding)
                }
                settings.vocabulary = try Self.size(embedding[0], "token_embd.weight's vocabulary dimension")
            } else { throw ModelError.missingTensor("token_embd.weight") }
            if tensorShapes["rope_freqs.weight"] != nil {
                settings.scaling = .divisors(try tensor("rope_freqs.weight"))
            }
            return try assemble(settings, layout: family.ggufRoPELayout, normOffset: 0,
                                has: { tensorShapes[TensorNameMap.decoderName($0, layer: 0)] != nil })
        case .huggingFace(let file):
            let settings = try readHuggingFace(file)
            // The folder's tensors are mapped onto GGUF's layouts (Q/K rows permuted where llama.cpp permutes them).
            return try assemble(settings, layout: family.ggufRoPELayout,
                                normOffset: family.huggingFaceNormOffset, has: { role in
                TensorNameMap.huggingFaceName(role, family: family.family, layer: 0)
                    .map { tensorShapes[$0] != nil } ?? false
            })
        }
    }

    // MARK: - GGUF

    /// The `<arch>.*` keys Scalpel reads; any other key of the architecture is refused.
    static let ggufKeys: Set<String> = [
        "context_length", "embedding_length", "block_count", "feed_forward_length", "vocab_size",
        "attention.head_count", "attention.head_count_kv", "attention.key_length", "attention.value_length",
        "attention.layer_norm_rms_epsilon", "attention.layer_norm_epsilon", "attention.sliding_window",
        "attention.sliding_window_pattern", "attention.query_pre_attn_scalar", "attn_logit_softcapping",
        "final_logit_softcapping", "rope.freq_base", "rope.local.freq_base", "rope.dimension_count",
        "rope.scaling.type", "rope.scaling.factor", "rope.scaling.original_context_length", "rope.scaling.finetuned",
        "use_parallel_residual",
    ]

    func readGGUF(_ m: GGUFMetadata, _ a: String) throws -> Settings {
        for (key, _) in m.entries where key.hasPrefix("\(a).") {
            let suffix = String(key.dropFirst(a.count + 1))
            guard Self.ggufKeys.contains(suffix) else {
                throw ModelError.unsupportedSetting(key: key, detail: Self.unknownKeyHint(suffix))
            }
        }
        func int(_ key: String) throws -> Int {
            guard let v = m["\(a).\(key)"]?.integer else { throw ModelError.missingMetadata(key: "\(a).\(key)") }
            return try Self.size(v, "\(a).\(key)")
        }
        func optionalInt(_ key: String) throws -> Int? {
            try m["\(a).\(key)"].map { try Self.size($0.integer ?? -1, "\(a).\(key)") }
        }
        func number(_ key: String) -> Double? { m["\(a).\(key)"]?.number }
        var s = Settings()
        s.hidden = try int("embedding_length")
        s.ffn = try int("feed_forward_length")
        s.layers = try int("block_count")
        s.heads = try int("attention.head_count")
        s.kvHeads = try optionalInt("attention.head_count_kv")
        s.headDim = try optionalInt("attention.key_length")
        if let value = try optionalInt("attention.value_length"), value != s.headDim ?? s.hidden / s.heads {
            throw ModelError.unsupportedSetting(
                key: "\(a).attention.value_length",
                detail: "value heads of width \(value) differ from the key heads'; Scalpel needs them equal")
        }
        s.context = try optionalInt("context_length") ?? 2048
        let epsKey = family.norm == .rms ? "attention.layer_norm_rms_epsilon" : "attention.layer_norm_epsilon"
        guard let eps = number(epsKey) else { throw ModelError.missingMetadata(key: "\(a).\(epsKey)") }
        s.eps = eps
        s.ropeBase = number("rope.freq_base") ?? 10_000
        s.localRopeBase = number("rope.local.freq_base")
        s.rotaryDims = try optionalInt("rope.dimension_count")
        switch m["\(a).rope.scaling.type"]?.string ?? "none" {
        case "none": break
        case "linear":
            guard let factor = number("rope.scaling.factor"), factor > 0 else {
                throw ModelError.missingMetadata(key: "\(a).rope.scaling.factor")
            }
            s.scaling = .linear(factor: factor)
        case let other:
            throw ModelError.unsupportedSetting(key: "\(a).rope.scaling.type", detail: Self.scalingHint(other))
        }
        if let window = number("attention.sliding_window"), window > 0 {
            s.slidingWindow = try Self.size(window.rounded(.down), "\(a).attention.sliding_window")
        }
        s.windowPattern = try optionalInt("attention.sliding_window_pattern")
        s.attentionSoftcap = number("attn_logit_softcapping")
        s.finalSoftcap = number("final_logit_softcapping")
        s.queryPreAttentionScalar = number("attention.query_pre_attn_scalar")
        s.parallelResidual = m["\(a).use_parallel_residual"]?.bool
        return s
    }

    // MARK: - Hugging Face config.json

    /// The config.json keys the reader knows: those it reads below, and those that never change the
    /// forward pass (training, generation and bookkeeping). Any other key is refused.
    static let knownKeys: Set<String> = [
        "architectures", "model_type", "transformers_version", "torch_dtype", "dtype", "use_cache", "initializer_range",
        "bos_token_id", "eos_token_id", "pad_token_id", "sep_token_id", "decoder_start_token_id", "tokenizer_class",
        "attention_dropout", "hidden_dropout", "embd_pdrop", "attn_pdrop", "resid_pdrop", "summary_first_dropout",
        "classifier_dropout", "_name_or_path", "auto_map", "id2label", "label2id", "task_specific_params",
        "summary_type", "summary_use_proj", "summary_activation", "summary_proj_to_labels", "output_attentions",
        "output_hidden_states", "return_dict", "is_decoder", "add_cross_attention", "cache_implementation",
        "max_window_layers", "use_bidirectional_attention", "pretraining_tp", "n_ctx", "reorder_and_upcast_attn",
        "problem_type", "finetuning_task", "prefix", "chunk_size_feed_forward", "is_encoder_decoder",
        "tie_encoder_decoder", "keys_to_ignore_at_inference", "model_name", "generation_config", "attn_implementation",
        "_attn_implementation", "final_logit_softcapping", "attn_logit_softcapping", "query_pre_attn_scalar",
        "sliding_window", "use_sliding_window", "layer_types", "sliding_window_pattern", "rope_local_base_freq",
        "rope_theta", "rope_scaling", "rope_parameters", "partial_rotary_factor", "rotary_pct", "rotary_emb_base",
        "original_max_position_embeddings", "head_dim", "hidden_size", "n_embd", "intermediate_size", "n_inner",
        "num_hidden_layers", "n_layer", "num_attention_heads", "n_head", "num_key_value_heads", "vocab_size",
        "max_position_embeddings", "n_positions", "rms_norm_eps", "layer_norm_epsilon", "layer_norm_eps", "hidden_act",
        "hidden_activation", "activation_function", "tie_word_embeddings", "attention_bias", "mlp_bias",
        "use_parallel_residual", "scale_attn_weights", "scale_attn_by_inverse_layer_idx", "bos_token", "eos_token",
        "use_qk_norm", "qk_layernorm",
    ]

    func readHuggingFace(_ file: HuggingFaceConfig) throws -> Settings {
        let json = file.json
        let problem = { (key: String, detail: String) in
            ModelError.unsupportedSetting(key: "\(file.path): \(key)", detail: detail)
        }
        if case .object(let members) = json {
            for (key, value) in members where !Self.knownKeys.contains(key) && !Self.isInertByName(key) {
                if value == .null || value == .bool(false) { continue }
                throw problem(key, Self.unknownKeyHint(key))
            }
        }
        func value(_ keys: [String]) -> JSONValue? {
            for key in keys { if let v = json[key], v != .null { return v } }
            return nil
        }
        func number(_ keys: String...) -> Double? {
            switch value(keys) {
            case .integer(let i)?: Double(i)
            case .number(let d)?: d
            default: nil
            }
        }
        func int(_ keys: String...) throws -> Int? {
            guard let v = value(keys) else { return nil }
            guard case .integer(let i) = v else { throw problem(keys[0], "is not an integer") }
            return try Self.size(Int(i), "\(file.path): \(keys[0])")
        }
        func required(_ keys: String...) throws -> Int {
            guard let v = value(keys) else {
                throw problem(keys[0], "is missing; the model's size cannot be known without it")
            }
            guard case .integer(let i) = v else { throw problem(keys[0], "is not an integer") }
            return try Self.size(Int(i), "\(file.path): \(keys[0])")
        }
        func flag(_ key: String) -> Bool? { if case .bool(let b)? = json[key] { b } else { nil } }

        var s = Settings()
        s.hidden = try required("hidden_size", "n_embd")
        s.layers = try required("num_hidden_layers", "n_layer")
        s.heads = try required("num_attention_heads", "n_head")
        s.ffn = try int("intermediate_size", "n_inner") ?? 4 * s.hidden     // GPT-2's n_inner: null means 4C
        s.kvHeads = try int("num_key_value_heads")
        s.headDim = try int("head_dim")
        s.vocabulary = try required("vocab_size")
        s.context = try int("max_position_embeddings", "n_positions") ?? 2048
        guard let eps = number("rms_norm_eps", "layer_norm_epsilon", "layer_norm_eps") else {
            throw problem("rms_norm_eps", "is missing (or layer_norm_epsilon / layer_norm_eps); the norms need it")
        }
        s.eps = eps
        s.tied = flag("tie_word_embeddings") ?? family.tiedByDefault
        s.parallelResidual = flag("use_parallel_residual")
        if let name = value(["hidden_activation", "hidden_act", "activation_function"]) {
            guard case .string(let text) = name, let activation = Self.activations[text] else {
                throw problem("hidden_act", "'\(name)' is not an activation Scalpel implements " +
                              "(\(Self.activations.keys.sorted().joined(separator: ", ")))")
            }
            s.activation = activation
        }
        if flag("scale_attn_by_inverse_layer_idx") == true {
            throw problem("scale_attn_by_inverse_layer_idx",
                          "is true; Scalpel's GPT-2 scales every layer's attention by 1/√D only")
        }
        if flag("scale_attn_weights") == false {
            throw problem("scale_attn_weights", "is false; Scalpel always scales attention by 1/√D")
        }
        if flag("use_qk_norm") == true || flag("qk_layernorm") == true, !family.qkNorm {
            throw problem("use_qk_norm", "is set, but \(family.family.rawValue) models have no QK norm in Scalpel")
        }
        s.attentionSoftcap = number("attn_logit_softcapping")
        s.finalSoftcap = number("final_logit_softcapping")
        s.queryPreAttentionScalar = number("query_pre_attn_scalar")
        try readRoPE(json, into: &s, problem: problem)
        try readWindows(json, into: &s, problem: problem, flag: flag)
        return s
    }

    /// Dropout rates and special-token ids, whatever a family calls them.
    static func isInertByName(_ key: String) -> Bool {
        ["_dropout", "dropout_prob", "_pdrop", "_token_id", "_token_ids"].contains { key.hasSuffix($0) }
    }

    static let activations: [String: Activation] = [
        "silu": .silu, "swish": .silu, "gelu": .geluErf, "gelu_new": .geluTanh,
        "gelu_pytorch_tanh": .geluTanh, "gelu_fast": .geluTanh,
    ]

    /// RoPE's base, rotary fraction and scaling: `rope_parameters` (transformers 5, possibly one per layer
    /// type), else `rope_theta` + `rope_scaling` + `partial_rotary_factor` / `rotary_pct` (transformers 4).
    func readRoPE(_ json: JSONValue, into s: inout Settings, problem: (String, String) -> ModelError) throws {
        func number(_ object: JSONValue?, _ key: String) -> Double? {
            switch object?[key] {
            case .integer(let i)?: Double(i)
            case .number(let d)?: d
            default: nil
            }
        }
        var parameters = json["rope_parameters"] ?? json["rope_scaling"]
        if parameters == .null { parameters = nil }
        var local: JSONValue? = nil
        if let full = parameters?["full_attention"] {                // one set per layer type (Gemma 3)
            local = parameters?["sliding_attention"]
            parameters = full
        }
        s.ropeBase = number(parameters, "rope_theta") ?? number(json, "rope_theta") ??
            number(json, "rotary_emb_base") ?? 10_000
        s.localRopeBase = number(local, "rope_theta") ?? number(json, "rope_local_base_freq")
        let fraction = number(parameters, "partial_rotary_factor") ?? number(json, "partial_rotary_factor") ??
            number(json, "rotary_pct")
        if let fraction {
            guard fraction > 0 && fraction <= 1 else {
                throw problem("partial_rotary_factor", "is \(fraction), not a fraction in (0, 1]")
            }
            let d = s.headDim ?? s.hidden / max(s.heads, 1)
            s.rotaryDims = Int((Double(d) * fraction).rounded(.down))
        }
        var type = "default"
        if case .string(let t)? = parameters?["rope_type"] ?? parameters?["type"] { type = t }
        func required(_ key: String) throws -> Double {
            guard let v = number(parameters, key), v > 0 else {
                throw problem("rope_parameters.\(key)", "is missing or not positive for rope_type '\(type)'")
            }
            return v
        }
        switch type {
        case "default": break
        case "linear": s.scaling = .linear(factor: try required("factor"))
        case "llama3":
            s.scaling = .llama3(factor: try required("factor"), lowFrequencyFactor: try required("low_freq_factor"),
                                highFrequencyFactor: try required("high_freq_factor"),
                                originalContext: try Self.size(try required("original_max_position_embeddings"),
                                                               "rope_parameters.original_max_position_embeddings"))
        default: throw problem("rope_parameters.rope_type", Self.scalingHint(type))
        }
    }

    /// Sliding windows: `layer_types` where the config lists them, else the family's rule.
    func readWindows(_ json: JSONValue, into s: inout Settings, problem: (String, String) -> ModelError,
                     flag: (String) -> Bool?) throws {
        if case .integer(let w)? = json["sliding_window"], w > 0, flag("use_sliding_window") != false {
            s.slidingWindow = try Self.size(Int(w), "sliding_window")
        }
        if case .integer(let p)? = json["sliding_window_pattern"] { s.windowPattern = Int(p) }
        // Qwen's window applies from layer max_window_layers on, a rule only layer_types states exactly.
        if flag("use_sliding_window") == true, json["layer_types"] == nil, [.qwen2, .qwen3].contains(family.family) {
            throw problem("use_sliding_window", "is true without layer_types; Scalpel does not guess which layers " +
                          "max_window_layers windows. Add layer_types (transformers 5 writes it)")
        }
        if case .array(let types)? = json["layer_types"] {
            guard types.count == s.layers else {
                throw problem("layer_types", "lists \(types.count) layers for \(s.layers)")
            }
            s.slidingLayers = try types.map {
                switch $0 {
                case .string("full_attention"): false
                case .string("sliding_attention"): true
                default: throw problem("layer_types", "\($0) is not full_attention or sliding_attention")
                }
            }
            if s.slidingLayers!.contains(true) && s.slidingWindow == nil {
                if case .integer(let w)? = json["sliding_window"], w > 0 { s.slidingWindow = Int(w) } else {
                    throw problem("sliding_window", "is missing, but layer_types has sliding_attention layers")
                }
            }
            if !s.slidingLayers!.contains(true) { s.slidingWindow = nil }
        }
    }

    // MARK: - Assembly

    func assemble(_ s: Settings, layout: RoPELayout, normOffset: Float,
                  has: (TensorRole) -> Bool) throws -> DecoderConfig {
        let f = family
        let kvHeads = try Self.size(s.kvHeads ?? s.heads, "head_count_kv")
        let d = try Self.size(s.headDim ?? s.hidden / s.heads, "head width")
        guard s.heads % kvHeads == 0 else {
            throw ModelError.badMetadata(key: "attention.head_count",
                                         detail: "\(s.heads) heads are not a multiple of \(kvHeads) KV heads")
        }
        guard s.headDim != nil || s.hidden % s.heads == 0 else {
            throw ModelError.badMetadata(key: "attention.head_count",
                                         detail: "\(s.heads) heads do not divide the width \(s.hidden)")
        }
        guard let vocabulary = s.vocabulary else { throw ModelError.missingMetadata(key: "vocab_size") }
        var config = DecoderConfig(
            family: f.family.rawValue, hiddenSize: s.hidden, intermediateSize: s.ffn, layers: s.layers,
            heads: s.heads, kvHeads: kvHeads, headDim: d, vocabularySize: vocabulary, contextLength: s.context,
            norm: .init(kind: f.norm, eps: Float(s.eps), weightOffset: normOffset, bias: f.norm == .layer,
                        sandwich: f.sandwichNorms),
            rope: nil, ffn: .init(gated: f.gated, activation: s.activation ?? f.activation, fusedGateUp: f.fusedGateUp,
                                  bias: f.biases || has(.ffnDownBias)),
            tiedEmbeddings: s.tied ?? f.tiedByDefault)
        config.attention.fusedQKV = f.fusedQKV
        config.attention.qkvBias = has(f.fusedQKV ? .attentionQKVBias : .attentionQueryBias)
        config.attention.outputBias = has(.attentionOutputBias)
        config.attention.qkNorm = f.qkNorm
        config.attention.softcap = s.attentionSoftcap.map(Float.init)
        config.attention.windows = windows(s)
        config.attention.scale = queryScale(s, headDim: d)
        config.parallelResidual = s.parallelResidual ?? f.parallelResidual
        config.embeddingScale = f.scaledEmbeddings ? Float(Double(s.hidden).squareRoot()) : nil
        config.finalLogitSoftcap = s.finalSoftcap.map(Float.init)
        if !f.learnedPositions {
            let r = s.rotaryDims ?? d
            guard r > 0, r % 2 == 0, r <= d else {
                throw ModelError.badMetadata(
                    key: "rope.dimension_count",
                    detail: "\(r) rotary channels do not fit heads of width \(d) (even, at most \(d))")
            }
            if case .divisors(let divisors) = s.scaling, divisors.count != r / 2 ||
                    !divisors.allSatisfy({ $0.isFinite && $0 > 0 }) {
                throw ModelError.badMetadata(key: "rope_freqs.weight",
                                             detail: "needs \(r / 2) positive divisors, one per rotary pair")
            }
            let local = f.family == .gemma3 ? (s.localRopeBase ?? 10_000) : s.localRopeBase
            config.rope = .init(layout: layout, rotaryDims: r, base: s.ropeBase, localBase: local, scaling: s.scaling)
        }
        if f.gated && (has(.ffnGateBias) || has(.ffnUpBias)) { config.ffn.bias = true }
        return config
    }

    /// The window of each layer: listed layer types; Gemma 2 alternates (even layers local); Gemma 3 has
    /// `pattern − 1` local layers then a global one; other families window every layer when a window is set.
    func windows(_ s: Settings) -> [Int?] {
        guard let window = s.slidingWindow else { return Array(repeating: nil, count: s.layers) }
        let sliding: [Bool] = s.slidingLayers ?? (0..<s.layers).map { l in
            switch family.family {
            case .gemma2: l % 2 == 0
            case .gemma3: (l + 1) % max(s.windowPattern ?? 6, 1) != 0
            default: true
            }
        }
        return sliding.map { $0 ? window : nil }
    }

    /// Attention scores' factor: query_pre_attn_scalar^−½ for Gemma (llama.cpp's rule for GGUFs, which do
    /// not store it: 1/√D, or 1/√(C/H) for the 27B models), 1/√D otherwise.
    func queryScale(_ s: Settings, headDim d: Int) -> Float {
        guard family.family == .gemma2 || family.family == .gemma3 else { return 1 / Float(d).squareRoot() }
        if let scalar = s.queryPreAttentionScalar { return Float(1 / scalar.squareRoot()) }
        let is27B = (family.family == .gemma2 && s.layers == 46) || (family.family == .gemma3 && s.layers == 62)
        if case .gguf = source, is27B { return Float(1 / (Double(s.hidden) / Double(s.heads)).squareRoot()) }
        return Float(1 / Double(d).squareRoot())
    }

    // MARK: - Messages

    static func size(_ value: Int, _ key: String) throws -> Int {
        guard (1...(1 << 24)).contains(value) else {
            throw ModelError.badMetadata(key: key, detail: "\(value) is not a size from 1 to \(1 << 24)")
        }
        return value
    }

    /// A size given as a number (a JSON or GGUF float): whole, from 1 to 2²⁴; never a trapping conversion.
    static func size(_ value: Double, _ key: String) throws -> Int {
        guard value.isFinite, value.rounded() == value, (1...Double(1 << 24)).contains(value) else {
            throw ModelError.badMetadata(key: key, detail: "\(value) is not a whole size from 1 to \(1 << 24)")
        }
        return Int(value)
    }

    static func scalingHint(_ type: String) -> String {
        "RoPE scaling '\(type)' is not implemented; Scalpel supports none, linear and llama3 (and GGUF rope_freqs). "
            + "Use a checkpoint without it (e.g. the short-context variant), or open an issue"
    }

    static func unknownKeyHint(_ key: String) -> String {
        let lower = key.lowercased()
        if lower.contains("expert") || lower.contains("moe") { return "mixture-of-experts models are not supported" }
        if lower.contains("alibi") { return "ALiBi positions are not supported" }
        if lower.contains("quantization") {
            return "pre-quantized Hugging Face weights are not supported; use F32, F16 or BF16 safetensors, or a GGUF"
        }
        return "Scalpel does not implement this setting and will not ignore it, since it may change the model's math"
    }
}

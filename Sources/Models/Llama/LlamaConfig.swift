import Checkpoints

/// Llama hyperparameters (SmolLM2 is a Llama). Coding keys are Hugging Face's config.json names, so the
/// same type writes the config of a safetensors export.
public struct LlamaConfig: Codable, Sendable, Equatable {
    public var hiddenSize: Int            // C
    public var intermediateSize: Int      // F
    public var layers: Int                // L
    public var heads: Int                 // H
    public var kvHeads: Int               // G
    public var vocabularySize: Int        // V
    public var rmsNormEps: Float
    public var ropeTheta: Double
    public var contextLength: Int
    public var tiedEmbeddings: Bool
    /// Set for Gemma 3 checkpoints: the same decoder with Gemma's extra norms, scales and attention pattern.
    public var gemma: GemmaOptions? = nil

    public var headDim: Int { gemma?.headDim ?? hiddenSize / heads }
    public var family: ModelFamily { gemma == nil ? .llama : .gemma3 }

    enum CodingKeys: String, CodingKey {
        case hiddenSize = "hidden_size", intermediateSize = "intermediate_size", layers = "num_hidden_layers"
        case heads = "num_attention_heads", kvHeads = "num_key_value_heads", vocabularySize = "vocab_size"
        case rmsNormEps = "rms_norm_eps", ropeTheta = "rope_theta", contextLength = "max_position_embeddings"
        case tiedEmbeddings = "tie_word_embeddings"
    }

    public init(hiddenSize: Int, intermediateSize: Int, layers: Int, heads: Int, kvHeads: Int, vocabularySize: Int,
                rmsNormEps: Float = 1e-5, ropeTheta: Double = 10_000, contextLength: Int = 2048, tiedEmbeddings: Bool = true) {
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.layers = layers
        self.heads = heads
        self.kvHeads = kvHeads
        self.vocabularySize = vocabularySize
        self.rmsNormEps = rmsNormEps
        self.ropeTheta = ropeTheta
        self.contextLength = contextLength
        self.tiedEmbeddings = tiedEmbeddings
    }

    /// Reads `llama.*` or `gemma3.*` metadata (llama.cpp's LLM_KV names). Missing required keys are errors;
    /// RoPE's base comes from the file, never a default, when the file states it.
    public init(gguf m: GGUFMetadata, tensorShapes: [String: [Int]], architecture: String = "llama") throws {
        let a = architecture
        func int(_ key: String) throws -> Int {
            guard let v = m["\(a).\(key)"]?.integer else { throw ModelError.missingMetadata(key: "\(a).\(key)") }
            return try Self.size(v, key: "\(a).\(key)")
        }
        hiddenSize = try int("embedding_length")
        intermediateSize = try int("feed_forward_length")
        layers = try int("block_count")
        heads = try int("attention.head_count")
        kvHeads = try Self.size(m["\(a).attention.head_count_kv"]?.integer ?? heads, key: "\(a).attention.head_count_kv")
        guard let eps = m["\(a).attention.layer_norm_rms_epsilon"]?.number else {
            throw ModelError.missingMetadata(key: "\(a).attention.layer_norm_rms_epsilon")
        }
        rmsNormEps = Float(eps)
        ropeTheta = m["\(a).rope.freq_base"]?.number ?? 10_000
        contextLength = m["\(a).context_length"]?.integer ?? 2048
        guard let embedding = tensorShapes["token_embd.weight"] else { throw ModelError.missingTensor("token_embd.weight") }
        guard embedding.count == 2 else { throw ModelError.wrongShape(tensor: "token_embd.weight", expected: [-1, hiddenSize], found: embedding) }
        vocabularySize = try Self.size(embedding[0], key: "token_embd.weight's vocabulary dimension")
        tiedEmbeddings = tensorShapes["output.weight"] == nil
        if a == "gemma3" { gemma = try GemmaOptions(gguf: m, heads: heads) }
        contextLength = try Self.size(contextLength, key: "\(a).context_length")
        let width = gemma == nil ? hiddenSize : heads * headDim
        guard heads > 0, width % heads == 0, heads % max(kvHeads, 1) == 0 else {
            throw ModelError.badMetadata(key: "\(a).attention.head_count", detail: "\(heads) heads and \(kvHeads) KV heads do not divide width \(width)")
        }
        if let rotary = m["\(a).rope.dimension_count"]?.integer, rotary != headDim {
            throw ModelError.badMetadata(key: "\(a).rope.dimension_count", detail: "\(rotary) differs from the head width \(headDim); partial RoPE is not supported")
        }
    }
}

extension LlamaConfig {
    /// Sizes a configuration may state: positive, and small enough that products of them cannot
    /// overflow (2^24 is far beyond any real width, depth, head count or vocabulary).
    static func size(_ value: Int, key: String) throws -> Int {
        guard (1...(1 << 24)).contains(value) else {
            throw ModelError.badMetadata(key: key, detail: "\(value) is not a size from 1 to \(1 << 24)")
        }
        return value
    }
}

/// What Gemma 3 adds to the Llama decoder (transformers' modeling_gemma3.py, llama.cpp's gemma3 graph):
/// embeddings scaled by √C; RMSNorm on each head of Q and K; norms after attention and after the FFN as
/// well as before; a GeGLU FFN (tanh GELU); sliding-window layers with their own RoPE base between global
/// layers; one KV head; a head width of its own; and final logit soft-capping when the config sets it.
///
/// Norm weights are used as stored: llama.cpp's converter already folded Gemma's `(1 + w)` into the GGUF.
public struct GemmaOptions: Codable, Sendable, Equatable {
    public var headDim: Int                 // D, `key_length`
    public var slidingWindow: Int           // keys within this distance in local layers
    /// Layer l is global when (l + 1) is a multiple of this (Gemma 3: 5 local layers, then 1 global).
    public var globalEvery: Int
    public var localRopeTheta: Double
    public var finalLogitSoftcap: Float?
    /// Attention scores are scaled by query_pre_attn_scalar^−½.
    public var queryPreAttentionScalar: Double

    public init(headDim: Int, slidingWindow: Int, globalEvery: Int = 6, localRopeTheta: Double = 10_000, finalLogitSoftcap: Float? = nil,
                queryPreAttentionScalar: Double? = nil) {
        self.headDim = headDim
        self.slidingWindow = slidingWindow
        self.globalEvery = globalEvery
        self.localRopeTheta = localRopeTheta
        self.finalLogitSoftcap = finalLogitSoftcap
        self.queryPreAttentionScalar = queryPreAttentionScalar ?? Double(headDim)
    }

    /// The gemma3.* keys. Gemma 3 GGUFs state the window but not the layer pattern, the local RoPE base or
    /// the query scalar; those take Gemma 3's values (pattern 6, base 10,000, the head width), as llama.cpp does.
    init(gguf m: GGUFMetadata, heads: Int) throws {
        guard let stated = m["gemma3.attention.key_length"]?.integer else { throw ModelError.missingMetadata(key: "gemma3.attention.key_length") }
        let key = try LlamaConfig.size(stated, key: "gemma3.attention.key_length")
        if let value = m["gemma3.attention.value_length"]?.integer, value != key {
            throw ModelError.badMetadata(key: "gemma3.attention.value_length", detail: "\(value) differs from key_length \(key)")
        }
        guard let window = m["gemma3.attention.sliding_window"]?.integer, window > 0 else {
            throw ModelError.missingMetadata(key: "gemma3.attention.sliding_window")
        }
        if let scaling = m["gemma3.rope.scaling.type"]?.string, scaling != "none" {
            throw ModelError.badMetadata(key: "gemma3.rope.scaling.type", detail: "'\(scaling)' RoPE scaling is not supported (Gemma 3 270M has none)")
        }
        let pattern = m["gemma3.attention.sliding_window_pattern"]?.integer ?? 6
        guard pattern >= 1 else { throw ModelError.badMetadata(key: "gemma3.attention.sliding_window_pattern", detail: "\(pattern) is not positive") }
        self.init(headDim: key, slidingWindow: window, globalEvery: pattern,
                  localRopeTheta: m["gemma3.rope.local.freq_base"]?.number ?? 10_000,
                  finalLogitSoftcap: m["gemma3.final_logit_softcapping"]?.number.map(Float.init),
                  queryPreAttentionScalar: m["gemma3.attention.query_pre_attn_scalar"]?.number)
    }

    public func isGlobal(_ layer: Int) -> Bool { (layer + 1) % globalEvery == 0 }
}

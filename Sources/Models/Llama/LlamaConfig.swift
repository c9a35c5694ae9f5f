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

    public var headDim: Int { hiddenSize / heads }

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

    /// Reads `llama.*` metadata (llama.cpp's LLM_KV names). Missing required keys are errors; RoPE's
    /// base comes from the file, never a default, when the file states it.
    public init(gguf m: GGUFMetadata, tensorShapes: [String: [Int]]) throws {
        func int(_ key: String) throws -> Int {
            guard let v = m["llama.\(key)"]?.integer else { throw ModelError.missingMetadata(key: "llama.\(key)") }
            return v
        }
        hiddenSize = try int("embedding_length")
        intermediateSize = try int("feed_forward_length")
        layers = try int("block_count")
        heads = try int("attention.head_count")
        kvHeads = m["llama.attention.head_count_kv"]?.integer ?? heads
        guard let eps = m["llama.attention.layer_norm_rms_epsilon"]?.number else {
            throw ModelError.missingMetadata(key: "llama.attention.layer_norm_rms_epsilon")
        }
        rmsNormEps = Float(eps)
        ropeTheta = m["llama.rope.freq_base"]?.number ?? 10_000
        contextLength = m["llama.context_length"]?.integer ?? 2048
        guard let embedding = tensorShapes["token_embd.weight"] else { throw ModelError.missingTensor("token_embd.weight") }
        vocabularySize = embedding[0]
        tiedEmbeddings = tensorShapes["output.weight"] == nil
        guard heads > 0, hiddenSize % heads == 0, heads % max(kvHeads, 1) == 0 else {
            throw ModelError.badMetadata(key: "llama.attention.head_count", detail: "\(heads) heads and \(kvHeads) KV heads do not divide width \(hiddenSize)")
        }
        if let rotary = m["llama.rope.dimension_count"]?.integer, rotary != headDim {
            throw ModelError.badMetadata(key: "llama.rope.dimension_count", detail: "\(rotary) differs from the head width \(headDim); partial RoPE is not supported")
        }
    }
}

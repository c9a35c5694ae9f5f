/// What a tensor is for, independent of any file's naming.
public enum TensorRole: String, Sendable, CaseIterable {
    // Embeddings and heads
    case tokenEmbedding, positionEmbedding, tokenTypeEmbedding, embeddingNorm, embeddingNormBias
    case outputNorm, outputNormBias, output, ropeFrequencies
    // Per layer (the name carries the layer index)
    case attentionNorm, attentionNormBias
    case attentionQuery, attentionKey, attentionValue, attentionQKV, attentionOutput
    case attentionQueryBias, attentionKeyBias, attentionValueBias, attentionQKVBias, attentionOutputBias
    case attentionQueryNorm, attentionKeyNorm, postAttentionNorm, attentionOutputNorm, attentionOutputNormBias
    case ffnNorm, ffnNormBias, postFFNNorm, ffnGate, ffnUp, ffnDown, ffnGateBias, ffnUpBias, ffnDownBias
    case layerOutputNorm, layerOutputNormBias

    public var isPerLayer: Bool {
        switch self {
        case .tokenEmbedding, .positionEmbedding, .tokenTypeEmbedding, .embeddingNorm, .embeddingNormBias,
             .outputNorm, .outputNormBias, .output, .ropeFrequencies: false
        default: true
        }
    }
}

/// The model families Scalpel knows, by their Hugging Face `model_type` (GGUF writes Mistral as `llama`).
public enum ModelFamily: String, Sendable, CaseIterable {
    case llama, mistral, qwen2, qwen3, phi3, gemma2, gemma3, gpt2
    case gptneox = "gpt_neox"
    case bert

    /// How the family's Hugging Face checkpoints name their tensors.
    var huggingFaceScheme: HuggingFaceScheme {
        switch self {
        case .llama, .mistral, .qwen2, .qwen3: .llama
        case .phi3: .phi3
        case .gemma2, .gemma3: .gemma
        case .gpt2: .gpt2
        case .gptneox: .gptneox
        case .bert: .bert
        }
    }
}

/// Families whose Hugging Face names are alike share a scheme.
enum HuggingFaceScheme { case llama, phi3, gemma, gpt2, gptneox, bert }

/// Maps each canonical role to its GGUF name and its Hugging Face name, per family.
///
/// GGUF names come from llama.cpp's gguf-py (`constants.py`, MODEL_TENSOR → TENSOR_NAMES, e.g.
/// `blk.{bid}.ffn_gate`): one flat table serves every decoder, as in llama.cpp. HF names come from the
/// transformers modeling files named per entry. `{L}` stands for the layer index. nil means the family
/// has no such tensor.
public enum TensorNameMap {
    typealias Names = (gguf: String?, hf: String?)

    static func names(_ role: TensorRole, _ family: ModelFamily) -> Names {
        if family == .bert { return bert(role) }
        let scheme: String? = switch family.huggingFaceScheme {
        case .gpt2: gpt2(role)
        case .gptneox: gptneox(role)
        case .phi3: phi3(role) ?? llamaLike(role)
        case .gemma: gemma(role) ?? llamaLike(role)
        default: llamaLike(role)
        }
        let hf = scheme?.isEmpty == true ? nil : scheme      // "" marks a tensor the family fuses away
        return (hf == nil && role != .ropeFrequencies ? nil : decoderGGUF(role), hf)
    }

    /// A decoder tensor's GGUF name, whatever the family: the names Scalpel's decoder keys its weights by.
    public static func decoderName(_ role: TensorRole, layer: Int? = nil) -> String {
        guard let pattern = decoderGGUF(role) else {
            preconditionFailure("TensorNameMap: \(role) is no decoder tensor")
        }
        return substitute(pattern, layer)
    }

    /// llama.cpp's decoder tensor names, the same for every architecture.
    private static func decoderGGUF(_ role: TensorRole) -> String? {
        switch role {
        case .tokenEmbedding: "token_embd.weight"
        case .positionEmbedding: "position_embd.weight"
        case .outputNorm: "output_norm.weight"
        case .outputNormBias: "output_norm.bias"
        case .output: "output.weight"
        case .ropeFrequencies: "rope_freqs.weight"            // Llama 3.1's scaling divisors (no HF tensor)
        case .attentionNorm: "blk.{L}.attn_norm.weight"
        case .attentionNormBias: "blk.{L}.attn_norm.bias"
        case .attentionQuery: "blk.{L}.attn_q.weight"          // rows permuted for RoPE in llama/mistral files
        case .attentionKey: "blk.{L}.attn_k.weight"
        case .attentionValue: "blk.{L}.attn_v.weight"
        case .attentionQKV: "blk.{L}.attn_qkv.weight"          // [Q; K; V] rows
        case .attentionQueryBias: "blk.{L}.attn_q.bias"
        case .attentionKeyBias: "blk.{L}.attn_k.bias"
        case .attentionValueBias: "blk.{L}.attn_v.bias"
        case .attentionQKVBias: "blk.{L}.attn_qkv.bias"
        case .attentionOutput: "blk.{L}.attn_output.weight"
        case .attentionOutputBias: "blk.{L}.attn_output.bias"
        case .attentionQueryNorm: "blk.{L}.attn_q_norm.weight"
        case .attentionKeyNorm: "blk.{L}.attn_k_norm.weight"
        case .postAttentionNorm: "blk.{L}.post_attention_norm.weight"
        case .ffnNorm: "blk.{L}.ffn_norm.weight"
        case .ffnNormBias: "blk.{L}.ffn_norm.bias"
        case .postFFNNorm: "blk.{L}.post_ffw_norm.weight"
        case .ffnGate: "blk.{L}.ffn_gate.weight"
        case .ffnUp: "blk.{L}.ffn_up.weight"                   // W_in of a plain MLP; [gate; up] for Phi-3
        case .ffnDown: "blk.{L}.ffn_down.weight"
        case .ffnGateBias: "blk.{L}.ffn_gate.bias"
        case .ffnUpBias: "blk.{L}.ffn_up.bias"
        case .ffnDownBias: "blk.{L}.ffn_down.bias"
        default: nil
        }
    }

    /// modeling_llama.py, and Mistral, Qwen2 and Qwen3, which name their tensors the same way.
    private static func llamaLike(_ role: TensorRole) -> String? {
        switch role {
        case .tokenEmbedding: "model.embed_tokens.weight"
        case .outputNorm: "model.norm.weight"
        case .output: "lm_head.weight"                                           // absent when tied
        case .attentionNorm: "model.layers.{L}.input_layernorm.weight"
        case .attentionQuery: "model.layers.{L}.self_attn.q_proj.weight"
        case .attentionKey: "model.layers.{L}.self_attn.k_proj.weight"
        case .attentionValue: "model.layers.{L}.self_attn.v_proj.weight"
        case .attentionQueryBias: "model.layers.{L}.self_attn.q_proj.bias"         // Qwen2
        case .attentionKeyBias: "model.layers.{L}.self_attn.k_proj.bias"
        case .attentionValueBias: "model.layers.{L}.self_attn.v_proj.bias"
        case .attentionOutput: "model.layers.{L}.self_attn.o_proj.weight"
        case .attentionOutputBias: "model.layers.{L}.self_attn.o_proj.bias"
        case .attentionQueryNorm: "model.layers.{L}.self_attn.q_norm.weight"       // Qwen3
        case .attentionKeyNorm: "model.layers.{L}.self_attn.k_norm.weight"
        case .ffnNorm: "model.layers.{L}.post_attention_layernorm.weight"          // HF's name for the pre-FFN norm
        case .ffnGate: "model.layers.{L}.mlp.gate_proj.weight"
        case .ffnUp: "model.layers.{L}.mlp.up_proj.weight"
        case .ffnDown: "model.layers.{L}.mlp.down_proj.weight"
        case .ffnGateBias: "model.layers.{L}.mlp.gate_proj.bias"                   // Llama with mlp_bias
        case .ffnUpBias: "model.layers.{L}.mlp.up_proj.bias"
        case .ffnDownBias: "model.layers.{L}.mlp.down_proj.bias"
        default: nil
        }
    }

    /// modeling_phi3.py: fused qkv_proj and gate_up_proj.
    private static func phi3(_ role: TensorRole) -> String? {
        switch role {
        case .attentionQKV: "model.layers.{L}.self_attn.qkv_proj.weight"
        case .ffnUp: "model.layers.{L}.mlp.gate_up_proj.weight"
        case .attentionQuery, .attentionKey, .attentionValue, .ffnGate: ""           // inside the fused tensors
        default: nil
        }
    }

    /// modeling_gemma2.py / modeling_gemma3.py: norms before and after each sublayer.
    private static func gemma(_ role: TensorRole) -> String? {
        switch role {
        case .postAttentionNorm: "model.layers.{L}.post_attention_layernorm.weight"
        case .ffnNorm: "model.layers.{L}.pre_feedforward_layernorm.weight"
        case .postFFNNorm: "model.layers.{L}.post_feedforward_layernorm.weight"
        default: nil
        }
    }

    /// modeling_gpt2.py: Conv1D weights stored [in, out].
    private static func gpt2(_ role: TensorRole) -> String? {
        switch role {
        case .tokenEmbedding: "transformer.wte.weight"
        case .positionEmbedding: "transformer.wpe.weight"
        case .outputNorm: "transformer.ln_f.weight"
        case .outputNormBias: "transformer.ln_f.bias"
        case .output: "lm_head.weight"
        case .attentionNorm: "transformer.h.{L}.ln_1.weight"
        case .attentionNormBias: "transformer.h.{L}.ln_1.bias"
        case .attentionQKV: "transformer.h.{L}.attn.c_attn.weight"
        case .attentionQKVBias: "transformer.h.{L}.attn.c_attn.bias"
        case .attentionOutput: "transformer.h.{L}.attn.c_proj.weight"
        case .attentionOutputBias: "transformer.h.{L}.attn.c_proj.bias"
        case .ffnNorm: "transformer.h.{L}.ln_2.weight"
        case .ffnNormBias: "transformer.h.{L}.ln_2.bias"
        case .ffnUp: "transformer.h.{L}.mlp.c_fc.weight"
        case .ffnUpBias: "transformer.h.{L}.mlp.c_fc.bias"
        case .ffnDown: "transformer.h.{L}.mlp.c_proj.weight"
        case .ffnDownBias: "transformer.h.{L}.mlp.c_proj.bias"
        default: nil
        }
    }

    /// modeling_gpt_neox.py: query_key_value rows grouped per head as [q_h; k_h; v_h].
    private static func gptneox(_ role: TensorRole) -> String? {
        switch role {
        case .tokenEmbedding: "gpt_neox.embed_in.weight"
        case .outputNorm: "gpt_neox.final_layer_norm.weight"
        case .outputNormBias: "gpt_neox.final_layer_norm.bias"
        case .output: "embed_out.weight"
        case .attentionNorm: "gpt_neox.layers.{L}.input_layernorm.weight"
        case .attentionNormBias: "gpt_neox.layers.{L}.input_layernorm.bias"
        case .attentionQKV: "gpt_neox.layers.{L}.attention.query_key_value.weight"
        case .attentionQKVBias: "gpt_neox.layers.{L}.attention.query_key_value.bias"
        case .attentionOutput: "gpt_neox.layers.{L}.attention.dense.weight"
        case .attentionOutputBias: "gpt_neox.layers.{L}.attention.dense.bias"
        case .ffnNorm: "gpt_neox.layers.{L}.post_attention_layernorm.weight"
        case .ffnNormBias: "gpt_neox.layers.{L}.post_attention_layernorm.bias"
        case .ffnUp: "gpt_neox.layers.{L}.mlp.dense_h_to_4h.weight"
        case .ffnUpBias: "gpt_neox.layers.{L}.mlp.dense_h_to_4h.bias"
        case .ffnDown: "gpt_neox.layers.{L}.mlp.dense_4h_to_h.weight"
        case .ffnDownBias: "gpt_neox.layers.{L}.mlp.dense_4h_to_h.bias"
        default: nil
        }
    }

    /// modeling_bert.py (BertModel, as all-MiniLM-L6-v2 stores it, without a "bert." prefix);
    /// GGUF names as llama.cpp's BERT converter writes them.
    private static func bert(_ role: TensorRole) -> Names {
        switch role {
        case .tokenEmbedding: ("token_embd.weight", "embeddings.word_embeddings.weight")
        case .positionEmbedding: ("position_embd.weight", "embeddings.position_embeddings.weight")
        case .tokenTypeEmbedding: ("token_types.weight", "embeddings.token_type_embeddings.weight")
        case .embeddingNorm: ("token_embd_norm.weight", "embeddings.LayerNorm.weight")
        case .embeddingNormBias: ("token_embd_norm.bias", "embeddings.LayerNorm.bias")
        case .attentionQuery: ("blk.{L}.attn_q.weight", "encoder.layer.{L}.attention.self.query.weight")
        case .attentionQueryBias: ("blk.{L}.attn_q.bias", "encoder.layer.{L}.attention.self.query.bias")
        case .attentionKey: ("blk.{L}.attn_k.weight", "encoder.layer.{L}.attention.self.key.weight")
        case .attentionKeyBias: ("blk.{L}.attn_k.bias", "encoder.layer.{L}.attention.self.key.bias")
        case .attentionValue: ("blk.{L}.attn_v.weight", "encoder.layer.{L}.attention.self.value.weight")
        case .attentionValueBias: ("blk.{L}.attn_v.bias", "encoder.layer.{L}.attention.self.value.bias")
        case .attentionOutput: ("blk.{L}.attn_output.weight", "encoder.layer.{L}.attention.output.dense.weight")
        case .attentionOutputBias: ("blk.{L}.attn_output.bias", "encoder.layer.{L}.attention.output.dense.bias")
        case .attentionOutputNorm: ("blk.{L}.attn_output_norm.weight",
                                    "encoder.layer.{L}.attention.output.LayerNorm.weight")
        case .attentionOutputNormBias: ("blk.{L}.attn_output_norm.bias",
                                        "encoder.layer.{L}.attention.output.LayerNorm.bias")
        case .ffnUp: ("blk.{L}.ffn_up.weight", "encoder.layer.{L}.intermediate.dense.weight")        // BERT's W_in
        case .ffnUpBias: ("blk.{L}.ffn_up.bias", "encoder.layer.{L}.intermediate.dense.bias")
        case .ffnDown: ("blk.{L}.ffn_down.weight", "encoder.layer.{L}.output.dense.weight")          // BERT's W_out
        case .ffnDownBias: ("blk.{L}.ffn_down.bias", "encoder.layer.{L}.output.dense.bias")
        case .layerOutputNorm: ("blk.{L}.layer_output_norm.weight", "encoder.layer.{L}.output.LayerNorm.weight")
        case .layerOutputNormBias: ("blk.{L}.layer_output_norm.bias", "encoder.layer.{L}.output.LayerNorm.bias")
        default: (nil, nil)
        }
    }

    /// The GGUF name of `role` (at `layer` for per-layer roles), or nil if the family has none.
    public static func ggufName(_ role: TensorRole, family: ModelFamily, layer: Int? = nil) -> String? {
        names(role, family).gguf.map { substitute($0, layer) }
    }

    /// The Hugging Face name of `role`, or nil if the family has none.
    public static func huggingFaceName(_ role: TensorRole, family: ModelFamily, layer: Int? = nil) -> String? {
        names(role, family).hf.map { substitute($0, layer) }
    }

    /// Finds the role and layer of a GGUF or HF tensor name.
    public static func role(of name: String, family: ModelFamily) -> (role: TensorRole, layer: Int?)? {
        for role in TensorRole.allCases {
            let (gguf, hf) = names(role, family)
            for pattern in [gguf, hf].compactMap({ $0 }) {
                if let layer = match(pattern, name) { return (role, layer.value) }
            }
        }
        return nil
    }

    private static func substitute(_ pattern: String, _ layer: Int?) -> String {
        guard pattern.contains("{L}") else { return pattern }
        precondition(layer != nil, "TensorNameMap: '\(pattern)' needs a layer index")
        return pattern.replacingOccurrences(of: "{L}", with: String(layer!))
    }

    /// nil if no match; .some(nil) for a global name; .some(layer) for a per-layer one.
    private static func match(_ pattern: String, _ name: String) -> LayerMatch? {
        guard let range = pattern.range(of: "{L}") else { return pattern == name ? LayerMatch(value: nil) : nil }
        let prefix = String(pattern[..<range.lowerBound]), suffix = String(pattern[range.upperBound...])
        guard name.hasPrefix(prefix), name.hasSuffix(suffix), name.count > prefix.count + suffix.count else {
            return nil
        }
        let middle = name.dropFirst(prefix.count).dropLast(suffix.count)
        guard let layer = Int(middle), layer >= 0, String(layer) == middle else { return nil }
        return LayerMatch(value: layer)
    }

    private struct LayerMatch { let value: Int? }
}

import Foundation

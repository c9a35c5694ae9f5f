/// What a tensor is for, independent of any file's naming.
public enum TensorRole: String, Sendable, CaseIterable {
    // Embeddings and heads
    case tokenEmbedding, positionEmbedding, tokenTypeEmbedding, embeddingNorm, embeddingNormBias
    case outputNorm, output
    // Per layer (the name carries the layer index)
    case attentionNorm, attentionQuery, attentionKey, attentionValue, attentionOutput
    case attentionQueryBias, attentionKeyBias, attentionValueBias, attentionOutputBias
    case attentionQueryNorm, attentionKeyNorm, postAttentionNorm, attentionOutputNorm, attentionOutputNormBias
    case ffnNorm, postFFNNorm, ffnGate, ffnUp, ffnDown, ffnUpBias, ffnDownBias, layerOutputNorm, layerOutputNormBias

    public var isPerLayer: Bool {
        switch self {
        case .tokenEmbedding, .positionEmbedding, .tokenTypeEmbedding, .embeddingNorm, .embeddingNormBias, .outputNorm, .output: false
        default: true
        }
    }
}

/// The model families Scalpel knows, by their GGUF `general.architecture` / HF `model_type` names.
public enum ModelFamily: String, Sendable, CaseIterable {
    case llama
    case bert
    case gemma3
}

/// Maps each canonical role to its GGUF name and its Hugging Face name, per family.
///
/// GGUF names come from llama.cpp's gguf-py (`constants.py`, MODEL_TENSOR → TENSOR_NAMES, e.g.
/// `blk.{bid}.ffn_gate`); HF names from the transformers modeling files named per entry. `{L}` stands for
/// the layer index. nil means the family has no such tensor.
public enum TensorNameMap {
    typealias Names = (gguf: String?, hf: String?)

    static func names(_ role: TensorRole, _ family: ModelFamily) -> Names {
        switch family {
        case .llama: return llama(role)
        case .gemma3: return gemma3(role)
        case .bert: return bert(role)
        }
    }

    /// modeling_llama.py (LlamaForCausalLM); SmolLM2 is a Llama.
    private static func llama(_ role: TensorRole) -> Names {
        switch role {
        case .tokenEmbedding: ("token_embd.weight", "model.embed_tokens.weight")
        case .outputNorm: ("output_norm.weight", "model.norm.weight")
        case .output: ("output.weight", "lm_head.weight")                            // absent when tied (SmolLM2)
        case .attentionNorm: ("blk.{L}.attn_norm.weight", "model.layers.{L}.input_layernorm.weight")
        case .attentionQuery: ("blk.{L}.attn_q.weight", "model.layers.{L}.self_attn.q_proj.weight")   // GGUF rows permuted for RoPE
        case .attentionKey: ("blk.{L}.attn_k.weight", "model.layers.{L}.self_attn.k_proj.weight")     // GGUF rows permuted for RoPE
        case .attentionValue: ("blk.{L}.attn_v.weight", "model.layers.{L}.self_attn.v_proj.weight")
        case .attentionOutput: ("blk.{L}.attn_output.weight", "model.layers.{L}.self_attn.o_proj.weight")
        case .ffnNorm: ("blk.{L}.ffn_norm.weight", "model.layers.{L}.post_attention_layernorm.weight") // HF's name for the pre-FFN norm
        case .ffnGate: ("blk.{L}.ffn_gate.weight", "model.layers.{L}.mlp.gate_proj.weight")
        case .ffnUp: ("blk.{L}.ffn_up.weight", "model.layers.{L}.mlp.up_proj.weight")
        case .ffnDown: ("blk.{L}.ffn_down.weight", "model.layers.{L}.mlp.down_proj.weight")
        default: (nil, nil)
        }
    }

    /// modeling_gemma3.py (Gemma3ForCausalLM, text-only checkpoints such as gemma-3-270m).
    private static func gemma3(_ role: TensorRole) -> Names {
        switch role {
        case .tokenEmbedding: ("token_embd.weight", "model.embed_tokens.weight")     // tied output
        case .outputNorm: ("output_norm.weight", "model.norm.weight")
        case .attentionNorm: ("blk.{L}.attn_norm.weight", "model.layers.{L}.input_layernorm.weight")
        case .attentionQuery: ("blk.{L}.attn_q.weight", "model.layers.{L}.self_attn.q_proj.weight")
        case .attentionKey: ("blk.{L}.attn_k.weight", "model.layers.{L}.self_attn.k_proj.weight")
        case .attentionValue: ("blk.{L}.attn_v.weight", "model.layers.{L}.self_attn.v_proj.weight")
        case .attentionOutput: ("blk.{L}.attn_output.weight", "model.layers.{L}.self_attn.o_proj.weight")
        case .attentionQueryNorm: ("blk.{L}.attn_q_norm.weight", "model.layers.{L}.self_attn.q_norm.weight")
        case .attentionKeyNorm: ("blk.{L}.attn_k_norm.weight", "model.layers.{L}.self_attn.k_norm.weight")
        case .postAttentionNorm: ("blk.{L}.post_attention_norm.weight", "model.layers.{L}.post_attention_layernorm.weight")
        case .ffnNorm: ("blk.{L}.ffn_norm.weight", "model.layers.{L}.pre_feedforward_layernorm.weight")
        case .postFFNNorm: ("blk.{L}.post_ffw_norm.weight", "model.layers.{L}.post_feedforward_layernorm.weight")
        case .ffnGate: ("blk.{L}.ffn_gate.weight", "model.layers.{L}.mlp.gate_proj.weight")
        case .ffnUp: ("blk.{L}.ffn_up.weight", "model.layers.{L}.mlp.up_proj.weight")
        case .ffnDown: ("blk.{L}.ffn_down.weight", "model.layers.{L}.mlp.down_proj.weight")
        default: (nil, nil)
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
        case .attentionOutputNorm: ("blk.{L}.attn_output_norm.weight", "encoder.layer.{L}.attention.output.LayerNorm.weight")
        case .attentionOutputNormBias: ("blk.{L}.attn_output_norm.bias", "encoder.layer.{L}.attention.output.LayerNorm.bias")
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
        guard name.hasPrefix(prefix), name.hasSuffix(suffix), name.count > prefix.count + suffix.count else { return nil }
        let middle = name.dropFirst(prefix.count).dropLast(suffix.count)
        guard let layer = Int(middle), layer >= 0, String(layer) == middle else { return nil }
        return LayerMatch(value: layer)
    }

    private struct LayerMatch { let value: Int? }
}

import Foundation

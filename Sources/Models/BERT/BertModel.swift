import Autodiff
import Checkpoints
import TensorCore

/// BERT encoder (Devlin et al. 2019) as all-MiniLM-L6-v2 uses it: word + position + token-type
/// embeddings and LayerNorm, then post-norm blocks of bidirectional attention and a GELU FFN, then mean
/// pooling over real tokens and L2 normalisation for sentence embeddings. Port of modeling_bert.py and
/// sentence-transformers' Pooling + Normalize.
///
/// The FFN neuron site is gelu(W_in x), the input of W_out; neuron i owns row i of W_in, entry i of b_in
/// and column i of W_out.
public final class BertModel: @unchecked Sendable {
    public let config: BertConfig
    public let parameters: [String: Variable]
    let wordEmbedding, positionEmbedding, typeEmbedding, embeddingNorm, embeddingNormBias: Variable
    let layerWeights: [Layer]

    struct Layer {
        let query, queryBias, key, keyBias, value, valueBias, attentionOutput, attentionOutputBias: Variable
        let attentionNorm, attentionNormBias, ffnIn, ffnInBias, ffnOut, ffnOutBias, outputNorm, outputNormBias: Variable
    }

    public static func name(_ role: TensorRole, layer: Int? = nil) -> String {
        TensorNameMap.huggingFaceName(role, family: .bert, layer: layer)!
    }

    public static func ownership(_ layer: Int) -> FFNNeuronOwnership {
        FFNNeuronOwnership(rowOwned: [name(.ffnUp, layer: layer)], columnOwned: [name(.ffnDown, layer: layer)],
                           entryOwned: [name(.ffnUpBias, layer: layer)])
    }

    var ffnActivation: Activation {
        config.hiddenAct == "gelu_new" || config.hiddenAct == "gelu_pytorch_tanh" ? .geluTanh : .geluErf
    }

    init(config: BertConfig, weights: WeightSource, masks: [String: GradientMask] = [:]) throws {
        guard ["gelu", "gelu_new", "gelu_pytorch_tanh"].contains(config.hiddenAct) else {
            throw ModelError.badMetadata(key: "hidden_act", detail: "'\(config.hiddenAct)' is not a GELU")
        }
        self.config = config
        let (c, f) = (config.hiddenSize, config.intermediateSize)
        var parameters: [String: Variable] = [:]
        func load(_ role: TensorRole, _ layer: Int?, _ shape: [Int]) throws -> Variable {
            let name = Self.name(role, layer: layer)
            let variable = try weights.parameter(name, shape, mask: masks[name])
            parameters[name] = variable
            return variable
        }
        wordEmbedding = try load(.tokenEmbedding, nil, [config.vocabularySize, c])
        positionEmbedding = try load(.positionEmbedding, nil, [config.maxPositions, c])
        typeEmbedding = try load(.tokenTypeEmbedding, nil, [config.typeVocabularySize, c])
        embeddingNorm = try load(.embeddingNorm, nil, [c])
        embeddingNormBias = try load(.embeddingNormBias, nil, [c])
        layerWeights = try (0..<config.layers).map { l in
            Layer(query: try load(.attentionQuery, l, [c, c]), queryBias: try load(.attentionQueryBias, l, [c]),
                  key: try load(.attentionKey, l, [c, c]), keyBias: try load(.attentionKeyBias, l, [c]),
                  value: try load(.attentionValue, l, [c, c]), valueBias: try load(.attentionValueBias, l, [c]),
                  attentionOutput: try load(.attentionOutput, l, [c, c]),
                  attentionOutputBias: try load(.attentionOutputBias, l, [c]),
                  attentionNorm: try load(.attentionOutputNorm, l, [c]),
                  attentionNormBias: try load(.attentionOutputNormBias, l, [c]),
                  ffnIn: try load(.ffnUp, l, [f, c]), ffnInBias: try load(.ffnUpBias, l, [f]),
                  ffnOut: try load(.ffnDown, l, [c, f]), ffnOutBias: try load(.ffnDownBias, l, [c]),
                  outputNorm: try load(.layerOutputNorm, l, [c]),
                  outputNormBias: try load(.layerOutputNormBias, l, [c]))
        }
        // The pooler and the position_ids buffer are not part of the encoder that sentence-transformers runs.
        try weights.checkNoExtras(Set(parameters.keys), ignoring: [
            "embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias"
        ])
        self.parameters = parameters
    }

    /// Embeddings of the batch (token type 0 everywhere), with optional prefix rows that replace the word
    /// embeddings of the first P positions of every sequence (a soft prompt, with [CLS] as its first row).
    /// - prefix: [P, C] → [B·T, C]
    public func embed(_ batch: TokenBatch, prefix: Variable? = nil) throws -> Variable {
        let ids = batch.paddedIDs(pad: 0)
        for id in ids where id < 0 || Int(id) >= config.vocabularySize {
            throw ModelError.tokenOutOfRange(id: id, vocabulary: config.vocabularySize)
        }
        if batch.length > config.maxPositions {
            throw ModelError.contextTooLong(tokens: batch.length, limit: config.maxPositions)
        }
        var words = embedding(wordEmbedding, ids: ids)
        if let prefix, batch.prefix > 0 {
            precondition(prefix.shape == [batch.prefix, config.hiddenSize],
                         "prefix \(prefix.shape) is not [\(batch.prefix), \(config.hiddenSize)]")
            var parts: [Variable] = []
            for b in 0..<batch.batch {
                parts.append(prefix)
                parts.append(gatherRows(words, Array((b * batch.length + batch.prefix)..<((b + 1) * batch.length))))
            }
            words = concatRows(parts)
        }
        let positions = embedding(positionEmbedding, ids: batch.positions.map(Int32.init))
        let types = embedding(typeEmbedding, ids: [Int32](repeating: 0, count: batch.rows))
        return add(add(words, positions), types)
    }

    /// The word embedding of one token (for building prefixes that start with [CLS]). - → [1, C]
    public func wordEmbeddingRow(_ id: Int32) -> Tensor {
        let c = config.hiddenSize
        return Tensor(shape: [1, c], scalars: Array(wordEmbedding.value.scalars[(Int(id) * c)..<((Int(id) + 1) * c)]))
    }

    /// The encoder's last hidden state. - embeddings: [B·T, C] from `embed` → [B·T, C]
    public func forward(embeddings: Variable, batch: TokenBatch, hooks: HookSet = HookSet()) -> Variable {
        let (b, t, h, d) = (batch.batch, batch.length, config.heads, config.headDim)
        let eps = config.layerNormEps
        let keyMask = batch.isPadded ? batch.keyMask : nil
        var x = hooks.apply(HookName.embeddings,
                            layerNorm(embeddings, weight: embeddingNorm, bias: embeddingNormBias, eps: eps))
        for l in 0..<config.layers {
            let w = layerWeights[l]
            x = hooks.apply(HookName.residPre(l), x)
            let q = linear(x, weight: w.query, bias: w.queryBias), k = linear(x, weight: w.key, bias: w.keyBias)
            let v = linear(x, weight: w.value, bias: w.valueBias)
            let attentionConfig = AttentionConfig(batch: b, queries: t, heads: h, kvHeads: h, headDim: d, causal: false)
            let mixed = attention(query: q, key: k, value: v, config: attentionConfig,
                                  keyMask: keyMask)   // [B·T, H·D]
            let attended = hooks.apply(HookName.attentionOut(l),
                                       linear(mixed, weight: w.attentionOutput, bias: w.attentionOutputBias))
            x = layerNorm(add(x, attended), weight: w.attentionNorm, bias: w.attentionNormBias, eps: eps)
            let site = hooks.apply(HookName.mlpSite(l),
                                   activation(linear(x, weight: w.ffnIn, bias: w.ffnInBias), ffnActivation))
            let ffn = hooks.apply(HookName.mlpOut(l), linear(site, weight: w.ffnOut, bias: w.ffnOutBias))
            x = hooks.apply(HookName.residPost(l),
                            layerNorm(add(x, ffn), weight: w.outputNorm, bias: w.outputNormBias, eps: eps))
        }
        return x
    }

    /// Mean-pooled, L2-normalised sentence embeddings over each sequence's real tokens. - hidden: [B·T, C] → [B, C]
    public func sentenceEmbeddings(hidden: Variable, batch: TokenBatch) -> Variable {
        l2NormalizeRows(groupMeanRows(hidden, groups: (0..<batch.batch).map { batch.tokenRows($0) }))
    }
}

import Autodiff
import Checkpoints
import TensorCore

/// Llama (Touvron et al. 2023) as SmolLM2 uses it: pre-norm blocks of grouped-query attention with RoPE
/// and a SwiGLU FFN, RMSNorm, and an LM head tied to the embeddings when the file has no output.weight.
/// Port of transformers' modeling_llama.py. With `config.gemma` set it is Gemma 3 (modeling_gemma3.py):
/// see `GemmaOptions` for what that adds; Gemma's GGUF Q/K rows are not permuted, so RoPE is rotate-half.
///
/// Weights keep GGUF's names and layouts ([out, in]). llama.cpp stores Q and K with their rows permuted
/// for interleaved-pair RoPE, so this model applies RoPE in the interleaved layout; that is exactly
/// Hugging Face's rotate-half RoPE on the unpermuted rows (shared/golden/README.md).
public final class LlamaModel: @unchecked Sendable {
    public let config: LlamaConfig
    /// Every parameter by its GGUF name.
    public let parameters: [String: Variable]
    let layerWeights: [Layer]
    let tokenEmbedding: Variable      // [V, C]
    let outputNorm: Variable          // [C]
    let output: Variable              // [V, C], the embedding when tied

    struct Layer {
        let attentionNorm, query, key, value, attentionOutput: Variable   // [C], [H·D, C], [G·D, C], [G·D, C], [C, H·D]
        let ffnNorm, gate, up, down: Variable                             // [C], [F, C], [F, C], [C, F]
        // Gemma 3 only: per-head Q and K norms [D], and the norms after attention and after the FFN [C].
        var queryNorm, keyNorm, postAttentionNorm, postFFNNorm: Variable?
    }

    /// The GGUF names of layer `l`'s tensors, by role.
    public static func name(_ role: TensorRole, layer: Int? = nil) -> String {
        TensorNameMap.ggufName(role, family: .llama, layer: layer)!
    }

    /// Which parameters FFN neuron i of layer l owns: row i of W_gate and W_up, column i of W_down.
    public static func ownership(_ layer: Int) -> FFNNeuronOwnership {
        FFNNeuronOwnership(rowOwned: [name(.ffnGate, layer: layer), name(.ffnUp, layer: layer)], columnOwned: [name(.ffnDown, layer: layer)])
    }

    /// Builds the model from named Float32 tensors (verified: missing, extra or misshapen tensors are errors).
    init(config: LlamaConfig, weights: WeightSource, masks: [String: GradientMask] = [:]) throws {
        self.config = config
        let (c, f, v) = (config.hiddenSize, config.intermediateSize, config.vocabularySize)
        let (q, kv, d) = (config.heads * config.headDim, config.kvHeads * config.headDim, config.headDim)
        var parameters: [String: Variable] = [:]
        func load(_ role: TensorRole, _ layer: Int?, _ shape: [Int]) throws -> Variable {
            let name = TensorNameMap.ggufName(role, family: config.family, layer: layer)!
            let variable = try weights.parameter(name, shape, mask: masks[name])
            parameters[name] = variable
            return variable
        }
        tokenEmbedding = try load(.tokenEmbedding, nil, [v, c])
        outputNorm = try load(.outputNorm, nil, [c])
        output = config.tiedEmbeddings ? tokenEmbedding : try load(.output, nil, [v, c])
        layerWeights = try (0..<config.layers).map { l in
            var layer = Layer(attentionNorm: try load(.attentionNorm, l, [c]), query: try load(.attentionQuery, l, [q, c]),
                              key: try load(.attentionKey, l, [kv, c]), value: try load(.attentionValue, l, [kv, c]),
                              attentionOutput: try load(.attentionOutput, l, [c, q]), ffnNorm: try load(.ffnNorm, l, [c]),
                              gate: try load(.ffnGate, l, [f, c]), up: try load(.ffnUp, l, [f, c]), down: try load(.ffnDown, l, [c, f]))
            if config.gemma != nil {
                layer.queryNorm = try load(.attentionQueryNorm, l, [d])
                layer.keyNorm = try load(.attentionKeyNorm, l, [d])
                layer.postAttentionNorm = try load(.postAttentionNorm, l, [c])
                layer.postFFNNorm = try load(.postFFNNorm, l, [c])
            }
            return layer
        }
        try weights.checkNoExtras(Set(parameters.keys))
        self.parameters = parameters
    }

    // MARK: - Forward

    /// Token embeddings of the batch, with an optional prefix (soft prompt) before every sequence.
    /// - prefix: [P, C], shared by all sequences → [B·T, C]
    public func embed(_ batch: TokenBatch, prefix: Variable? = nil) throws -> Variable {
        let ids = batch.paddedIDs(pad: 0)
        for id in ids where id < 0 || Int(id) >= config.vocabularySize { throw ModelError.tokenOutOfRange(id: id, vocabulary: config.vocabularySize) }
        if batch.length == 0 { throw ModelError.emptyInput }
        var tokens = embedding(tokenEmbedding, ids: ids)
        if let s = embeddingScale { tokens = scale(tokens, by: s) }
        guard let prefix, batch.prefix > 0 else { return tokens }
        precondition(prefix.shape == [batch.prefix, config.hiddenSize], "prefix \(prefix.shape) is not [\(batch.prefix), \(config.hiddenSize)]")
        // Row b·T + t takes prefix row t for t < P, else its token embedding.
        var parts: [Variable] = []
        for b in 0..<batch.batch {
            parts.append(prefix)
            parts.append(gatherRows(tokens, Array((b * batch.length + batch.prefix)..<((b + 1) * batch.length))))
        }
        return concatRows(parts)
    }

    /// The embedding row of one token (for prefixes that start with BOS, or prompt initialisation). - → [1, C]
    /// Gemma scales token embeddings (not a soft prompt passed in as embeddings) by √C; rows are scaled the same way.
    public func embeddingRow(_ id: Int32) -> Tensor {
        let c = config.hiddenSize
        let row = tokenEmbedding.value.scalars[(Int(id) * c)..<((Int(id) + 1) * c)]
        return Tensor(shape: [1, c], scalars: embeddingScale.map { s in row.map { $0 * s } } ?? Array(row))
    }

    /// √C for Gemma, rounded to float32 as transformers' `embed_scale` is; nil for Llama.
    var embeddingScale: Float? { config.gemma == nil ? nil : Float(Double(config.hiddenSize).squareRoot()) }

    public struct Output {
        /// [rows, V]: logits of the rows asked for (all rows by default).
        public let logits: Variable?
        /// [B·T, C]: the final norm's output.
        public let hidden: Variable
    }

    /// Runs the blocks and the head.
    /// - embeddings: [B·T, C] from `embed` (or any differentiable input of that shape)
    /// - logitRows: rows whose logits are needed; nil for all, [] for none (the LM head is the largest matmul)
    /// - firstLayer: start at this block; `embeddings` is then the residual stream entering it (as read at
    ///   `blocks.L.resid.pre` in an earlier pass of the same batch). Interventions that begin at layer L
    ///   reuse the unchanged layers below it this way, with results bit-identical to a full pass.
    public func forward(embeddings: Variable, batch: TokenBatch, hooks: HookSet = HookSet(), logitRows: [Int]? = nil, firstLayer: Int = 0) -> Output {
        precondition(firstLayer >= 0 && firstLayer < config.layers, "forward: first layer \(firstLayer) outside 0..<\(config.layers)")
        let tables = ropeTables(batch.positions)
        let keyMask = batch.isPadded ? batch.keyMask : nil
        var x = firstLayer == 0 ? hooks.apply(HookName.embeddings, embeddings) : embeddings
        for l in firstLayer..<config.layers {
            x = block(l, x, batch: batch, table: tables.of(l), keyMask: keyMask, hooks: hooks, cache: nil)
        }
        let hidden = hooks.apply(HookName.finalNorm, rmsNorm(x, weight: outputNorm, eps: config.rmsNormEps))
        if let logitRows, logitRows.isEmpty { return Output(logits: nil, hidden: hidden) }
        let head = logitRows.map { gatherRows(hidden, $0) } ?? hidden
        return Output(logits: lmHead(head), hidden: hidden)
    }

    /// The tied (or separate) output projection, soft-capped when the config says so. - [N, C] → [N, V]
    func lmHead(_ hidden: Variable) -> Variable {
        let logits = linear(hidden, weight: output)
        if let cap = config.gemma?.finalLogitSoftcap { return softCap(logits, cap: cap) }
        return logits
    }

    /// RoPE tables for the positions: one base for Llama; Gemma's global and sliding-window layers each have their own.
    struct Tables {
        let global: RoPETable, local: RoPETable?, gemma: GemmaOptions?
        func of(_ layer: Int) -> RoPETable {
            guard let gemma, let local, !gemma.isGlobal(layer) else { return global }
            return local
        }
    }

    func ropeTables(_ positions: [Int]) -> Tables {
        let global = RoPETable(positions: positions, rotaryDims: config.headDim, base: config.ropeTheta)
        guard let gemma = config.gemma else { return Tables(global: global, local: nil, gemma: nil) }
        return Tables(global: global, local: RoPETable(positions: positions, rotaryDims: config.headDim, base: gemma.localRopeTheta), gemma: gemma)
    }

    /// One pre-norm block: x + attn(norm(x)), then + ffn(norm(·)).
    func block(_ l: Int, _ input: Variable, batch: TokenBatch, table: RoPETable, keyMask: [Bool]?, hooks: HookSet, cache: KVCache?) -> Variable {
        let w = layerWeights[l]
        let (h, g, d) = (config.heads, config.kvHeads, config.headDim)
        let (b, t) = (batch.batch, batch.length)
        let x = hooks.apply(HookName.residPre(l), input)
        let normed = rmsNorm(x, weight: w.attentionNorm, eps: config.rmsNormEps)
        let gemma = config.gemma
        let layout: RoPELayout = gemma == nil ? .interleaved : .rotateHalf
        // Gemma normalises each head of Q and K before RoPE: [B·T, H·D] seen as [B·T·H, D].
        func headNorm(_ y: Variable, _ weight: Variable?, heads: Int) -> Variable {
            guard let weight else { return y }
            return reshape(rmsNorm(reshape(y, [b * t * heads, d]), weight: weight, eps: config.rmsNormEps), [b * t, heads * d])
        }
        let q = rope(headNorm(linear(normed, weight: w.query), w.queryNorm, heads: h), table: table, layout: layout, heads: h, headDim: d)
        var k = rope(headNorm(linear(normed, weight: w.key), w.keyNorm, heads: g), table: table, layout: layout, heads: g, headDim: d)
        var v = linear(normed, weight: w.value)
        var keys = t
        if let cache {
            (k, v) = cache.append(layer: l, keys: k, values: v)
            keys = cache.length(layer: l)
        }
        let window = gemma.flatMap { $0.isGlobal(l) ? nil : $0.slidingWindow }
        let scale = gemma.map { Float(1 / $0.queryPreAttentionScalar.squareRoot()) }
        let attentionConfig = AttentionConfig(batch: b, queries: t, keys: keys, heads: h, kvHeads: g, headDim: d, causal: true, window: window, scale: scale)
        let mixed = attention(query: q, key: k, value: v, config: attentionConfig, keyMask: keyMask)   // [B·T, H·D]
        var projected = linear(mixed, weight: w.attentionOutput)
        if let post = w.postAttentionNorm { projected = rmsNorm(projected, weight: post, eps: config.rmsNormEps) }
        let attended = hooks.apply(HookName.attentionOut(l), projected)
        let afterAttention = add(x, attended)
        let normed2 = rmsNorm(afterAttention, weight: w.ffnNorm, eps: config.rmsNormEps)
        let activation: Activation = gemma == nil ? .silu : .geluTanh
        let site = hooks.apply(HookName.mlpSite(l), gatedSite(gate: linear(normed2, weight: w.gate), up: linear(normed2, weight: w.up), activation: activation))
        var down = linear(site, weight: w.down)
        if let post = w.postFFNNorm { down = rmsNorm(down, weight: post, eps: config.rmsNormEps) }
        let ffn = hooks.apply(HookName.mlpOut(l), down)
        return hooks.apply(HookName.residPost(l), add(afterAttention, ffn))
    }
}

/// Mean next-token cross-entropy: row t of each sequence predicts token t + 1; the last token, the
/// padding and the prefix predict nothing. - logits: [B·T, V] for every row
public func nextTokenLoss(logits: Variable, batch: TokenBatch) -> Variable {
    var targets = [Int32](repeating: -1, count: batch.rows)
    for (b, sequence) in batch.sequences.enumerated() where sequence.count > 1 {
        for t in 0..<(sequence.count - 1) { targets[b * batch.length + batch.prefix + t] = sequence[t + 1] }
    }
    return crossEntropy(logits, targets: targets)
}

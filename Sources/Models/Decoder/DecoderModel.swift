import Autodiff
import Checkpoints
import Foundation
import TensorCore

/// One decoder for every family: Llama 2/3, Mistral, Qwen2/3, Phi-3, Gemma 2/3, GPT-2 and GPT-NeoX are
/// the same skeleton with different switches, and `DecoderConfig` holds the switches. A port of the
/// transformers modeling files of those families; shared/golden/families checks each one.
///
///   x₀ = embed(ids)·s (+ W_pos[p])                                    [N, C], N = B·T
///   block l:  a = post(Attn(N₁(x)))        m = post(FFN(N₂(·)))
///             sequential: h = x + a, y = h + m(h)     parallel: y = m(x) + a + x
///   logits = cap·tanh(W_out·N_f(x_L) / cap)                             [N, V]
///   Attn: Q, K, V = x·W_q, x·W_k, x·W_v (one fused product where stored so), QK-norm, RoPE,
///         softmax(scale·QKᵀ, soft-capped, causal, windowed)·V·W_o
///   FFN:  site = act(x·W_gate)·(x·W_up)   or   act(x·W_in + b)          [N, F]   ← the neuron site
///         out  = site·W_down (+ b)
///
/// Weights keep GGUF's names and layouts ([out, in]) whatever the file: a Hugging Face folder is mapped
/// onto them by pure rearrangements (`HuggingFaceLayout`), so either source computes the same thing.
public final class DecoderModel: @unchecked Sendable {
    public let config: DecoderConfig
    /// Every parameter by its GGUF name.
    public let parameters: [String: Variable]
    let layerWeights: [Layer]
    /// Each block's parameters, for recomputation.
    let layerParameters: [[Variable]]
    let tokenEmbedding: Variable      // [V, C]
    let positionEmbedding: Variable?  // [context, C], learned positions only
    let outputNorm: NormWeights       // [C]
    let output: Variable              // [V, C], the embedding when tied
    /// The config.json of the Hugging Face folder the model came from, written back by its export.
    public internal(set) var huggingFaceConfig: Data?

    struct NormWeights { let weight: Variable, bias: Variable? }

    struct Layer {
        let attentionNorm: NormWeights
        /// [H·D + 2·G·D, C] when fused; else Q [H·D, C], K and V [G·D, C] (with their biases when present).
        var qkv: Variable?, qkvBias: Variable?
        var query: Variable?, key: Variable?, value: Variable?,
            queryBias: Variable?, keyBias: Variable?, valueBias: Variable?
        let attentionOutput: Variable, attentionOutputBias: Variable?     // [C, H·D]
        var queryNorm: Variable?, keyNorm: Variable?                      // [D]
        var postAttentionNorm: NormWeights?, postFFNNorm: NormWeights?
        let ffnNorm: NormWeights
        /// [F, C]; nil for plain MLPs and for fused gate_up, where `up` is [2F, C] with the gate rows first.
        var gate: Variable?, gateBias: Variable?
        let up: Variable, upBias: Variable?
        let down: Variable, downBias: Variable?                           // [C, F]
    }

    /// The GGUF name of a decoder tensor.
    public static func name(_ role: TensorRole, layer: Int? = nil) -> String {
        TensorNameMap.decoderName(role, layer: layer)
    }

    /// Builds the model from named Float32 tensors (verified: missing, extra or misshapen tensors are errors).
    init(config: DecoderConfig, weights: WeightSource, masks: [String: GradientMask] = [:]) throws {
        self.config = config
        let (c, f, v) = (config.hiddenSize, config.intermediateSize, config.vocabularySize)
        let (q, kv, d) = (config.heads * config.headDim, config.kvHeads * config.headDim, config.headDim)
        var parameters: [String: Variable] = [:]
        func load(_ role: TensorRole, _ layer: Int?, _ shape: [Int]) throws -> Variable {
            let name = Self.name(role, layer: layer)
            let variable = try weights.parameter(name, shape, mask: masks[name])
            parameters[name] = variable
            return variable
        }
        func load(_ role: TensorRole, _ layer: Int?, _ shape: [Int], if present: Bool) throws -> Variable? {
            present ? try load(role, layer, shape) : nil
        }
        func norm(_ weight: TensorRole, _ bias: TensorRole, _ layer: Int?) throws -> NormWeights {
            NormWeights(weight: try load(weight, layer, [c]), bias: try load(bias, layer, [c], if: config.norm.bias))
        }
        let a = config.attention, mlp = config.ffn
        tokenEmbedding = try load(.tokenEmbedding, nil, [v, c])
        positionEmbedding = try load(.positionEmbedding, nil,
                                     [weights.shapes[Self.name(.positionEmbedding)]?.first ?? config.contextLength, c],
                                     if: config.rope == nil)
        outputNorm = try norm(.outputNorm, .outputNormBias, nil)
        output = config.tiedEmbeddings ? tokenEmbedding : try load(.output, nil, [v, c])
        layerWeights = try (0..<config.layers).map { l in
            var layer = Layer(
                attentionNorm: try norm(.attentionNorm, .attentionNormBias, l),
                attentionOutput: try load(.attentionOutput, l, [c, q]),
                attentionOutputBias: try load(.attentionOutputBias, l, [c], if: a.outputBias),
                ffnNorm: try norm(.ffnNorm, .ffnNormBias, l),
                up: try load(.ffnUp, l, [mlp.fusedGateUp ? 2 * f : f, c]),
                upBias: try load(.ffnUpBias, l, [f], if: mlp.bias && !mlp.fusedGateUp),
                down: try load(.ffnDown, l, [c, f]),
                downBias: try load(.ffnDownBias, l, [c], if: mlp.bias))
            if a.fusedQKV {
                layer.qkv = try load(.attentionQKV, l, [q + 2 * kv, c])
                layer.qkvBias = try load(.attentionQKVBias, l, [q + 2 * kv], if: a.qkvBias)
            } else {
                layer.query = try load(.attentionQuery, l, [q, c])
                layer.key = try load(.attentionKey, l, [kv, c])
                layer.value = try load(.attentionValue, l, [kv, c])
                layer.queryBias = try load(.attentionQueryBias, l, [q], if: a.qkvBias)
                layer.keyBias = try load(.attentionKeyBias, l, [kv], if: a.qkvBias)
                layer.valueBias = try load(.attentionValueBias, l, [kv], if: a.qkvBias)
            }
            if a.qkNorm {
                layer.queryNorm = try load(.attentionQueryNorm, l, [d])
                layer.keyNorm = try load(.attentionKeyNorm, l, [d])
            }
            if config.norm.sandwich {
                layer.postAttentionNorm = NormWeights(weight: try load(.postAttentionNorm, l, [c]), bias: nil)
                layer.postFFNNorm = NormWeights(weight: try load(.postFFNNorm, l, [c]), bias: nil)
            }
            if mlp.gated && !mlp.fusedGateUp {
                layer.gate = try load(.ffnGate, l, [f, c])
                layer.gateBias = try load(.ffnGateBias, l, [f], if: mlp.bias)
            }
            return layer
        }
        // llama.cpp's Llama 3.1 scaling divisors are configuration, read into `config.rope`.
        try weights.checkNoExtras(Set(parameters.keys), ignoring: [Self.name(.ropeFrequencies)])
        self.parameters = parameters
        layerParameters = (0..<config.layers).map { l in
            parameters.filter { $0.key.hasPrefix("blk.\(l).") }.sorted { $0.key < $1.key }.map(\.value)
        }
    }

    // MARK: - Forward

    /// Token embeddings of the batch (times the family's scale), with an optional prefix (soft prompt)
    /// before every sequence. Learned positions are added by `forward`. - prefix: [P, C] → [B·T, C]
    public func embed(_ batch: TokenBatch, prefix: Variable? = nil) throws -> Variable {
        let ids = batch.paddedIDs(pad: 0)
        for id in ids where id < 0 || Int(id) >= config.vocabularySize {
            throw ModelError.tokenOutOfRange(id: id, vocabulary: config.vocabularySize)
        }
        if batch.length == 0 { throw ModelError.emptyInput }
        try checkPositions(batch.length)
        var tokens = embedding(tokenEmbedding, ids: ids)
        if let s = config.embeddingScale { tokens = scale(tokens, by: s) }
        guard let prefix, batch.prefix > 0 else { return tokens }
        precondition(prefix.shape == [batch.prefix, config.hiddenSize],
                     "prefix \(prefix.shape) is not [\(batch.prefix), \(config.hiddenSize)]")
        // Row b·T + t takes prefix row t for t < P, else its token embedding.
        var parts: [Variable] = []
        for b in 0..<batch.batch {
            parts.append(prefix)
            parts.append(gatherRows(tokens, Array((b * batch.length + batch.prefix)..<((b + 1) * batch.length))))
        }
        return concatRows(parts)
    }

    /// The embedding row of one token (for prefixes that start with BOS, or prompt initialisation). - → [1, C]
    /// Scaled as `embed` scales token embeddings (Gemma's √C).
    public func embeddingRow(_ id: Int32) -> Tensor {
        let row = embedding(tokenEmbedding, ids: [id]).value
        return config.embeddingScale.map { s in Tensor(shape: row.shape, scalars: row.scalars.map { $0 * s }) } ?? row
    }

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
    public func forward(embeddings: Variable, batch: TokenBatch, hooks: HookSet = HookSet(), logitRows: [Int]? = nil,
                        firstLayer: Int = 0) -> Output {
        precondition(firstLayer >= 0 && firstLayer < config.layers,
                     "forward: first layer \(firstLayer) outside 0..<\(config.layers)")
        let positions = batch.positions
        let tables = ropeTables(positions)
        let keyMask = batch.isPadded ? batch.keyMask : nil
        var x = firstLayer == 0 ? hooks.apply(HookName.embeddings, addPositions(embeddings, positions)) : embeddings
        // Training a large model at a large batch would keep every block's activations for the backward:
        // past `recomputeThresholdBytes`, blocks keep only their input and run again in the backward.
        // Hooks could see a block twice, so a pass with hooks never recomputes.
        let recompute = hooks.isEmpty && savedActivationBytes(rows: batch.rows) > recomputeThresholdBytes
        for l in firstLayer..<config.layers {
            let table = tables.of(l)
            if recompute {
                x = recomputed(x, trainable: layerParameters[l]) { [self] in
                    block(l, $0, batch: batch, table: table, keyMask: keyMask, hooks: HookSet(), cache: nil)
                }
            } else {
                x = block(l, x, batch: batch, table: table, keyMask: keyMask, hooks: hooks, cache: nil)
            }
        }
        let hidden = hooks.apply(HookName.finalNorm, norm(x, outputNorm))
        if let logitRows, logitRows.isEmpty { return Output(logits: nil, hidden: hidden) }
        let head = logitRows.map { gatherRows(hidden, $0) } ?? hidden
        return Output(logits: lmHead(head), hidden: hidden)
    }

    /// Activations a training pass keeps for its backward beyond which blocks are recomputed (1 GiB:
    /// SmolLM2's step at 8 × 64 tokens keeps 0.7 GB and is not affected; a 7B model's would keep 5 GB).
    public var recomputeThresholdBytes = 1 << 30

    /// About what a training pass keeps per row: a block's inputs, norms, projections and attention
    /// output (8 × C) and the FFN's gate, up, site and activation (4 × F), in Float32.
    public func savedActivationBytes(rows: Int) -> Int {
        4 * rows * config.layers * (8 * config.hiddenSize + 4 * config.intermediateSize)
    }

    /// Learned positions exist only up to the table's length: beyond it there is no position to add.
    func checkPositions(_ count: Int) throws {
        if let table = positionEmbedding, count > table.shape[0] {
            throw ModelError.contextTooLong(tokens: count, limit: table.shape[0])
        }
    }

    /// Learned absolute positions (GPT-2): x + W_pos[p]. Rotary models add nothing here.
    func addPositions(_ x: Variable, _ positions: [Int]) -> Variable {
        guard let positionEmbedding else { return x }
        return add(x, embedding(positionEmbedding, ids: positions.map { Int32($0) }))
    }

    /// The tied (or separate) output projection, soft-capped when the config says so. - [N, C] → [N, V]
    func lmHead(_ hidden: Variable) -> Variable {
        let logits = linear(hidden, weight: output)
        if let cap = config.finalLogitSoftcap { return softCap(logits, cap: cap) }
        return logits
    }

    /// RMSNorm (with the family's weight offset) or LayerNorm, as the config says.
    func norm(_ x: Variable, _ w: NormWeights) -> Variable {
        switch config.norm.kind {
        case .rms: rmsNorm(x, weight: w.weight, eps: config.norm.eps, weightOffset: config.norm.weightOffset)
        case .layer: layerNorm(x, weight: w.weight, bias: w.bias, eps: config.norm.eps)
        }
    }

    /// RoPE tables for the positions: global layers' and, where its base differs, sliding-window layers'.
    struct Tables {
        let global: RoPETable?, local: RoPETable?, windows: [Int?]
        func of(_ layer: Int) -> RoPETable? { windows[layer] != nil ? (local ?? global) : global }
    }

    func ropeTables(_ positions: [Int]) -> Tables {
        guard let rope = config.rope else { return Tables(global: nil, local: nil, windows: config.attention.windows) }
        let global = DecoderConfig.inverseFrequencies(rotaryDims: rope.rotaryDims,
                                                      base: rope.base, scaling: rope.scaling)
        let local = rope.localBase.map {
            DecoderConfig.inverseFrequencies(rotaryDims: rope.rotaryDims, base: $0, scaling: .none)
        }
        return Tables(global: RoPETable(positions: positions, inverseFrequencies: global),
                      local: local.map { RoPETable(positions: positions, inverseFrequencies: $0) },
                      windows: config.attention.windows)
    }

    /// One block: attention and FFN around the residual stream, sequential or parallel.
    func block(_ l: Int, _ input: Variable, batch: TokenBatch, table: RoPETable?, keyMask: [Bool]?,
               hooks: HookSet, cache: KVCache?) -> Variable {
        let w = layerWeights[l]
        let x = hooks.apply(HookName.residPre(l), input)
        let attended = hooks.apply(HookName.attentionOut(l),
                                   selfAttention(l, norm(x, w.attentionNorm), batch: batch, table: table,
                                                 keyMask: keyMask, cache: cache))
        if config.parallelResidual {
            let ffn = feedForward(l, norm(x, w.ffnNorm), hooks: hooks)
            return hooks.apply(HookName.residPost(l), add(add(ffn, attended), x))
        }
        let afterAttention = add(x, attended)
        let ffn = feedForward(l, norm(afterAttention, w.ffnNorm), hooks: hooks)
        return hooks.apply(HookName.residPost(l), add(afterAttention, ffn))
    }

    /// Attention of the normed stream, projected back to C (and post-normed where the family does).
    func selfAttention(_ l: Int, _ x: Variable, batch: TokenBatch, table: RoPETable?, keyMask: [Bool]?,
                       cache: KVCache?) -> Variable {
        let w = layerWeights[l]
        let (h, g, d) = (config.heads, config.kvHeads, config.headDim)
        let (b, t) = (batch.batch, batch.length)
        var (q, k, v) = projections(w, x)
        // QK-norm: RMSNorm over each head, [B·T, H·D] seen as [B·T·H, D].
        func headNorm(_ y: Variable, _ weight: Variable?, heads: Int) -> Variable {
            guard let weight else { return y }
            return reshape(rmsNorm(reshape(y, [b * t * heads, d]), weight: weight, eps: config.norm.eps,
                                   weightOffset: config.norm.weightOffset),
                           [b * t, heads * d])
        }
        q = headNorm(q, w.queryNorm, heads: h)
        k = headNorm(k, w.keyNorm, heads: g)
        if let table, let layout = config.rope?.layout {
            q = rope(q, table: table, layout: layout, heads: h, headDim: d)
            k = rope(k, table: table, layout: layout, heads: g, headDim: d)
        }
        var keys = t
        if let cache {
            (k, v) = cache.append(layer: l, keys: k, values: v)
            keys = cache.length(layer: l)
        }
        let a = config.attention
        let shape = AttentionConfig(batch: b, queries: t, keys: keys, heads: h, kvHeads: g, headDim: d, causal: true,
                                    window: a.windows[l], scale: a.scale, softcap: a.softcap)
        let mixed = attention(query: q, key: k, value: v, config: shape, keyMask: keyMask)   // [B·T, H·D]
        let projected = linear(mixed, weight: w.attentionOutput, bias: w.attentionOutputBias)
        return w.postAttentionNorm.map { norm(projected, $0) } ?? projected
    }

    /// Q, K and V: three products, or one fused product split by columns. → [N, H·D], [N, G·D], [N, G·D]
    func projections(_ w: Layer, _ x: Variable) -> (Variable, Variable, Variable) {
        guard let qkv = w.qkv else {
            return (linear(x, weight: w.query!, bias: w.queryBias), linear(x, weight: w.key!, bias: w.keyBias),
                    linear(x, weight: w.value!, bias: w.valueBias))
        }
        let (q, kv) = (config.heads * config.headDim, config.kvHeads * config.headDim)
        let fused = linear(x, weight: qkv, bias: w.qkvBias)
        return (sliceColumns(fused, 0..<q), sliceColumns(fused, q..<(q + kv)),
                sliceColumns(fused, (q + kv)..<(q + 2 * kv)))
    }

    /// The FFN of the normed stream; its neuron site is the input of W_down.
    func feedForward(_ l: Int, _ x: Variable, hooks: HookSet) -> Variable {
        let w = layerWeights[l], mlp = config.ffn, f = config.intermediateSize
        let site: Variable
        if !mlp.gated {
            site = activation(linear(x, weight: w.up, bias: w.upBias), mlp.activation)
        } else if mlp.fusedGateUp {
            let both = linear(x, weight: w.up)
            site = gatedSite(gate: sliceColumns(both, 0..<f), up: sliceColumns(both, f..<(2 * f)),
                             activation: mlp.activation)
        } else {
            site = gatedSite(gate: linear(x, weight: w.gate!, bias: w.gateBias),
                             up: linear(x, weight: w.up, bias: w.upBias), activation: mlp.activation)
        }
        let down = linear(hooks.apply(HookName.mlpSite(l), site), weight: w.down, bias: w.downBias)
        return hooks.apply(HookName.mlpOut(l), w.postFFNNorm.map { norm(down, $0) } ?? down)
    }
}

extension DecoderConfig {
    /// Which parameters FFN neuron i of layer l owns (the hook site is always W_down's input):
    /// - gated: row i of W_gate and W_up (and their bias entries), column i of W_down;
    /// - fused gate_up (Phi-3): rows i and F+i of the [2F, C] tensor, column i of W_down;
    /// - plain (GPT-2, NeoX): row i of W_in and entry i of its bias, column i of W_out.
    public func ownership(_ l: Int) -> FFNNeuronOwnership {
        let name = { (role: TensorRole) in TensorNameMap.decoderName(role, layer: l) }
        let down = [name(.ffnDown)]
        if ffn.fusedGateUp { return FFNNeuronOwnership(rowOwned: [], columnOwned: down, halvesOwned: [name(.ffnUp)]) }
        let rows = ffn.gated ? [name(.ffnGate), name(.ffnUp)] : [name(.ffnUp)]
        let biases = !ffn.bias ? [] : ffn.gated ? [name(.ffnGateBias), name(.ffnUpBias)] : [name(.ffnUpBias)]
        return FFNNeuronOwnership(rowOwned: rows, columnOwned: down, entryOwned: biases)
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

import Testing
import Foundation
import Autodiff
import Checkpoints
import Models
import Optimizers
import TensorCore
import TestSupport

/// A model whose weights stay in their file's format computes exactly what the same file decoded to
/// Float32 at load computes: logits, every FFN site, the gradients of a soft prompt and of trainable
/// neurons, and the model after an AdamW step.
@Suite(.serialized) struct StoredWeightsTests {
    /// Everything a pass produces that the pipeline reads, as bit patterns.
    struct Pass: Equatable {
        var logits: [UInt32] = [], sites: [UInt32] = [], prefixGradient: [UInt32] = [], neuronGradients: [String: [UInt32]] = [:]
        var logitsAfterStep: [UInt32] = [], decodingStep: [UInt32] = []
    }

    static func bits(_ t: Tensor) -> [UInt32] { t.scalars.map(\.bitPattern) }

    /// A padded batch of two sequences behind a 3-token soft prompt; next-token loss; one AdamW step.
    static func pass(_ path: String, storage: WeightStorage, neurons: NeuronSelection, sequences: [[Int32]], recompute: Bool = false) throws -> Pass {
        let loaded = try ModelLoader.load(path, trainableNeurons: neurons, storage: storage)
        guard case .decoder(let model) = loaded.model else { throw ModelError.emptyInput }
        if recompute { model.recomputeThresholdBytes = 0 }
        if storage == .asStored {
            let encoded = model.parameters.values.filter { $0.encoded != nil }
            #expect(!encoded.isEmpty, "a quantized file keeps its weights encoded")
            for p in encoded { #expect(p.value.count == (p.mask.map { $0.indices.count * $0.sliceLength } ?? 0), "\(p.name!) holds only its slices") }
        }
        let batch = TokenBatch(sequences, prefix: 3)
        var rng = SeededRandom(seed: 5)
        let prefix = Variable(Tensor(randomNormal: [3, model.config.hiddenSize], std: 0.02, using: &rng), requiresGrad: true)
        var result = Pass()
        var hooks = HookSet()
        var sites: [Int: Tensor] = [:]
        if !recompute { for l in 0..<model.config.layers { hooks.collect(HookName.mlpSite(l)) { sites[l] = $0 } } }
        let logits = model.forward(embeddings: try model.embed(batch, prefix: prefix), batch: batch, hooks: hooks).logits!
        result.logits = bits(logits.value)
        result.sites = sites.isEmpty ? [] : (0..<model.config.layers).flatMap { bits(sites[$0]!) }
        // A decoding step's few rows go through the row products, reading untrained weights' blocks in place.
        let step = TokenBatch([[sequences[0][0]], [sequences[1][0]]])
        result.decodingStep = bits(model.forward(embeddings: try model.embed(step), batch: step).logits!.value)
        nextTokenLoss(logits: logits, batch: batch).backward()
        result.prefixGradient = bits(prefix.grad!)
        let trainable = model.parameters.values.filter { $0.mask != nil }
        for p in trainable { result.neuronGradients[p.name!] = bits(p.maskedGrad!) }
        AdamW(parameters: trainable, learningRate: 0.01, weightDecay: 0.1).step()
        result.logitsAfterStep = bits(model.forward(embeddings: try model.embed(batch), batch: batch).logits!.value)
        return result
    }

    static func expectSame(_ path: String, neurons: NeuronSelection, sequences: [[Int32]]) throws {
        let stored = try pass(path, storage: .asStored, neurons: neurons, sequences: sequences)
        let float32 = try pass(path, storage: .float32, neurons: neurons, sequences: sequences)
        #expect(stored.logits == float32.logits, "logits")
        #expect(stored.sites == float32.sites, "FFN sites")
        #expect(stored.prefixGradient == float32.prefixGradient, "soft-prompt gradient")
        #expect(stored.neuronGradients == float32.neuronGradients, "trainable neurons' gradients")
        #expect(stored.logitsAfterStep == float32.logitsAfterStep, "logits after an AdamW step")
        #expect(stored.decodingStep == float32.decodingStep, "a decoding step's logits")
        // Recomputing every block in the backward (gradient checkpointing) changes no bit either.
        var recomputed = try pass(path, storage: .asStored, neurons: neurons, sequences: sequences, recompute: true)
        recomputed.sites = stored.sites
        #expect(recomputed == stored, "recomputed blocks")
    }

    @Test(.enabled(if: Fixtures.has("smollm2"), Fixtures.missingReason("smollm2")))
    func smolLM2InQ4_1() throws {
        try Self.expectSame(Fixtures.checkpoint("smollm2"), neurons: NeuronSelection([3: [0, 700, 1535], 29: [12]]),
                            sequences: [[1, 504, 3457, 28, 253], [1, 1030]])
    }

    @Test(.enabled(if: Fixtures.has("gemma3"), Fixtures.missingReason("gemma3")))
    func gemma3InQ4_K_M() throws {
        try Self.expectSame(Fixtures.checkpoint("gemma3"), neurons: NeuronSelection([0: [1, 2047], 17: [999]]),
                            sequences: [[2, 9259, 1902, 563], [2, 818]])
    }

    /// Every block format Scalpel reads, one per tensor of a tiny Llama whose rows are whole K-blocks.
    @Test func everyFormatOnATinyModel() throws {
        let config = TinyModels.llamaConfig(layers: 2, hidden: 256, heads: 4, kvHeads: 2, ffn: 512, vocabulary: 300)
        let tensors = TinyModels.llamaTensors(config, seed: 9)
        let types: [GGMLType] = [.q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .f16, .bf16]
        var used = Set<GGMLType>()
        let matrices = tensors.keys.filter { tensors[$0]!.rank == 2 }.sorted()
        let url = try Fixtures.scratchDirectory().appendingPathComponent("all-types.gguf")
        try TinyModels.writeLlamaGGUF(url, tensors: tensors, config: config) { name, tensor in
            guard let index = matrices.firstIndex(of: name) else { return nil }
            let type = types[index % types.count]
            used.insert(type)
            return (type, try [.q4_0, .q4_1, .q5_0, .q8_0, .f16, .bf16].contains(type)
                    ? quantize(tensor.scalars, to: type) : randomQuantizedBlocks(type, elements: tensor.count, seed: UInt64(index)))
        }
        #expect(used.count == types.count, "the model has a tensor of every type")
        try Self.expectSame(url.path, neurons: NeuronSelection([0: [0, 511], 1: [200]]), sequences: [[1, 2, 3, 250, 7], [5, 6]])
    }
}

import Testing
import Foundation
import Autodiff
import Checkpoints
import Models
import TensorCore
import TestSupport
import Tokenizers

@Suite struct TinyLlamaTests {
    let ids: [[Int32]] = [[3, 14, 15, 9, 2, 6], [5, 35, 8]]

    func logits(_ model: DecoderModel, _ batch: TokenBatch, hooks: HookSet = HookSet()) throws -> Tensor {
        model.forward(embeddings: try model.embed(batch), batch: batch, hooks: hooks).logits!.value
    }

    /// The whole model, end to end through autodiff: the loss's gradient with respect to the input
    /// embeddings and to the packed FFN rows of a masked neuron, against finite differences.
    @Test func wholeModelGradientsMatchFiniteDifferences() throws {
        let model = try TinyModels.llama(trainable: NeuronSelection([1: [3, 7]]))
        let batch = TokenBatch(ids)
        let base = try model.embed(batch).value
        let gate = model.parameters["blk.1.ffn_gate.weight"]!
        let width = model.config.hiddenSize
        let packedRows = Tensor(shape: [2, width], scalars: [3, 7].flatMap { r in Array(gate.value.scalars[(r * width)..<((r + 1) * width)]) })
        let report = GradientCheck().check(inputs: [base, packedRows], forward: { x in
            for (j, r) in [3, 7].enumerated() { for c in 0..<width { gate.value[r, c] = x[1][j, c] } }
            let out = model.forward(embeddings: Variable(x[0]), batch: batch)
            return nextTokenLoss(logits: out.logits!, batch: batch).value
        }, backward: { x, seed in
            for (j, r) in [3, 7].enumerated() { for c in 0..<width { gate.value[r, c] = x[1][j, c] } }
            gate.zeroGradient()
            let embeddings = Variable(x[0], requiresGrad: true)
            nextTokenLoss(logits: model.forward(embeddings: embeddings, batch: batch).logits!, batch: batch).backward(seed: seed)
            return [embeddings.grad, gate.maskedGrad]
        })
        #expect(report.passed, "\(report)")
    }

    @Test func paddedBatchEqualsOneAtATime() throws {
        let model = try TinyModels.llama()
        let batch = TokenBatch(ids)
        let together = try logits(model, batch)
        let v = model.config.vocabularySize
        for (b, sequence) in ids.enumerated() {
            let alone = try logits(model, TokenBatch([sequence]))
            let rows = Array(together.scalars[(b * batch.length * v)..<((b * batch.length + sequence.count) * v)])
            #expect(compareClose(rows, alone.scalars, absolute: 1e-5) == nil)
        }
    }

    @Test func noHookAndIdentityEditsLeaveLogitsBitIdentical() throws {
        let model = try TinyModels.llama()
        let batch = TokenBatch(ids)
        let plain = try logits(model, batch)
        var hooks = HookSet()
        hooks.add(HookName.mlpSite(0), .scale(rows: nil, columns: [1, 2, 3], by: 1))
        hooks.add(HookName.mlpSite(1), .affine(rows: [], columns: [], scale: [], shift: nil))
        hooks.collect(HookName.residPost(0)) { _ in }
        #expect(try logits(model, batch, hooks: hooks).scalars.map(\.bitPattern) == plain.scalars.map(\.bitPattern))
    }

    /// Zeroing every neuron of a layer's site equals removing that layer's FFN (W_down = 0).
    @Test func zeroAblationEqualsRemovingTheFFN() throws {
        let model = try TinyModels.llama()
        let batch = TokenBatch(ids)
        var hooks = HookSet()
        let f = model.config.intermediateSize
        hooks.add(HookName.mlpSite(1), .replace(rows: nil, columns: Array(0..<f), values: [Float](repeating: 0, count: f)))
        let ablated = try logits(model, batch, hooks: hooks)
        var tensors = TinyModels.llamaTensors(model.config)
        tensors["blk.1.ffn_down.weight"] = Tensor(shape: [model.config.hiddenSize, f])
        let removed = try logits(DecoderModel(config: model.config, tensors: tensors), batch)
        #expect(compareClose(ablated.scalars, removed.scalars, absolute: 1e-6) == nil)
    }

    @Test func hooksReadTheRowsAndColumnsAskedFor() throws {
        let model = try TinyModels.llama()
        let batch = TokenBatch(ids)
        var whole: Tensor?, part: Tensor?
        var hooks = HookSet()
        hooks.collect(HookName.mlpSite(0)) { whole = $0 }
        hooks.collect(HookName.mlpSite(0), rows: batch.lastRows, columns: [4, 0]) { part = $0 }
        _ = try logits(model, batch, hooks: hooks)
        let w = try #require(whole), p = try #require(part)
        #expect(w.shape == [batch.rows, model.config.intermediateSize] && p.shape == [2, 2])
        for (i, row) in batch.lastRows.enumerated() { #expect(p[i, 0] == w[row, 4] && p[i, 1] == w[row, 0]) }
    }

    /// An amplification hook sits inside the autodiff graph: gradients flow through it, scaled.
    @Test func gradientsFlowThroughHookEdits() throws {
        let model = try TinyModels.llama()
        let batch = TokenBatch([ids[0]])
        var hooks = HookSet()
        hooks.add(HookName.mlpSite(0), .affine(rows: [1, 2], columns: [0, 5], scale: [3, -0.5], shift: Tensor(shape: [1, 2], scalars: [0.2, 0.1])))
        let base = try model.embed(batch).value
        let report = GradientCheck().check(inputs: [base], forward: { x in
            nextTokenLoss(logits: model.forward(embeddings: Variable(x[0]), batch: batch, hooks: hooks).logits!, batch: batch).value
        }, backward: { x, seed in
            let e = Variable(x[0], requiresGrad: true)
            nextTokenLoss(logits: model.forward(embeddings: e, batch: batch, hooks: hooks).logits!, batch: batch).backward(seed: seed)
            return [e.grad]
        })
        #expect(report.passed, "\(report)")
    }

    @Test func cachedGreedyDecodingEqualsRecomputingEverything() throws {
        let model = try TinyModels.llama()
        let generated = try model.generate(prompt: ids[0], maxTokens: 6)
        var context = ids[0]
        for token in generated {
            let l = try logits(model, TokenBatch([context]))
            let v = model.config.vocabularySize
            let last = Array(l.scalars[((context.count - 1) * v)...])
            #expect(Int32(last.indices.max { last[$0] < last[$1] }!) == token)
            context.append(token)
        }
        // Seeded sampling is reproducible.
        let a = try model.generate(prompt: ids[0], maxTokens: 8, sampler: .temperature(1.5, seed: 4))
        let b = try model.generate(prompt: ids[0], maxTokens: 8, sampler: .temperature(1.5, seed: 4))
        #expect(a == b)
    }

    @Test func badWeightsAndInputsAreNamed() throws {
        let c = TinyModels.llamaConfig()
        var tensors = TinyModels.llamaTensors(c)
        tensors.removeValue(forKey: "blk.1.ffn_up.weight")
        #expect(throws: ModelError.missingTensor("blk.1.ffn_up.weight")) { try DecoderModel(config: c, tensors: tensors) }
        tensors = TinyModels.llamaTensors(c)
        tensors["blk.9.extra.weight"] = Tensor(shape: [2])
        #expect(throws: ModelError.unexpectedTensors(["blk.9.extra.weight"])) { try DecoderModel(config: c, tensors: tensors) }
        tensors = TinyModels.llamaTensors(c)
        tensors["blk.0.ffn_gate.weight"] = Tensor(shape: [c.intermediateSize + 1, c.hiddenSize])
        #expect(throws: ModelError.wrongShape(tensor: "blk.0.ffn_gate.weight", expected: [c.intermediateSize, c.hiddenSize], found: [c.intermediateSize + 1, c.hiddenSize])) {
            try DecoderModel(config: c, tensors: tensors)
        }
        let model = try TinyModels.llama()
        #expect(throws: ModelError.tokenOutOfRange(id: 50, vocabulary: 50)) { try model.embed(TokenBatch([[1, 50]])) }
    }
}

@Suite struct TinyBertTests {
    @Test func gradientsAndPaddingInvariance() throws {
        let model = try TinyModels.bert(trainable: NeuronSelection([0: [2, 9]]))
        let sequences: [[Int32]] = [[1, 7, 22, 5, 2], [1, 40, 2]]
        let batch = TokenBatch(sequences)
        let base = try model.embed(batch).value
        let report = GradientCheck().check(inputs: [base], forward: { x in
            sum(multiply(model.sentenceEmbeddings(hidden: model.forward(embeddings: Variable(x[0]), batch: batch), batch: batch),
                         Variable(Tensor(shape: [2, 16], scalars: (0..<32).map { Float($0 % 7) - 3 })))).value
        }, backward: { x, seed in
            let e = Variable(x[0], requiresGrad: true)
            sum(multiply(model.sentenceEmbeddings(hidden: model.forward(embeddings: e, batch: batch), batch: batch),
                         Variable(Tensor(shape: [2, 16], scalars: (0..<32).map { Float($0 % 7) - 3 })))).backward(seed: seed)
            return [e.grad]
        })
        #expect(report.passed, "\(report)")
        let together = model.sentenceEmbeddings(hidden: model.forward(embeddings: try model.embed(batch), batch: batch), batch: batch).value
        for (b, s) in sequences.enumerated() {
            let single = TokenBatch([s])
            let alone = model.sentenceEmbeddings(hidden: model.forward(embeddings: try model.embed(single), batch: single), batch: single).value
            #expect(compareClose(Array(together.scalars[(b * 16)..<((b + 1) * 16)]), alone.scalars, absolute: 1e-5) == nil)
        }
        // A backward through the masked FFN gives packed W_in rows, b_in entries and W_out columns.
        for name in ["encoder.layer.0.intermediate.dense.weight", "encoder.layer.0.intermediate.dense.bias", "encoder.layer.0.output.dense.weight"] {
            model.parameters[name]!.zeroGradient()
        }
        sum(model.forward(embeddings: try model.embed(batch), batch: batch)).backward()
        #expect(model.parameters["encoder.layer.0.intermediate.dense.weight"]!.maskedGrad?.shape == [2, 16])
        #expect(model.parameters["encoder.layer.0.intermediate.dense.bias"]!.maskedGrad?.shape == [2, 1])
        #expect(model.parameters["encoder.layer.0.output.dense.weight"]!.maskedGrad?.shape == [2, 16])
    }
}

@Suite struct ModelFileTests {
    static func writeTinyGGUF(_ url: URL, architecture: String = "llama", tensors: [String: Tensor], config c: DecoderConfig) throws {
        try TinyModels.writeLlamaGGUF(url, architecture: architecture, tensors: tensors, config: c)
    }

    @Test func saveLoadForwardIsBitIdentical() throws {
        let directory = try Fixtures.scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = TinyModels.llamaConfig(vocabulary: 260)
        let tensors = TinyModels.llamaTensors(config)
        let url = directory.appendingPathComponent("tiny.gguf")
        try Self.writeTinyGGUF(url, tensors: tensors, config: config)
        let loaded = try ModelLoader.load(url.path)
        guard case .decoder(let fromFile) = loaded.model else { Issue.record("not a llama"); return }
        let inMemory = try DecoderModel(config: config, tensors: tensors)
        #expect(fromFile.config == inMemory.config)
        let batch = TokenBatch([loaded.tokenizer.encode("hi!", addSpecialTokens: false)])
        let a = fromFile.forward(embeddings: try fromFile.embed(batch), batch: batch).logits!.value
        let b = inMemory.forward(embeddings: try inMemory.embed(batch), batch: batch).logits!.value
        #expect(a.scalars.map(\.bitPattern) == b.scalars.map(\.bitPattern))
    }

    @Test func unknownArchitecturesListTheSupportedOnes() throws {
        let directory = try Fixtures.scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = TinyModels.llamaConfig(vocabulary: 260)
        let url = directory.appendingPathComponent("mamba.gguf")
        try Self.writeTinyGGUF(url, architecture: "mamba", tensors: TinyModels.llamaTensors(config), config: config)
        #expect(throws: ModelError.unknownArchitecture("mamba", supported: ModelLoader.supportedArchitectures)) { try ModelLoader.load(url.path) }
        #expect(ModelLoader.supportedArchitectures == ["llama", "mistral", "qwen2", "qwen3", "phi3", "gemma2", "gemma3", "gpt2", "gpt_neox", "bert"])
        #expect(ModelError.unknownArchitecture("mamba", supported: ["llama", "bert"]).description.contains("llama, bert"))
    }
}

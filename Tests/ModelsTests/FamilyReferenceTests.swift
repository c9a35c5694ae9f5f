import Testing
import Foundation
import Autodiff
import Models
import TensorCore
import TestSupport

/// The eight decoder families of ../shared/golden/families: tiny random models saved by transformers and
/// converted by llama.cpp's converter. Each is loaded from its Hugging Face folder and from its F32 GGUF,
/// and both must give transformers' numbers; the Q8_0 GGUF must give transformers' logits on the same
/// dequantized weights.
enum Families {
    static let names = ["llama3", "mistral", "qwen2", "qwen3", "phi3", "gemma2", "gpt2", "gptneox"]
    static let sources = ["hf", "model-f32.gguf"]
    static let cases: [(String, String)] = names.flatMap { family in sources.map { (family, $0) } }
    static let neurons = [1, 17, 40, 159]
    static var available: Bool { Fixtures.hasGolden("families/llama3") }

    static func golden(_ family: String) -> String { "families/\(family)" }
    static func path(_ family: String, _ source: String) -> String {
        Fixtures.goldenRoot.appendingPathComponent("families/\(family)/\(source)").path
    }

    /// The model with layer 1's listed neurons trainable, so that their owned gradients are packed.
    static func load(_ family: String, _ source: String) throws -> (LoadedModel, DecoderModel) {
        let loaded = try ModelLoader.load(path(family, source), trainableNeurons: NeuronSelection([1: neurons]))
        guard case .decoder(let model) = loaded.model else { throw ModelError.emptyInput }
        return (loaded, model)
    }

    static func ids(_ family: String, _ p: Int) throws -> [Int32] { try Fixtures.goldenInts(golden(family), "p\(p)_ids.i32") }
}

@Suite(.enabled(if: Families.available, "../shared/golden/families is missing"), .serialized)
struct FamilyReferenceTests {
    /// Logits, loss, the residual stream at the last position and every layer's FFN site, for the three prompts.
    @Test(arguments: Families.cases)
    func forwardMatchesTransformers(family: String, source: String) throws {
        let (_, model) = try Families.load(family, source)
        let golden = Families.golden(family), layers = model.config.layers
        for p in 0..<3 {
            let ids = try Families.ids(family, p)
            let batch = TokenBatch([ids])
            var sites: [Int: [Float]] = [:], states: [String: [Float]] = [:]
            var hooks = HookSet()
            for l in 0..<layers { hooks.collect(HookName.mlpSite(l)) { sites[l] = $0.scalars } }
            hooks.collect(HookName.embeddings, rows: [ids.count - 1]) { states["e"] = $0.scalars }
            for l in 0..<(layers - 1) { hooks.collect(HookName.residPost(l), rows: [ids.count - 1]) { states["\(l)"] = $0.scalars } }
            hooks.collect(HookName.finalNorm, rows: [ids.count - 1]) { states["n"] = $0.scalars }
            let logits = try #require(model.forward(embeddings: try model.embed(batch), batch: batch, hooks: hooks).logits)
            let where_ = "\(family) \(source) prompt \(p)"
            let difference = compareClose(logits.value.scalars, try Fixtures.goldenFloats(golden, "p\(p)_logits.f32"), absolute: 1e-3)
            #expect(difference == nil, "\(where_) logits: \(difference ?? "")")
            let loss = Double(nextTokenLoss(logits: logits, batch: batch).value.scalars[0])
            let expectedLoss = Double(try Fixtures.goldenFloats(golden, "p\(p)_loss.f32")[0])
            #expect(abs(loss - expectedLoss) <= 1e-5 * expectedLoss, "\(where_) loss \(loss) vs \(expectedLoss)")
            let hidden = states["e"]! + (0..<(layers - 1)).flatMap { states["\($0)"]! } + states["n"]!
            let hiddenDifference = compareClose(hidden, try Fixtures.goldenFloats(golden, "p\(p)_hidden_last.f32"), absolute: 1e-3, relative: 1e-4)
            #expect(hiddenDifference == nil, "\(where_) hidden: \(hiddenDifference ?? "")")
            let siteDifference = compareClose((0..<layers).flatMap { sites[$0]! }, try Fixtures.goldenFloats(golden, "p\(p)_ffn_site.f32"),
                                              absolute: 1e-3, relative: 1e-3)
            #expect(siteDifference == nil, "\(where_) sites: \(siteDifference ?? "")")
        }
    }

    @Test(arguments: Families.cases)
    func greedyTokensWithTheKVCache(family: String, source: String) throws {
        let (_, model) = try Families.load(family, source)
        let expected = try Fixtures.goldenInts(Families.golden(family), "p0_greedy8.i32")
        #expect(try model.generate(prompt: try Families.ids(family, 0), maxTokens: 8) == expected, "\(family) \(source)")
    }

    /// The loss's gradient with respect to the input embeddings (as the first block receives them, before
    /// learned positions are added) and the
    /// slices the listed neurons of layer 1 own, in the family's own layout.
    @Test(arguments: Families.cases)
    func gradientsMatchTransformers(family: String, source: String) throws {
        let (_, model) = try Families.load(family, source)
        let golden = Families.golden(family), f = model.config.intermediateSize
        let batch = TokenBatch([try Families.ids(family, 1)])
        let embeddings = Variable(try model.embed(batch).value, requiresGrad: true)
        nextTokenLoss(logits: model.forward(embeddings: embeddings, batch: batch).logits!, batch: batch).backward()
        // Gemma's √C is applied by the embedding (transformers 5's scaled embedding module): the reference is
        // the gradient of the scaled rows, which is what a soft prompt, given as embeddings, receives.
        let inputs = embeddings.grad!.scalars
        let inputError = relativeL2Error(inputs, try Fixtures.goldenFloats(golden, "p1_grad_inputs_embeds.f32"))
        #expect(inputError <= 1e-4, "\(family) \(source) inputs: \(inputError)")
        var slices: [String: [Float]] = [:]
        let up = try #require(model.parameters["blk.1.ffn_up.weight"]?.maskedGrad).scalars
        if model.config.ffn.fusedGateUp {
            (slices["gate_rows"], slices["up_rows"]) = (Array(up.prefix(up.count / 2)), Array(up.suffix(up.count / 2)))
            #expect(model.parameters["blk.1.ffn_up.weight"]!.mask!.indices == Families.neurons + Families.neurons.map { $0 + f })
        } else {
            slices["up_rows"] = up
            if model.config.ffn.gated { slices["gate_rows"] = try #require(model.parameters["blk.1.ffn_gate.weight"]?.maskedGrad).scalars }
            if !model.config.ffn.gated { slices["up_bias"] = try #require(model.parameters["blk.1.ffn_up.bias"]?.maskedGrad).scalars }
        }
        slices["down_cols"] = try #require(model.parameters["blk.1.ffn_down.weight"]?.maskedGrad).scalars
        for (name, actual) in slices {
            let expected = try Fixtures.goldenFloats(golden, "p1_grad_l1_\(name).f32")
            #expect(relativeL2Error(actual, expected) <= 1e-4, "\(family) \(source) \(name): \(relativeL2Error(actual, expected))")
        }
        for parameter in model.parameters.values { parameter.zeroGradient() }
    }

    /// Q8_0 weights: transformers' logits on the same dequantized tensors (with the HF config where
    /// transformers misreads the GGUF's). GPT-NeoX has no reference: transformers cannot load it.
    @Test(arguments: Families.names.filter { $0 != "gptneox" })
    func quantizedGGUFMatchesTransformersOnItsWeights(family: String) throws {
        let (_, model) = try Families.load(family, "model-q8_0.gguf")
        let folder = Fixtures.goldenRoot.appendingPathComponent(Families.golden(family))
        let file = FileManager.default.fileExists(atPath: folder.appendingPathComponent("p0_logits_q8_0_hfconfig.f32").path)
            ? "p0_logits_q8_0_hfconfig.f32" : "p0_logits_q8_0.f32"
        let batch = TokenBatch([try Families.ids(family, 0)])
        let logits = model.forward(embeddings: try model.embed(batch), batch: batch).logits!.value.scalars
        let difference = compareClose(logits, try Fixtures.goldenFloats(Families.golden(family), file), absolute: 1e-3)
        #expect(difference == nil, "\(family) q8_0: \(difference ?? "")")
    }

    /// A right-padded batch equals each sequence run alone (within 1e-4), for every family.
    @Test(arguments: Families.names)
    func paddedBatchEqualsOneAtATime(family: String) throws {
        let (_, model) = try Families.load(family, "model-f32.gguf")
        let prompts = [try Families.ids(family, 2), try Families.ids(family, 0), try Families.ids(family, 1)]
        for (b, difference) in try paddedBatchDifferences(model, prompts).enumerated() {
            #expect(difference == nil, "\(family) prompt \(b)")
        }
    }

    /// The folder and the GGUF describe the same model, and compute the same logits on a 300-token
    /// sequence no reference covers: past Gemma 2's window and deep into Llama 3's scaled frequencies.
    @Test(arguments: Families.names)
    func folderAndGGUFAgreeOnLongSequences(family: String) throws {
        let (_, fromFolder) = try Families.load(family, "hf")
        let (_, fromGGUF) = try Families.load(family, "model-f32.gguf")
        var rng = SeededRandom(seed: 12)
        let ids = (0..<300).map { _ in Int32(4 + rng.nextInt(below: 508)) }
        let batch = TokenBatch([ids])
        let a = fromFolder.forward(embeddings: try fromFolder.embed(batch), batch: batch).logits!.value.scalars
        let b = fromGGUF.forward(embeddings: try fromGGUF.embed(batch), batch: batch).logits!.value.scalars
        #expect(compareClose(a, b, absolute: 1e-3) == nil, "\(family)")
    }
}

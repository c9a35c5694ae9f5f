import Testing
import Foundation
import Autodiff
import Models
import TensorCore
import TestSupport
import Training

@Suite(.enabled(if: Fixtures.has("smollm2") && Fixtures.hasGolden("smollm2-135m"), "smollm2 or ../shared/golden is missing"))
struct SoftPromptReferenceTests {
    /// The reference's 4-token soft prompt: 5 AdamW steps (lr 1e-2, no decay) on two texts, each classified by
    /// the two verbalizer logits at its last position. Losses and the final prompt within 1e-4 relative.
    @Test func reproducesTheFiveLossesAndTheFinalPrompt() throws {
        let loaded = try ModelLoader.load(Fixtures.checkpoint("smollm2"))
        guard case .decoder(let model) = loaded.model else { Issue.record("not a llama"); return }
        let meta = (try Fixtures.goldenManifest("smollm2-135m")["meta"] as! [String: Any])["train_softprompt"] as! [String: Any]
        let texts = meta["texts"] as! [String], labels = meta["labels"] as! [Int]
        let verbalizers = (meta["verbalizer_ids"] as! [Int]).map(Int32.init), initIDs = (meta["init_token_ids"] as! [Int]).map(Int32.init)
        let task = PromptTask(model: loaded.model, tokenizer: loaded.tokenizer, framing: .verbalizers(template: "{text}", ids: verbalizers), classes: 2)
        let initial = Tensor(shape: [initIDs.count, model.config.hiddenSize], scalars: initIDs.flatMap { model.embeddingRow($0).scalars })
        let trainer = PromptTrainer(task: task, initialPrompt: initial, learningRate: 1e-2, weightDecay: 0)
        let sequences = texts.map(task.ids)
        var losses: [Float] = []
        for _ in 0..<5 { losses.append(try trainer.step(sequences, labels: labels)) }
        let expected = try Fixtures.goldenFloats("smollm2-135m", "train_softprompt_losses.f32")
        for (a, e) in zip(losses, expected) { #expect(abs(a - e) <= 1e-4 * abs(e), "losses \(losses) vs \(expected)") }
        let final = try Fixtures.goldenFloats("smollm2-135m", "train_softprompt_final.f32")
        #expect(relativeL2Error(trainer.prompt.value.scalars, final) <= 1e-4)
        // The model is frozen: no weight received a gradient.
        #expect(model.parameters.values.allSatisfy { $0.grad == nil && $0.maskedGrad == nil })
    }
}

@Suite struct TinyPromptTrainingTests {
    func task() throws -> (PromptTask, DecoderModel) {
        let model = try TinyModels.llama(vocabulary: 260)
        let tokens = (0..<260).map { i in i < 256 ? String(ByteLevel_byte(i)) : "t\(i)" }
        let tokenizer = try BPETokenizer(tokens: tokens, merges: [], specialTokens: [], isolateDigits: false)
        return (PromptTask(model: .decoder(model), tokenizer: tokenizer, framing: .verbalizers(template: "{text}:", ids: [110, 112]), classes: 2), model)
    }

    @Test func lossFallsAndTheModelStaysFrozen() throws {
        let (task, model) = try task()
        var rng = SeededRandom(seed: 5)
        let trainer = PromptTrainer(task: task, initialPrompt: Tensor(randomNormal: [4, model.config.hiddenSize], std: 0.5, using: &rng),
                                    learningRate: 0.05, weightDecay: 0)
        let sequences = ["good", "bad", "fine", "awful"].map(task.ids), labels = [1, 0, 1, 0]
        let before = model.parameters.mapValues { $0.materialized() }
        let first = try trainer.step(sequences, labels: labels)
        var last = first
        for _ in 0..<30 { last = try trainer.step(sequences, labels: labels) }
        #expect(last < first * 0.5, "loss \(first) → \(last)")
        for (name, value) in before { #expect(model.parameters[name]!.materialized() == value) }
        let evaluation = try trainer.evaluate(sequences, labels: labels, batchSize: 3)
        #expect(evaluation.accuracy == 1 && evaluation.predictions.count == 4)
    }

    @Test func pairedBootstrapBracketsTheDifference() {
        let a = (0..<200).map { $0 % 10 < 8 }, b = (0..<200).map { $0 % 10 < 5 }
        let (d, low, high) = pairedBootstrapDifference(a, b)
        #expect(abs(d - 0.3) < 1e-12 && low < 0.3 && high > 0.3 && low > 0.2)
        let same = pairedBootstrapDifference(a, a)
        #expect(same.low == 0 && same.high == 0)
    }
}

/// GPT-2's byte ↔ character table, to build tiny byte-level vocabularies.
func ByteLevel_byte(_ i: Int) -> Character { Character(Tokenizers.ByteLevel.byteToScalar[i]) }

import Tokenizers

@Suite struct TrainingOpGradientTests {
    /// selectColumns, the op that picks the verbalizer logits, against finite differences.
    @Test func selectColumnsOp() {
        let report = GradientCheck().checkOp(inputs: [randomTensor([3, 7], seed: 50)]) { v in selectColumns(v[0], [6, 2, 2]) }
        #expect(report.passed, "\(report)")
    }
}

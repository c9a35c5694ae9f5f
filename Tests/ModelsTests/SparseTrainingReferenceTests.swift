import Testing
import Foundation
import Autodiff
import Models
import Optimizers
import TensorCore
import TestSupport

/// The golden sparse-training run: 5 AdamW steps (lr 1e-3, weight decay 0.1) on the LM loss of prompt 1,
/// with only neurons 5, 100, 1000 and 1535 of layer 10 trainable. The losses and the final rows must match
/// PyTorch, and every other weight must keep its exact bits, decay and Adam momentum notwithstanding.
@Suite(.enabled(if: SmolLM2.available, "smollm2 or ../shared/golden is missing: run Scripts/fetch smollm2"), .serialized)
struct SparseTrainingReferenceTests {
    @Test func onlyTheSelectedNeuronsTrainAndMatchTheReference() throws {
        let neurons = SmolLM2.neurons
        let loaded = try ModelLoader.load(Fixtures.checkpoint("smollm2"), trainableNeurons: NeuronSelection([10: neurons]))
        guard case .decoder(let model) = loaded.model else { Issue.record("not a Llama"); return }
        let before = model.parameters.mapValues { $0.materialized().scalars }
        let trainable = model.parameters.values.filter { $0.mask != nil }.sorted { ($0.name ?? "") < ($1.name ?? "") }
        #expect(trainable.map { $0.name ?? "" } == ["blk.10.ffn_down.weight", "blk.10.ffn_gate.weight", "blk.10.ffn_up.weight"])
        let optimizer = AdamW(parameters: trainable, learningRate: 1e-3, weightDecay: 0.1)
        // Adam's state covers the 4 neurons' slices only: 3 tensors × 4 × 576 × (m, v).
        #expect(optimizer.stateElementCount == 2 * 3 * 4 * 576)

        let batch = TokenBatch([try Fixtures.goldenInts(SmolLM2.golden, "p1_ids.i32")])
        func loss() throws -> Variable {
            nextTokenLoss(logits: model.forward(embeddings: try model.embed(batch), batch: batch).logits!, batch: batch)
        }
        var losses: [Float] = []
        for _ in 0..<5 {
            optimizer.zeroGradients()
            let l = try loss()
            losses.append(l.value.scalars[0])
            l.backward()
            optimizer.step()
        }
        let expected = try Fixtures.goldenFloats(SmolLM2.golden, "train_sparse_losses.f32")
        for (a, b) in zip(losses, expected) { #expect(abs(a - b) <= 1e-5 * abs(b), "loss \(a) vs \(b)") }
        let after = try loss().value.scalars[0]
        let expectedAfter = try Fixtures.goldenFloats(SmolLM2.golden, "train_sparse_after_loss.f32")[0]
        #expect(abs(after - expectedAfter) <= 1e-5 * abs(expectedAfter), "after \(after) vs \(expectedAfter)")

        // The trained rows (W_gate, W_up) and columns (W_down, stored [C, F]) against PyTorch's.
        let c = model.config.hiddenSize, f = model.config.intermediateSize
        func rows(_ name: String) -> [Float] { neurons.flatMap { n in Array(model.parameters[name]!.materialized().scalars[(n * c)..<((n + 1) * c)]) } }
        func columns(_ name: String) -> [Float] { neurons.flatMap { n in (0..<c).map { model.parameters[name]!.materialized().scalars[$0 * f + n] } } }
        // Adam steps each element by about ±lr whatever its gradient's size, so an element whose gradient is
        // near 0 can step either way under float32 summation noise: the final weights agree to ~1e-5
        // (relative L2), and their change over the 5 steps to a few percent.
        func original(_ name: String, columns: Bool) -> [Float] {
            let old = before[name]!
            return columns ? neurons.flatMap { n in (0..<c).map { old[$0 * f + n] } } : neurons.flatMap { n in Array(old[(n * c)..<((n + 1) * c)]) }
        }
        for (name, isColumns, file) in [("blk.10.ffn_gate.weight", false, "gate_rows"), ("blk.10.ffn_up.weight", false, "up_rows"), ("blk.10.ffn_down.weight", true, "down_cols")] {
            let values = isColumns ? columns(name) : rows(name)
            let reference = try Fixtures.goldenFloats(SmolLM2.golden, "train_sparse_final_\(file).f32")
            #expect(relativeL2Error(values, reference) <= 5e-5, "\(file): \(relativeL2Error(values, reference))")
            let start = original(name, columns: isColumns)
            let delta = zip(values, start).map { $0 - $1 }, referenceDelta = zip(reference, start).map { $0 - $1 }
            #expect(relativeL2Error(delta, referenceDelta) <= 0.05, "\(file) change: \(relativeL2Error(delta, referenceDelta))")
        }

        // Every other weight keeps its bits: whole tensors outside layer 10's FFN, and the unselected rows/columns inside it.
        var changed = 0
        for (name, parameter) in model.parameters {
            let old = before[name]!, new = parameter.materialized().scalars
            for i in old.indices where old[i].bitPattern != new[i].bitPattern {
                let owned: Bool
                switch name {
                case "blk.10.ffn_gate.weight", "blk.10.ffn_up.weight": owned = neurons.contains(i / c)
                case "blk.10.ffn_down.weight": owned = neurons.contains(i % f)
                default: owned = false
                }
                if !owned { changed += 1 }
            }
        }
        #expect(changed == 0, "\(changed) weights outside the mask changed")
    }
}

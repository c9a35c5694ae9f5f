import Autodiff
import Foundation
import Interventions
import Models
import TensorCore
import Training

/// Evaluates a fixed set of examples under any number of interventions, batched, reusing the unchanged
/// lower layers: one unablated pass records the residual stream entering each layer an intervention
/// may start at, and each intervened pass starts there (decoders; BERT runs whole passes).
///
/// Batches hold examples of similar length (sorted by length, stably), so that little of a batch is
/// padding; results come back in the examples' own order.
final class TaskEvaluator {
    struct Batch {
        var layout: TokenBatch
        var embeddings: Variable
        var labels: [Int]
        /// Residual stream entering layer l, from the unablated pass. [B·T, C]
        var residuals: [Int: Tensor] = [:]
    }

    let task: PromptTask
    let prompt: Tensor?
    var batches: [Batch] = []
    /// The examples in batch order: `order[j]` is the j-th evaluated example's index in the input.
    let order: [Int]

    /// - layers: the layers interventions may start at (their residuals are cached).
    init(task: PromptTask, prompt: Tensor?, sequences: [[Int32]], labels: [Int], batchSize: Int,
         cacheLayers: Set<Int>) throws {
        self.task = task
        self.prompt = prompt
        order = sequences.indices.sorted { (sequences[$0].count, $0) < (sequences[$1].count, $1) }
        var start = 0
        while start < order.count {
            let members = Array(order[start..<min(order.count, start + batchSize)])
            let (layout, embeddings) = try task.inputs(members.map { sequences[$0] },
                                                       prompt: prompt.map { Variable($0) })
            var batch = Batch(layout: layout, embeddings: embeddings, labels: members.map { labels[$0] })
            if case .decoder(let m) = task.model, !cacheLayers.isEmpty {
                final class Box: @unchecked Sendable { var residuals: [Int: Tensor] = [:] }
                let box = Box()
                var hooks = HookSet()
                for l in cacheLayers where l > 0 { hooks.collect(HookName.residPre(l)) { box.residuals[l] = $0 } }
                _ = m.forward(embeddings: embeddings, batch: layout, hooks: hooks, logitRows: [])
                batch.residuals = box.residuals
            }
            batches.append(batch)
            start += members.count
        }
    }

    /// Class log-probabilities [n][K] of every example under `intervention` (nil: none), in the
    /// examples' order.
    func classLogProbabilities(_ intervention: Intervention?) throws -> [[Double]] {
        var out = [[Double]](repeating: [], count: order.count)
        var done = 0
        for (i, batch) in batches.enumerated() {
            let hooks = intervention?.hooks(rows: batch.layout.rows, lastRows: batch.layout.lastRows,
                                            salt: UInt64(i)) ?? HookSet()
            let logits: Tensor
            switch (task.model, task.framing) {
            case (.decoder(let m), .verbalizers(_, let ids)):
                let first = intervention?.firstLayer ?? 0
                let output: DecoderModel.Output
                if first > 0, let residual = batch.residuals[first] {
                    output = m.forward(embeddings: Variable(residual), batch: batch.layout, hooks: hooks,
                                       logitRows: batch.layout.lastRows, firstLayer: first)
                } else {
                    output = m.forward(embeddings: batch.embeddings, batch: batch.layout, hooks: hooks,
                                       logitRows: batch.layout.lastRows)
                }
                logits = selectColumns(output.logits!, ids.map(Int.init)).value
            default:
                logits = try task.logits(batch.layout.sequences, prompt: prompt.map { Variable($0) },
                                         hooks: hooks).value
            }
            let k = task.classes
            if let bad = logits.scalars.firstIndex(where: { !$0.isFinite }) {
                throw InterventionError.nonFinite(example: order[done + bad / k], intervention: intervention)
            }
            for r in 0..<batch.labels.count {
                let row = (0..<k).map { Double(logits.scalars[r * k + $0]) }
                let maximum = row.max()!
                let logTotal = maximum + log(row.reduce(0) { $0 + exp($1 - maximum) })
                out[order[done + r]] = row.map { $0 - logTotal }
            }
            done += batch.labels.count
        }
        return out
    }
}

/// Next-token distributions over general text (WikiText), for the KL of an intervention from the
/// unablated model on text that is not the task.
final class GeneralTextEvaluator {
    let model: DecoderModel
    let layout: TokenBatch
    let rows: [Int]
    var residuals: [Int: Tensor] = [:]
    /// Unablated log-probabilities [rows, V].
    var baseline: [Float] = []

    init(model: DecoderModel, sequences: [[Int32]], cacheLayers: Set<Int>) {
        self.model = model
        let layout = TokenBatch(sequences)
        self.layout = layout
        rows = (0..<layout.batch).flatMap { layout.tokenRows($0) }
        final class Box: @unchecked Sendable { var residuals: [Int: Tensor] = [:] }
        let box = Box()
        var hooks = HookSet()
        for l in cacheLayers where l > 0 { hooks.collect(HookName.residPre(l)) { box.residuals[l] = $0 } }
        let logits = model.forward(embeddings: try! model.embed(layout), batch: layout, hooks: hooks,
                                   logitRows: rows).logits!.value
        residuals = box.residuals
        baseline = Self.logSoftmax(logits)
    }

    static func logSoftmax(_ logits: Tensor) -> [Float] {
        let v = logits.shape[1], n = logits.shape[0]
        var out = logits.scalars
        for r in 0..<n {
            var maximum = -Float.infinity
            for j in 0..<v { maximum = max(maximum, out[r * v + j]) }
            var total: Double = 0
            for j in 0..<v { total += exp(Double(out[r * v + j] - maximum)) }
            let logTotal = maximum + Float(log(total))
            for j in 0..<v { out[r * v + j] -= logTotal }
        }
        return out
    }

    /// Mean over tokens of KL(unablated ‖ intervened), in nats.
    func kl(_ intervention: Intervention) -> Double {
        let hooks = intervention.hooks(rows: layout.rows, lastRows: layout.lastRows, salt: 0xFEED)
        let first = intervention.firstLayer ?? 0
        let output: DecoderModel.Output
        if first > 0, let residual = residuals[first] {
            output = model.forward(embeddings: Variable(residual), batch: layout, hooks: hooks,
                                   logitRows: rows, firstLayer: first)
        } else {
            output = model.forward(embeddings: try! model.embed(layout), batch: layout, hooks: hooks, logitRows: rows)
        }
        let intervened = Self.logSoftmax(output.logits!.value)
        let v = output.logits!.shape[1]
        var total = 0.0
        for r in 0..<rows.count {
            var kl = 0.0
            for j in 0..<v {
                let p = Double(baseline[r * v + j])
                kl += exp(p) * (p - Double(intervened[r * v + j]))
            }
            total += max(0, kl)
        }
        return total / Double(max(1, rows.count))
    }
}

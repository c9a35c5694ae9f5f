import Foundation
import Interventions
import Models
import TensorCore

/// Token continuations after their prefixes, teacher-forced: an answer after its question (AnswerSheet),
/// a reference or a generated text after its prompt (ContinuationEvaluator).
///
///     sequence_i = prefix_i + continuation_i       rows predicting continuation_i: |prefix_i| − 1 …
///     log p(continuation_i) = Σ_t log p(c_i,t | prefix_i, c_i,<t)           summed in token order
struct Continuations {
    let prefixes: [[Int32]]
    let continuations: [[Int32]]

    var count: Int { prefixes.count }

    /// Prefix and continuation of each of `members`, one sequence each.
    func sequences(_ members: [Int]) -> TokenBatch {
        TokenBatch(members.map { prefixes[$0] + continuations[$0] })
    }

    /// The rows of `layout` (made by `sequences(members)`) that predict each member's continuation:
    /// the prefix's last token, then each continuation token but the last.
    func predictingRows(_ layout: TokenBatch, members: [Int]) -> [Int] {
        var rows: [Int] = []
        for (s, i) in members.enumerated() {
            let tokens = layout.tokenRows(s), first = prefixes[i].count - 1
            rows += tokens[first..<(first + continuations[i].count)]
        }
        return rows
    }

    /// log p(continuation_i) of each member, from the logits at `predictingRows`.
    func logProbabilities(_ logits: Tensor, members: [Int]) -> [Double] {
        let v = logits.shape[1]
        return logits.withPointer { z in
            var row = 0
            return members.map { i in
                var total = 0.0
                for target in continuations[i] {
                    total += logProbability(z + row * v, vocabulary: v, target: Int(target))
                    row += 1
                }
                return total
            }
        }
    }

    /// log p(continuation_i) of every pair under `intervention` (nil: none), in batches of `batchSize`;
    /// 0 for an empty continuation. A non-finite one is an error naming the pair.
    func logProbabilities(model: DecoderModel, batchSize: Int, intervention: Intervention?) throws -> [Double] {
        var out: [Double] = []
        var start = 0
        while start < count {
            let members = Array(start..<min(count, start + batchSize))
            start += members.count
            let layout = sequences(members)
            let rows = predictingRows(layout, members: members)
            guard !rows.isEmpty else { out += members.map { _ in 0 }; continue }
            let hooks = intervention?.hooks(rows: layout.rows, lastRows: layout.lastRows,
                                            salt: UInt64(members[0])) ?? HookSet()
            let logits = model.forward(embeddings: try model.embed(layout), batch: layout, hooks: hooks,
                                       logitRows: rows).logits!
            let batch = logProbabilities(logits.value, members: members)
            if let bad = batch.firstIndex(where: { !$0.isFinite }) {
                throw InterventionError.nonFinite(example: members[bad], intervention: intervention)
            }
            out += batch
        }
        return out
    }
}

extension DecoderModel {
    /// Greedy tokens after `prompt` (at most `maxTokens`, the stop token included when written) under
    /// `intervention` (nil: none), which acts at every position of the prompt and of each generated token;
    /// a noise intervention draws per (example, step).
    func greedy(_ prompt: [Int32], maxTokens: Int, stop: Set<Int32>, under intervention: Intervention?,
                example: Int) throws -> [Int32] {
        try generate(prompt: prompt, maxTokens: maxTokens, stop: stop, hooksForStep: { rows, step in
            intervention?.hooks(rows: rows, lastRows: [rows - 1], salt: UInt64(example) << 32 | UInt64(step))
                ?? HookSet()
        })
    }
}

import Datasets
import Foundation
import Interventions
import Models
import Statistics
import TensorCore
import Tokenizers

/// Evaluates a language-modelling task (no verbalizers, no answer) under interventions by how the model
/// continues held-out text. Each text is cut after its first P tokens (the prompt, BOS included); the next
/// M tokens are the reference. Texts shorter than P + M tokens are left out.
///
///     bleu_i = BLEU-4 (Statistics/BLEU.swift) of the greedy continuation of prompt_i, M tokens at most,
///              against reference_i, both decoded and split at whitespace              (the score)
///     loss_i = −(1/M) Σ_t log p(reference_i,t | prompt_i, reference_i,<t), intervened    (the paired test's)
///     nll_i  = −(1/|g_i|) Σ_t log p₀(g_i,t | prompt_i, g_i,<t) of the generated tokens g_i under the
///              unablated model                     (the side measure: exp of its mean is their perplexity)
///
/// The intervention acts at every position of the prompt, the reference and each generated token; the
/// fluency judge p₀ is never intervened.
final class ContinuationEvaluator {
    let model: DecoderModel
    let tokenizer: any Tokenizer
    let prompts: [[Int32]]
    let references: [[Int32]]
    let referenceWords: [[String]]
    let batchSize: Int
    let stop: Set<Int32>

    /// The examples whose texts hold at least P + M tokens; `skipped` counts the others.
    init(experiment: Experiment, model: DecoderModel, examples: [Example], promptTokens: Int, tokens: Int,
         batchSize: Int) throws {
        self.model = model
        let tokenizer = experiment.loaded.tokenizer
        self.tokenizer = tokenizer
        self.batchSize = batchSize
        stop = Set([tokenizer.endOfSequence].compactMap { $0 })
        let template = experiment.recipe.task.template
        var prompts: [[Int32]] = [], references: [[Int32]] = []
        for example in examples {
            let ids = tokenizer.encode(TextPart.filling(template, with: example.text), addSpecialTokens: true)
            guard ids.count >= promptTokens + tokens else { continue }
            prompts.append(Array(ids[..<promptTokens]))
            references.append(Array(ids[promptTokens..<(promptTokens + tokens)]))
        }
        guard !prompts.isEmpty else {
            throw CollectError.badPlan(path: experiment.recipeFile, detail: "none of the \(examples.count) texts " +
                                       "holds \(promptTokens) + \(tokens) tokens (ablate.continuation); give " +
                                       "longer texts with ablate.data, or shorten the prompt or continuation")
        }
        self.prompts = prompts
        self.references = references
        referenceWords = references.map { BLEU.words(tokenizer.decode($0, skipSpecialTokens: true)) }
    }

    var count: Int { prompts.count }

    /// The sweep's summary of one intervention (nil: none): accuracy is the mean BLEU; there is no class
    /// distribution, so macro-F1, confidence and the task KL are NaN.
    func summary(_ intervention: Intervention?) throws -> AblateStage.Summary {
        var scores: [Double] = [], generated: [[Int32]] = []
        for (i, prompt) in prompts.enumerated() {
            let tokens = try model.generate(prompt: prompt, maxTokens: references[i].count, stop: stop,
                                            hooksForStep: { rows, step in
                intervention?.hooks(rows: rows, lastRows: [rows - 1], salt: UInt64(i) &* 1024 &+ UInt64(step))
                    ?? HookSet()
            })
            let words = BLEU.words(tokenizer.decode(tokens, skipSpecialTokens: true))
            scores.append(BLEU.sentence(words, reference: referenceWords[i]))
            generated.append(tokens)
        }
        let losses = try meanLosses(of: references, intervention: intervention)
        // A continuation that stopped at once has no tokens to judge: its NLL is 0 (nothing was said).
        let judged = try meanLosses(of: generated, intervention: nil)
        let n = Double(count)
        return AblateStage.Summary(accuracy: scores.reduce(0, +) / n, macroF1: .nan, confidence: .nan,
                                   loss: losses.reduce(0, +) / n, kl: .nan, losses: losses, scores: scores,
                                   side: judged)
    }

    /// −(1/|c_i|) Σ_t log p(c_i,t | prompt_i, c_i,<t) of each continuation c_i, teacher-forced, batched
    /// (0 for an empty one).
    func meanLosses(of continuations: [[Int32]], intervention: Intervention?) throws -> [Double] {
        var out: [Double] = []
        var start = 0
        while start < count {
            let members = Array(start..<min(count, start + batchSize))
            let layout = TokenBatch(members.map { prompts[$0] + continuations[$0] })
            var rows: [Int] = []
            for (s, i) in members.enumerated() {
                let first = prompts[i].count - 1
                rows += layout.tokenRows(s)[first..<(first + continuations[i].count)]
            }
            guard !rows.isEmpty else {
                out += members.map { _ in 0 }
                start += members.count
                continue
            }
            let hooks = intervention?.hooks(rows: layout.rows, lastRows: layout.lastRows,
                                            salt: UInt64(start)) ?? HookSet()
            let logits = model.forward(embeddings: try model.embed(layout), batch: layout, hooks: hooks,
                                       logitRows: rows).logits!.value
            let v = logits.shape[1]
            var row = 0
            for i in members {
                var total = 0.0
                logits.withPointer { z in
                    for target in continuations[i] {
                        total += logProbability(z + row * v, vocabulary: v, target: Int(target))
                        row += 1
                    }
                }
                guard total.isFinite else { throw InterventionError.nonFinite(example: i, intervention: intervention) }
                out.append(continuations[i].isEmpty ? 0 : -total / Double(continuations[i].count))
            }
            start += members.count
        }
        return out
    }
}

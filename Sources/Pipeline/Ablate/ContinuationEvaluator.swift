import Datasets
import Foundation
import Interventions
import Models
import Statistics
import TensorCore
import Tokenizers

/// Evaluates a language-modelling task (no verbalizers, no answer) under interventions by how the model
/// continues held-out text. Each text is cut after its first P tokens (the prompt, counting a BOS when the
/// tokenizer adds one); the next M tokens are the reference. Texts shorter than P + M tokens are left out.
///
///     bleu_i = BLEU-4 (Statistics/BLEU.swift) of the greedy continuation of prompt_i, M tokens at most,
///              against reference_i, both decoded and split at whitespace              (the score)
///     loss_i = −(1/M) Σ_t log p(reference_i,t | prompt_i, reference_i,<t), intervened    (the paired test's)
///     nll_i  = −(1/|g_i|) Σ_t log p₀(g_i,t | prompt_i, g_i,<t) of the generated tokens g_i (the stop
///              token included when written) under the unablated model      (the side measure; exp of
///              its mean over texts, each text weighing the same, is the perplexity reported)
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

    /// The examples whose texts hold at least P + M tokens (`count` of them); the others are left out.
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
            let tokens = try model.greedy(prompt, maxTokens: references[i].count, stop: stop,
                                          under: intervention, example: i)
            let words = BLEU.words(tokenizer.decode(tokens, skipSpecialTokens: true))
            scores.append(BLEU.sentence(words, reference: referenceWords[i]))
            generated.append(tokens)
        }
        let losses = try meanLosses(of: references, intervention: intervention)
        // The stop token, when the model wrote one, is judged too: ending the text is part of what was written.
        let judged = try meanLosses(of: generated, intervention: nil)
        let n = Double(count)
        return AblateStage.Summary(accuracy: scores.reduce(0, +) / n, macroF1: .nan, confidence: .nan,
                                   loss: losses.reduce(0, +) / n, kl: .nan, losses: losses, scores: scores,
                                   side: judged)
    }

    /// −(1/|c_i|) Σ_t log p(c_i,t | prompt_i, c_i,<t) of each continuation c_i, teacher-forced, batched
    /// (0 for an empty one).
    func meanLosses(of continuations: [[Int32]], intervention: Intervention?) throws -> [Double] {
        let pairs = Continuations(prefixes: prompts, continuations: continuations)
        let sums = try pairs.logProbabilities(model: model, batchSize: batchSize, intervention: intervention)
        return zip(sums, continuations).map { $1.isEmpty ? 0 : -$0 / Double($1.count) }
    }
}

import Autodiff
import Datasets
import Foundation
import Interventions
import AuxiliaryMetrics
import Models
import TensorCore
import Tokenizers

/// Evaluates an answer task (`task.answer`, e.g. BIG-bench arithmetic) under interventions: per question,
/// the intervened model answers greedily and is graded as collection grades it (AnswerMatch), and the
/// expected answer's teacher-forced loss is measured under the same intervention.
///
///     correct_i   = AnswerMatch.isCorrect(greedy answer_i, expected_i)
///     loss_i      = −(1/|a_i|) Σ_t log p(a_i,t | question_i, a_i,<t)        (the paired test's measure)
///     shortcut_i  = the recipe's 0/1 metric (e.g. copies = prediction == n0 || prediction == n1), with
///                   prediction = the first number of the greedy answer
///
/// The intervention acts at every position of the question, the expected answer and each generated token.
final class AnswerEvaluator {
    let model: DecoderModel
    let tokenizer: any Tokenizer
    let sheet: AnswerSheet
    let maxTokens: Int
    let batchSize: Int
    let shortcut: Metric?

    init(experiment: Experiment, model: DecoderModel, examples: [Example], batchSize: Int,
         shortcut: Metric?) throws {
        self.model = model
        tokenizer = experiment.loaded.tokenizer
        sheet = try AnswerSheet(experiment, examples: examples)
        maxTokens = experiment.recipe.task.answerTokens
        self.batchSize = batchSize
        self.shortcut = shortcut
    }

    /// The sweep's summary of one intervention (nil: none). Answer tasks have no class distribution, so
    /// macro-F1 and the task KL are NaN; confidence is the mean probability of the whole expected answer.
    func summary(_ intervention: Intervention?) throws -> AblateStage.Summary {
        let logProbabilities = try sheet.pairs.logProbabilities(model: model, batchSize: batchSize,
                                                                intervention: intervention)
        var correct: [Bool] = [], shortcuts: [Bool] = []
        let stop = Set([tokenizer.endOfSequence].compactMap { $0 })
        for (i, question) in sheet.questions.enumerated() {
            let generated = try model.greedy(question, maxTokens: maxTokens, stop: stop, under: intervention,
                                             example: i)
            let text = tokenizer.decode(generated, skipSpecialTokens: true)
            let outcome = sheet.outcome(i, answered: text, logProbability: logProbabilities[i])
            correct.append(outcome.answerCorrect!)
            if let shortcut {
                let value = shortcut.values(for: sheet.examples[i], classes: 0, outcome: outcome).first ?? nil
                shortcuts.append(value == 1)
            }
        }
        let n = Double(max(1, correct.count))
        let losses = zip(logProbabilities, sheet.answers).map { -$0 / Double($1.count) }
        return AblateStage.Summary(accuracy: Double(correct.filter { $0 }.count) / n, macroF1: .nan,
                                   confidence: logProbabilities.reduce(0) { $0 + exp($1) } / n,
                                   loss: losses.reduce(0, +) / n, kl: .nan,
                                   losses: losses, scores: correct.map { $0 ? 1 : 0 },
                                   side: shortcut == nil ? nil : shortcuts.map { $0 ? 1 : 0 })
    }
}

import Autodiff
import Datasets
import Foundation
import Interventions
import Metrics
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
    let examples: [Example]
    let questions: [[Int32]]
    let expected: [String]
    let answers: [[Int32]]
    let maxTokens: Int
    let batchSize: Int
    let shortcut: Metric?

    init(experiment: Experiment, model: DecoderModel, examples: [Example], batchSize: Int,
         shortcut: Metric?) throws {
        self.model = model
        tokenizer = experiment.loaded.tokenizer
        self.examples = examples
        let template = experiment.recipe.task.template
        questions = examples.map {
            experiment.loaded.tokenizer.encode(TextPart.filling(template, with: $0.text), addSpecialTokens: true)
        }
        expected = examples.map(experiment.expectedAnswer)
        answers = expected.map { experiment.loaded.tokenizer.encodeData($0, addSpecialTokens: false) }
        maxTokens = experiment.recipe.task.answerTokens
        self.batchSize = batchSize
        self.shortcut = shortcut
        if let empty = questions.firstIndex(where: \.isEmpty) ?? answers.firstIndex(where: \.isEmpty) {
            throw CollectError.badPlan(path: experiment.recipeFile,
                                       detail: "\(examples[empty].source) row \(examples[empty].row) has an " +
                                       "empty question or answer; check task.template and task.answer")
        }
    }

    /// The sweep's summary of one intervention (nil: none). Answer tasks have no class distribution, so
    /// macro-F1 and the task KL are NaN; confidence is the mean probability of the whole expected answer.
    func summary(_ intervention: Intervention?) throws -> AblateStage.Summary {
        let losses = try answerLosses(intervention)
        var correct: [Bool] = [], shortcuts: [Bool] = []
        let stop = Set([tokenizer.endOfSequence].compactMap { $0 })
        for (i, question) in questions.enumerated() {
            let generated = try model.generate(prompt: question, maxTokens: maxTokens, stop: stop,
                                               hooksForStep: { rows, step in
                intervention?.hooks(rows: rows, lastRows: [rows - 1], salt: UInt64(i) &* 1024 &+ UInt64(step))
                    ?? HookSet()
            })
            let text = tokenizer.decode(generated, skipSpecialTokens: true)
            correct.append(AnswerMatch.isCorrect(text, expected: expected[i]))
            if let shortcut {
                var outcome = ModelOutcome(prediction: 0, confidence: exp(-losses[i] * Double(answers[i].count)),
                                           loss: losses[i])
                outcome.answerCorrect = correct[i]
                outcome.answer = AnswerMatch.firstNumber(text)?.value ?? .nan
                shortcuts.append((shortcut.values(for: examples[i], classes: 0, outcome: outcome).first ?? nil) == 1)
            }
        }
        let n = Double(max(1, questions.count))
        let confidence = zip(losses, answers).reduce(0) { $0 + exp(-$1.0 * Double($1.1.count)) } / n
        return AblateStage.Summary(accuracy: Double(correct.filter { $0 }.count) / n, macroF1: .nan,
                                   confidence: confidence, loss: losses.reduce(0, +) / n, kl: .nan,
                                   losses: losses, correct: correct, shortcut: shortcut == nil ? nil : shortcuts)
    }

    /// The expected answers' mean token loss under the intervention, teacher-forced, batched.
    func answerLosses(_ intervention: Intervention?) throws -> [Double] {
        var losses: [Double] = []
        var start = 0
        while start < questions.count {
            let members = Array(start..<min(questions.count, start + batchSize))
            let layout = TokenBatch(members.map { questions[$0] + answers[$0] })
            var predicting: [Int] = []
            for (s, i) in members.enumerated() {
                let rows = layout.tokenRows(s), first = questions[i].count - 1
                predicting += rows[first..<(first + answers[i].count)]
            }
            let hooks = intervention?.hooks(rows: layout.rows, lastRows: layout.lastRows,
                                            salt: UInt64(start)) ?? HookSet()
            let logits = model.forward(embeddings: try model.embed(layout), batch: layout, hooks: hooks,
                                       logitRows: predicting).logits!
            let v = logits.shape[1]
            try logits.value.withPointer { z in
                var row = 0
                for i in members {
                    var total = 0.0
                    for target in answers[i] {
                        total += logProbability(z + row * v, vocabulary: v, target: Int(target))
                        row += 1
                    }
                    guard total.isFinite else {
                        throw InterventionError.nonFinite(example: i, intervention: intervention)
                    }
                    losses.append(-total / Double(answers[i].count))
                }
            }
            start += members.count
        }
        return losses
    }
}

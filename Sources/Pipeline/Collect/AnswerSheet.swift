import Datasets
import Foundation
import AuxiliaryMetrics
import Models
import TensorCore
import Tokenizers

/// An answer task's examples as the model meets them, shared by collection and ablation: each question
/// (the template filled, after BOS) and its expected answer as text and tokens, the rows of a teacher-forced
/// pass that predict the answer's tokens, and the outcome of a greedy answer.
///
///     sequence_i = question_i + answer_i           rows predicting answer_i: |question_i| − 1 …
///     log p(answer_i) = Σ_t log p(answer_i,t | question_i, answer_i,<t)
struct AnswerSheet {
    let examples: [Example]
    let questions: [[Int32]]
    let expected: [String]
    let answers: [[Int32]]

    init(_ experiment: Experiment, examples: [Example]) throws {
        let tokenizer = experiment.loaded.tokenizer
        let template = experiment.recipe.task.template
        self.examples = examples
        questions = examples.map {
            tokenizer.encode(TextPart.filling(template, with: $0.text), addSpecialTokens: true)
        }
        expected = examples.map(experiment.expectedAnswer)
        answers = expected.map { tokenizer.encodeData($0, addSpecialTokens: false) }
        if let empty = questions.firstIndex(where: \.isEmpty) ?? answers.firstIndex(where: \.isEmpty) {
            throw CollectError.badPlan(path: experiment.recipeFile,
                                       detail: "\(examples[empty].source) row \(examples[empty].row) " +
                                       "has an empty question or answer; check task.template and task.answer")
        }
    }

    /// Question and answer of each of `members`, one sequence each.
    func sequences(_ members: [Int]) -> TokenBatch {
        TokenBatch(members.map { questions[$0] + answers[$0] })
    }

    /// The rows of `layout` (made by `sequences(members)`) that predict each member's answer tokens:
    /// the question's last token, then each answer token but the last.
    func predictingRows(_ layout: TokenBatch, members: [Int]) -> [Int] {
        var rows: [Int] = []
        for (s, i) in members.enumerated() {
            let tokens = layout.tokenRows(s), first = questions[i].count - 1
            rows += tokens[first..<(first + answers[i].count)]
        }
        return rows
    }

    /// log p(answer_i) of each member, from the logits at `predictingRows`, summed in token order.
    func answerLogProbabilities(_ logits: Tensor, members: [Int]) -> [Double] {
        let v = logits.shape[1]
        return logits.withPointer { z in
            var row = 0
            return members.map { i in
                var total = 0.0
                for target in answers[i] {
                    total += logProbability(z + row * v, vocabulary: v, target: Int(target))
                    row += 1
                }
                return total
            }
        }
    }

    /// Example i answered `text` greedily: its grade (AnswerMatch) and first number, beside the expected
    /// answer's probability and mean token loss.
    func outcome(_ i: Int, answered text: String, logProbability: Double) -> ModelOutcome {
        var outcome = ModelOutcome(prediction: 0, confidence: exp(logProbability),
                                   loss: -logProbability / Double(answers[i].count))
        outcome.answerCorrect = AnswerMatch.isCorrect(text, expected: expected[i])
        outcome.answer = AnswerMatch.firstNumber(text)?.value ?? .nan
        return outcome
    }
}

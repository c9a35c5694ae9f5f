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
///     log p(answer_i) = Σ_t log p(answer_i,t | question_i, answer_i,<t)     (Continuations)
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

    /// The questions and answers as teacher-forced pairs (Continuations).
    var pairs: Continuations { Continuations(prefixes: questions, continuations: answers) }

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

import Autodiff
import Datasets
import Foundation
import Metrics
import Models
import TensorCore
import Tokenizers

/// Collection for answer tasks (`task.answer`, e.g. BIG-bench arithmetic): the model reads the template and
/// answers by greedy generation.
///
/// Per example:
/// - the FFN sites at the question's last token (where the answer's first token is decided) and their mean
///   over the question's tokens;
/// - `loss`: the mean negative log-probability of the expected answer's tokens, teacher-forced;
/// - `confidence`: the probability of the whole expected answer, exp(−sum of those);
/// - `correct`: whether the greedy answer is the expected one (`AnswerMatch.isCorrect`: for numbers, BIG-bench's
///   rule, the first number in the output);
/// - `prediction` (for expressions): that first number, NaN if the output has none, so that comparisons
///   with it are false.
extension CollectStage {
    func collectAnswers(_ indices: [Int], model: DecoderModel, plan: CollectionPlan) throws -> Batch {
        let examples = indices.map { experiment.dataset.examples[$0] }
        let tokenizer = experiment.loaded.tokenizer
        let template = experiment.recipe.task.template
        let questions = examples.map {
            tokenizer.encode(TextPart.filling(template, with: $0.text), addSpecialTokens: true)
        }
        let expected = examples.map(experiment.expectedAnswer)
        let answers = expected.map { tokenizer.encodeData($0, addSpecialTokens: false) }
        if let empty = questions.firstIndex(where: \.isEmpty) ?? answers.firstIndex(where: \.isEmpty) {
            throw CollectError.badPlan(path: experiment.recipeFile,
                                       detail: "\(examples[empty].source) row \(examples[empty].row) " +
                                       "has an empty question or answer; " +
                                       "check task.template and task.answer")
        }
        let startTokens = tokenizer.leadingBOS == nil ? 0 : 1
        let b = examples.count
        // Teacher-forced pass over question + answer. Causal attention keeps the question's sites independent
        // of the answer that follows it.
        let layout = TokenBatch(zip(questions, answers).map { $0 + $1 })
        var sources: [[[Int]]] = []
        for position in plan.positions {
            switch position {
            case .last: sources.append((0..<b).map { [layout.tokenRows($0)[questions[$0].count - 1]] })
            case .mean: sources.append((0..<b).map { s in
                Array(layout.tokenRows(s)[startTokens..<questions[s].count])
            })
            default: preconditionFailure("answer tasks record last and mean")
            }
        }
        let hookedRows = Array(Set(sources.flatMap { $0.flatMap { $0 } })).sorted()
        let rowIndex = Dictionary(uniqueKeysWithValues: hookedRows.enumerated().map { ($1, $0) })
        // The rows predicting each answer token: the question's last token, then each answer token but the last.
        var predictingRows: [Int] = []
        for s in 0..<b {
            let rows = layout.tokenRows(s), first = questions[s].count - 1
            predictingRows += rows[first..<(first + answers[s].count)]
        }
        let capture = SiteCapture(layers: plan.layers, rows: hookedRows)
        let logits = model.forward(embeddings: try model.embed(layout), batch: layout, hooks: capture.hooks,
                                   logitRows: predictingRows).logits!

        let activations = try averagedSites(capture.sites, sources: sources, rowIndex: rowIndex,
                                            examples: examples, plan: plan)

        var answerLogProbabilities = [Double](repeating: 0, count: b)
        let v = logits.shape[1]
        logits.value.withPointer { z in
            var row = 0
            for s in 0..<b {
                for target in answers[s] {
                    answerLogProbabilities[s] += logProbability(z + row * v, vocabulary: v, target: Int(target))
                    row += 1
                }
            }
        }

        var metrics: [Double] = []
        var generatedTokens = 0
        for (s, example) in examples.enumerated() {
            let generated = try model.generate(prompt: questions[s], maxTokens: experiment.recipe.task.answerTokens,
                                               stop: Set([tokenizer.endOfSequence].compactMap { $0 }))
            generatedTokens += generated.count
            let text = tokenizer.decode(generated, skipSpecialTokens: true)
            var outcome = ModelOutcome(prediction: 0, confidence: exp(answerLogProbabilities[s]),
                                       loss: -answerLogProbabilities[s] / Double(answers[s].count))
            outcome.answerCorrect = AnswerMatch.isCorrect(text, expected: expected[s])
            outcome.answer = AnswerMatch.firstNumber(text)?.value ?? .nan
            for metric in plan.metrics {
                let values = metric.values(for: example, classes: 0, outcome: outcome)
                if let bad = values.firstIndex(where: { $0 == nil || $0!.isNaN }) {
                    let name = metric.columnNames(classes: [])[bad]
                    throw CollectError.badPlan(path: experiment.recipeFile,
                                               detail: "metric '\(name)' is not a number for \(example.source) row " +
                                               "\(example.row), where the model answered '\(text)'. " +
                                               "When the answer has no number, prediction is NaN: " +
                                               "compare it (==, !=) rather than compute with it")
                }
                metrics += values.map { $0! }
            }
        }
        return Batch(activations: activations, metrics: metrics, rowIndices: indices,
                     rowTokens: nil, tokens: layout.rows + generatedTokens)
    }
}

import Autodiff
import Datasets
import Foundation
import AuxiliaryMetrics
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
        let sheet = try AnswerSheet(experiment, examples: examples)
        let questions = sheet.questions
        let startTokens = tokenizer.leadingBOS == nil ? 0 : 1
        let b = examples.count
        // Teacher-forced pass over question + answer. Causal attention keeps the question's sites independent
        // of the answer that follows it.
        let members = Array(examples.indices)
        let layout = sheet.pairs.sequences(members)
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
        let predictingRows = sheet.pairs.predictingRows(layout, members: members)
        let capture = SiteCapture(layers: plan.layers, rows: hookedRows)
        let logits = model.forward(embeddings: try model.embed(layout), batch: layout, hooks: capture.hooks,
                                   logitRows: predictingRows).logits!

        let activations = try averagedSites(capture.sites, sources: sources, rowIndex: rowIndex,
                                            examples: examples, plan: plan)

        let answerLogProbabilities = sheet.pairs.logProbabilities(logits.value, members: members)

        var metrics: [Double] = []
        var generatedTokens = 0
        for (s, example) in examples.enumerated() {
            let generated = try model.generate(prompt: questions[s], maxTokens: experiment.recipe.task.answerTokens,
                                               stop: Set([tokenizer.endOfSequence].compactMap { $0 }))
            generatedTokens += generated.count
            let text = tokenizer.decode(generated, skipSpecialTokens: true)
            let outcome = sheet.outcome(s, answered: text, logProbability: answerLogProbabilities[s])
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

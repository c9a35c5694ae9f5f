import ActivationStores
import Testing
import Foundation
import Datasets
import HDF5Kit
import Models
import Pipeline
import Recipes
import TestSupport

/// Grading of generated answers: BIG-bench's rule for numbers, a whole-word prefix for text.
@Suite struct AnswerMatchTests {
    @Test func numbersAreGradedByTheFirstNumberInTheOutput() {
        #expect(AnswerMatch.isCorrect(" 109\nQ: what", expected: " 109"))
        #expect(!AnswerMatch.isCorrect(" 1090", expected: " 109"))
        // BIG-bench takes the first match of [-+]?\d+: "7 - 3 = 4" answers 7.
        #expect(!AnswerMatch.isCorrect(" 7 - 3 = 4", expected: "4"))
        #expect(AnswerMatch.isCorrect(" The answer is 4.", expected: "4"))
        #expect(AnswerMatch.isCorrect(" -10", expected: "-10"))
        #expect(!AnswerMatch.isCorrect(" 10", expected: "-10"))
        #expect(!AnswerMatch.isCorrect(" +5", expected: "5"))   // compared as strings, as BIG-bench does
        #expect(!AnswerMatch.isCorrect(" none", expected: "5"))
    }

    @Test func textAnswersMustStartTheOutputAsAWholeWord() {
        #expect(AnswerMatch.isCorrect(" Paris. It is", expected: " Paris"))
        #expect(!AnswerMatch.isCorrect(" Parisian", expected: " Paris"))
        #expect(!AnswerMatch.isCorrect(" It is Paris", expected: " Paris"))
        #expect(!AnswerMatch.isCorrect(" Paris", expected: "  "))
    }

    @Test func firstNumberReadsSignsAndSkipsText() {
        #expect(AnswerMatch.firstNumber("abc")  == nil)
        #expect(AnswerMatch.firstNumber(" x = -12 or 3")?.value == -12)
        #expect(AnswerMatch.firstNumber(" x = -12 or 3")?.text == "-12")
        #expect(AnswerMatch.firstNumber("+7")?.value == 7 && AnswerMatch.firstNumber("+7")?.text == "+7")
        #expect(AnswerMatch.firstNumber("3.75")?.text == "3")
    }
}

/// An answer task (task.answer) on a tiny random Llama and two BIG-bench-format files read through a glob:
/// the store's metrics are the answer's teacher-forced loss and probability, and the grade and the number of
/// the model's own greedy answer.
@Suite struct AnswerTaskTests {
    func setUp(_ directory: URL, stages: String = "[collect, rank]", extra: String = "") throws -> Recipe {
        let config = CollectRankTests.config
        try TinyModels.writeLlamaGGUF(directory.appendingPathComponent("tiny.gguf"), tensors: TinyModels.llamaTensors(config), config: config)
        for (task, op, f) in [("plus", "plus", { (a: Int, b: Int) in a + b }), ("times", "times", { (a: Int, b: Int) in a * b })] {
            let folder = directory.appendingPathComponent("arith/\(task)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let examples = (0..<40).map { i -> [String: Any] in
                let (a, b) = (i % 9 + 1, (i * 7) % 10)
                return ["input": "What is \(a) \(op) \(b)?", "target": String(f(a, b)), "target_scores": [String(f(a, b)): 1.0]]
            }
            let json = try JSONSerialization.data(withJSONObject: ["name": task, "examples": examples])
            try json.write(to: folder.appendingPathComponent("task.json"))
        }
        return try Recipe(text: """
        name: arith
        model: \(directory.appendingPathComponent("tiny.gguf").path)
        seed: 3
        output: \(directory.appendingPathComponent("run").path)
        stages: \(stages)
        data: {loader: bigbench_arithmetic, path: "\(directory.appendingPathComponent("arith").path)/{plus,times}/task.json", split: {train: 0.6, dev: 0.2, test: 0.2}}
        task: {template: "Q: {text}\\nA:", answer: " {target}", answer_tokens: 3}
        collect: {positions: [last, mean], metrics: [correct, loss, confidence, "shortcut = prediction == n0 + n1", "copies = prediction == n0"], batch_size: 5}
        rank: {permutations: 20, top_k: 4, bootstrap: 0, metric: loss, contrast: [confidence, loss]}
        \(extra)
        """, file: "arith.yaml")
    }

    @Test func metricsAreTheAnswersLossProbabilityAndGreedyGrade() throws {
        let directory = try Fixtures.scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let recipe = try setUp(directory)
        let experiment = try Experiment(recipe: recipe, file: "arith.yaml", root: directory)
        #expect(experiment.dataset.examples.count == 80)
        #expect(Set(experiment.dataset.examples.map { $0.fields["task"] ?? "" }) == ["plus", "times"])
        let folder = try RunFolder(experiment.runFolder)
        let collected = try CollectStage(experiment: experiment, folder: folder).run(quiet: true)
        #expect(collected.metrics == ["correct", "loss", "confidence", "shortcut", "copies"])
        #expect(collected.positions == ["last", "mean"])
        let store = try ActivationStoreReader(url: URL(fileURLWithPath: collected.store))
        guard case .decoder(let model) = experiment.loaded.model else { Issue.record("not a Llama"); return }
        let tokenizer = experiment.loaded.tokenizer
        for row in [0, 17, store.rows - 1] {
            let example = experiment.dataset.examples[store.indices[row]]
            let question = tokenizer.encode("Q: \(example.text)\nA:", addSpecialTokens: true)
            let answer = tokenizer.encode(" \(example.fields["target"]!)", addSpecialTokens: false)
            // Teacher-forced log-probability of the answer, one sequence at a time.
            let batch = TokenBatch([question + answer])
            let logits = model.forward(embeddings: try model.embed(batch), batch: batch).logits!.value
            let v = logits.shape[1]
            var logProbability = 0.0
            for (j, target) in answer.enumerated() {
                let r = question.count - 1 + j
                let rowValues = (0..<v).map { Double(logits.scalars[r * v + $0]) }
                let maximum = rowValues.max()!
                logProbability += rowValues[Int(target)] - maximum - log(rowValues.reduce(0) { $0 + exp($1 - maximum) })
            }
            let values = (0..<5).map { store.metricValues[row * 5 + $0] }
            #expect(abs(values[1] - (-logProbability / Double(answer.count))) < 1e-4)
            #expect(abs(values[2] - exp(logProbability)) < 1e-4 * max(1, exp(logProbability)))
            // The grade and the shortcut come from the model's own greedy answer.
            let generated = tokenizer.decode(try model.generate(prompt: question, maxTokens: 3), skipSpecialTokens: true)
            #expect(values[0] == (AnswerMatch.isCorrect(generated, expected: example.fields["target"]!) ? 1 : 0))
            let numbers = example.text.split(whereSeparator: { !$0.isNumber }).compactMap { Double($0) }
            let prediction = AnswerMatch.firstNumber(generated)?.value
            #expect(values[3] == (prediction == numbers[0] + numbers[1] ? 1 : 0))
            #expect(values[4] == (prediction == numbers[0] ? 1 : 0))
        }

        // The contrast lists neurons whose |r| with confidence exceeds their |r| with loss, largest margin first.
        let ranked = try RankStage(experiment: experiment, folder: folder).run(quiet: true)
        let contrast = try #require(ranked.contrast)
        #expect(contrast.a == "confidence" && contrast.b == "loss")
        #expect(contrast.neurons.allSatisfy { $0.margin > 0 })
        #expect(zip(contrast.neurons, contrast.neurons.dropFirst()).allSatisfy { $0.margin >= $1.margin })
        // It survives the archive.
        let reloaded = try RankStage.load(EvidenceArchive.url(folder))
        #expect(reloaded.contrast == contrast)
    }

    @Test func stagesThatNeedClassesAndMissingColumnsAreRejected() throws {
        let directory = try Fixtures.scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let withEdit = try setUp(directory, stages: "[collect, rank, edit]")
        #expect(throws: RecipeErrors.self) { try Experiment(recipe: withEdit, file: "arith.yaml", root: directory) }
        do {
            _ = try Experiment(recipe: withEdit, file: "arith.yaml", root: directory)
        } catch let errors as RecipeErrors {
            #expect(errors.issues.contains { $0.path == "stages" && $0.message.contains("edit") })
        }
        // A shortcut must be one of collect.metrics' expressions.
        let unknown = try setUp(directory, stages: "[collect, rank, ablate]",
                                extra: "ablate: {modes: [zero], k: [2], random_sets: 2, general_texts: 0, shortcut: guesses}")
        let e = try Experiment(recipe: unknown, file: "arith.yaml", root: directory)
        #expect(throws: RecipeErrors.self) { try e.checkStageOptions() }
        // An answer's loss is read at every answer token: interventions at the last token alone are refused.
        let last = try setUp(directory, stages: "[collect, rank, ablate]",
                             extra: "ablate: {modes: [zero], k: [2], random_sets: 2, general_texts: 0, positions: last}")
        let lastOnly = try Experiment(recipe: last, file: "arith.yaml", root: directory)
        #expect(throws: RecipeErrors.self) { try lastOnly.checkStageOptions() }
        let base = try setUp(directory)
        let missing = try Recipe(text: base.text.replacingOccurrences(of: "answer: \" {target}\"", with: "answer: \" {answer}\""), file: "arith.yaml")
        do {
            _ = try Experiment(recipe: missing, file: "arith.yaml", root: directory)
            Issue.record("a missing answer column was accepted")
        } catch let errors as RecipeErrors {
            #expect(errors.issues.contains { $0.path == "task.answer" && $0.message.contains("'answer'") }, "\(errors)")
        }
        let labelMetric = try Recipe(text: base.text.replacingOccurrences(of: "metrics: [correct,", with: "metrics: [label, correct,"), file: "arith.yaml")
        let experiment = try Experiment(recipe: labelMetric, file: "arith.yaml", root: directory)
        #expect(throws: RecipeErrors.self) { try CollectStage(experiment: experiment, folder: try RunFolder(experiment.runFolder)).run(quiet: true) }
    }

    /// Ablation of an answer task: each intervened model answers greedily; the accuracy is the share of
    /// correct answers and the shortcut's share is reported beside it, both against random sets.
    @Test func ablationGradesGreedyAnswersAndTheShortcutsShare() throws {
        let directory = try Fixtures.scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let plus = "\(directory.appendingPathComponent("arith").path)/plus/task.json"
        let recipe = try setUp(directory, stages: "[collect, rank, ablate]", extra: """
            ablate: {modes: [zero, amplify], k: [2], strengths: [1], amplify_k: 2, random_sets: 3, general_texts: 0,
                     metric: confidence, shortcut: copies, examples: 8, batch_size: 3,
                     data: {loader: bigbench_arithmetic, path: "\(plus)"}}
            """)
        let experiment = try Experiment(recipe: recipe, file: "arith.yaml", root: directory)
        try experiment.checkStageOptions()
        let folder = try RunFolder(experiment.runFolder)
        _ = try CollectStage(experiment: experiment, folder: folder).run(quiet: true)
        _ = try RankStage(experiment: experiment, folder: folder).run(quiet: true)
        let result = try AblateStage(experiment: experiment, folder: folder).run(quiet: true)
        // The unablated grades, one question at a time.
        guard case .decoder(let model) = experiment.loaded.model else { Issue.record("not a Llama"); return }
        let tokenizer = experiment.loaded.tokenizer
        var correct = 0, copies = 0
        let questions = try DatasetLoader.load(DatasetSpec(format: .bigbenchArithmetic, path: plus)).examples.prefix(8)
        for example in questions {
            let question = tokenizer.encode("Q: \(example.text)\nA:", addSpecialTokens: true)
            let stop = Set([tokenizer.endOfSequence].compactMap { $0 })
            let answer = tokenizer.decode(try model.generate(prompt: question, maxTokens: 3, stop: stop),
                                          skipSpecialTokens: true)
            if AnswerMatch.isCorrect(answer, expected: " \(example.fields["target"]!)") { correct += 1 }
            let first = example.text.split(whereSeparator: { !$0.isNumber }).compactMap { Double($0) }[0]
            if AnswerMatch.firstNumber(answer)?.value == first { copies += 1 }
        }
        #expect(result.testExamples == 8)
        #expect(result.baselineAccuracy == Double(correct) / 8)
        let shortcut = try #require(result.side)
        #expect(shortcut.name == "copies" && shortcut.baseline == Double(copies) / 8)
        // ×1 amplification is the unablated model: the same grades and shares, for every random set too.
        let unchanged = try #require(result.curves.first { $0.mode == .amplify }?.points.first)
        #expect(unchanged.accuracy == result.baselineAccuracy && unchanged.side?.value == shortcut.baseline)
        #expect(unchanged.side?.randomValues == [Double](repeating: shortcut.baseline, count: 3))
        let zero = try #require(result.curves.first { $0.mode == .zero }?.points.first)
        #expect(zero.side?.randomValues.count == 3 && zero.macroF1.isNaN)
        // The swept neurons are the top of the confidence ranking, and the archive says so.
        let reused = try AblateStage(experiment: experiment, folder: folder).run(quiet: true)
        #expect(reused.side?.baseline == shortcut.baseline)
        #expect(reused.curves.first?.points.first?.side?.value == result.curves.first?.points.first?.side?.value)
        let archive = try EvidenceArchive.open(EvidenceArchive.url(folder))
        let group = try archive.root.group("ablate")
        #expect(try group.attribute("neurons_metric") == .string("confidence"))
    }

    @Test func aGlobThatMatchesNothingIsAnError() throws {
        #expect(throws: DatasetError.self) { try DatasetLoader.matchingFiles("/nonexistent-\(UUID())/*/task.json") }
        #expect(try DatasetLoader.matchingFiles("/plain/path.json") == ["/plain/path.json"])
    }
}

/// The contrast of two metrics on hand-made score tables.
@Suite struct MetricContrastTests {
    @Test func neuronsAreThoseTrackingTheFirstMetricMoreAtTheSamePosition() {
        // 2 positions × 4 columns (2 layers of 2 neurons).
        let scoreA: [Double] = [0.9, 0.1, -0.6, .nan,   0.2, 0.3, 0.1, 0.5]
        let scoreB: [Double] = [0.8, 0.4, 0.1, 0.2,     0.9, -0.1, 0.5, 0.1]
        let qA: [Double] = [0.01, 0.5, 0.01, .nan,  0.5, 0.5, 0.5, 0.01]
        let qB: [Double] = [0.01, 0.5, 0.5, 0.5,    0.01, 0.5, 0.5, 0.5]
        let c = MetricContrast.compute(a: "shortcut", b: "correct", scoreA: scoreA, qA: qA, scoreB: scoreB, qB: qB,
                                       positions: 2, columns: 4, layers: [3, 7], neuronsPerLayer: 2)
        // Column 2 (layer 7, neuron 0): margin 0.5 at position 0; column 3: 0.4 at position 1;
        // column 1: 0.2 at position 1; column 0: 0.1 at position 0.
        #expect(c.neurons.map { [$0.layer, $0.neuron, $0.position] } == [[7, 0, 0], [7, 1, 1], [3, 1, 1], [3, 0, 0]])
        #expect(abs(c.neurons[0].margin - 0.5) < 1e-12 && c.neurons[0].scoreA == -0.6)
        // Significant for a only: columns 2 and 3; for b only: none (column 0 is significant for both).
        #expect(c.onlyA == 2 && c.onlyB == 0)
    }
}

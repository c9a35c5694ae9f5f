import Testing
import Foundation
import Datasets
import Models
import Pipeline
import Recipes
import Statistics
import TestSupport

/// Smoothed sentence BLEU, against values worked out by hand from its definition (Statistics/BLEU.swift).
@Suite struct BLEUTests {
    func words(_ text: String) -> [String] { BLEU.words(text) }

    @Test func aWorkedExample() {
        // p1 = 5/6; bigrams 3 of 5 match, (3+1)/(5+1); trigrams 1 of 4, 2/5; 4-grams 0 of 3, 1/4; BP = 1.
        let bleu = BLEU.sentence(words("the cat sat on the mat"), reference: words("the cat is on the mat"))
        #expect(abs(bleu - pow(5.0 / 6 * 4 / 6 * 2 / 5 * 1 / 4, 0.25)) < 1e-12)
    }

    @Test func countsAreClippedAndShortCandidatesPaid() {
        // "the" four times against one: p1 = 1/4, then (0+1)/(3+1), (0+1)/(2+1), (0+1)/(1+1); c > r.
        let clipped = BLEU.sentence(words("the the the the"), reference: words("the cat"))
        #expect(abs(clipped - pow(1.0 / 4 * 1 / 4 * 1 / 3 * 1 / 2, 0.25)) < 1e-12)
        // Two words of six: every precision is 1 (no 3- or 4-grams: (0+1)/(0+1)), BP = exp(1 − 6/2).
        let short = BLEU.sentence(words("the cat"), reference: words("the cat sat on the mat"))
        #expect(abs(short - exp(-2.0)) < 1e-12)
    }

    @Test func edgeCases() {
        let text = words("a b c d e")
        #expect(BLEU.sentence(text, reference: text) == 1)
        #expect(BLEU.sentence([], reference: text) == 0)
        #expect(BLEU.sentence(words("x y z"), reference: text) == 0)
        #expect(BLEU.words("  two\twords\n") == ["two", "words"])
        #expect(BLEU.sentence(words("A b"), reference: words("a b"), order: 1) == 0.5)   // case matters
    }
}

/// Ablating a language-modelling task: each intervened model continues held-out texts greedily; BLEU
/// against the texts' own next tokens is the score, and the generated tokens' log-loss under the
/// unablated model is reported beside it, both against random sets.
@Suite struct ContinuationAblationTests {
    func setUp(_ directory: URL, ablate: String, texts: [String]? = nil) throws -> Recipe {
        let config = CollectRankTests.config
        try TinyModels.writeLlamaGGUF(directory.appendingPathComponent("tiny.gguf"),
                                      tensors: TinyModels.llamaTensors(config), config: config)
        var rows = "text\n"
        for i in 0..<30 { rows += "line \(i) of text\(String(repeating: " more", count: i % 3))\n" }
        try rows.write(to: directory.appendingPathComponent("data.csv"), atomically: true, encoding: .utf8)
        let long = texts ?? (0..<7).map { "Story \($0): the river ran past the mill and on to the sea, slowly." }
        let lines = try long.map { String(decoding: try JSONSerialization.data(withJSONObject: ["document": $0]),
                                          as: UTF8.self) }
        try lines.joined(separator: "\n").write(to: directory.appendingPathComponent("docs.jsonl"),
                                                atomically: true, encoding: .utf8)
        return try Recipe(text: """
        name: continue
        model: \(directory.appendingPathComponent("tiny.gguf").path)
        seed: 5
        output: \(directory.appendingPathComponent("run").path)
        stages: [collect, rank, ablate]
        data: {loader: csv, path: \(directory.appendingPathComponent("data.csv").path), text: text, split: {train: 0.7, dev: 0.3, test: 0.0}}
        task: {template: "{text}"}
        collect: {positions: [every], metrics: [logprob], max_tokens: 6, batch_size: 3}
        rank: {permutations: 20, top_k: 4, bootstrap: 0}
        ablate: \(ablate)
        """, file: "continue.yaml")
    }

    static let sweep = """
        {modes: [zero, amplify], k: [2], strengths: [1], amplify_k: 2, random_sets: 3, general_texts: 0,
         examples: 7, batch_size: 4, continuation: {prompt_tokens: 12, tokens: 8}, headline: {mode: zero, k: 2},
         data: {loader: jsonl, path: docs.jsonl, text: document}}
        """

    @Test func continuationsAreScoredByBLEUAndJudgedByTheUnablatedModel() throws {
        let directory = try Fixtures.scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let recipe = try setUp(directory, ablate: Self.sweep)
        let experiment = try Experiment(recipe: recipe, file: "continue.yaml", root: directory)
        try experiment.checkStageOptions()
        let folder = try RunFolder(experiment.runFolder)
        _ = try CollectStage(experiment: experiment, folder: folder).run(quiet: true)
        _ = try RankStage(experiment: experiment, folder: folder).run(quiet: true)
        let result = try AblateStage(experiment: experiment, folder: folder).run(quiet: true)

        // The unablated figures, one text at a time, from the model directly.
        guard case .decoder(let model) = experiment.loaded.model else { Issue.record("not a Llama"); return }
        let tokenizer = experiment.loaded.tokenizer
        let stop = Set([tokenizer.endOfSequence].compactMap { $0 })
        let docs = DatasetSpec(format: .jsonl, path: directory.appendingPathComponent("docs.jsonl").path,
                               textColumn: "document")
        let examples = try DatasetLoader.load(docs).examples
        #expect(examples.count == 7)
        var bleu = 0.0, nll = 0.0
        for example in examples {
            let ids = tokenizer.encode(example.text, addSpecialTokens: true)
            let prompt = Array(ids[..<12]), reference = Array(ids[12..<20])
            let generated = try model.generate(prompt: prompt, maxTokens: 8, stop: stop)
            bleu += BLEU.sentence(BLEU.words(tokenizer.decode(generated, skipSpecialTokens: true)),
                                  reference: BLEU.words(tokenizer.decode(reference, skipSpecialTokens: true)))
            let all = prompt + generated
            let logits = model.forward(embeddings: try model.embed(TokenBatch([all])), batch: TokenBatch([all]),
                                       logitRows: Array(11..<(all.count - 1))).logits!.value
            var total = 0.0
            for (t, target) in generated.enumerated() {
                let v = logits.shape[1]
                let row = logits.scalars[(t * v)..<((t + 1) * v)].map(Double.init)
                let top = row.max()!
                let sum: Double = row.reduce(0) { $0 + exp($1 - top) }
                total += row[Int(target)] - top - log(sum)
            }
            nll += generated.isEmpty ? 0 : -total / Double(generated.count)
        }
        #expect(result.testExamples == 7 && result.score == "bleu")
        #expect(abs(result.baselineAccuracy - bleu / 7) < 1e-12)
        let side = try #require(result.side)
        #expect(side.name == "generated_nll" && abs(side.baseline - nll / 7) < 1e-4)
        // ×1 amplification is the unablated model: the same BLEU and judged loss, for every random set too.
        let unchanged = try #require(result.curves.first { $0.mode == .amplify }?.points.first)
        #expect(unchanged.accuracy == result.baselineAccuracy && unchanged.side?.value == side.baseline)
        #expect(unchanged.randomAccuracy == [Double](repeating: result.baselineAccuracy, count: 3))
        #expect(unchanged.side?.randomValues == [Double](repeating: side.baseline, count: 3))
        let zero = try #require(result.curves.first { $0.mode == .zero }?.points.first)
        #expect(zero.side?.randomValues.count == 3 && zero.macroF1.isNaN && zero.differenceInterval != nil)
        #expect(result.headline?.sentence(in: result).hasPrefix("zero-ablating the top 2: BLEU ") == true)
        // Read back from the archive, the sweep is the same.
        let reused = try AblateStage(experiment: experiment, folder: folder).run(quiet: true)
        #expect(reused.score == "bleu" && reused.side?.baseline == side.baseline)
        #expect(reused.curves.first?.points.first?.side?.value == zero.side?.value)
    }

    @Test func textsTooShortAndContinuationsOfClassTasksAreRefused() throws {
        let directory = try Fixtures.scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let recipe = try setUp(directory, ablate: Self.sweep, texts: ["Too short.", "Also short."])
        let experiment = try Experiment(recipe: recipe, file: "continue.yaml", root: directory)
        let folder = try RunFolder(experiment.runFolder)
        _ = try CollectStage(experiment: experiment, folder: folder).run(quiet: true)
        _ = try RankStage(experiment: experiment, folder: folder).run(quiet: true)
        do {
            _ = try AblateStage(experiment: experiment, folder: folder).run(quiet: true)
            Issue.record("texts shorter than the prompt and continuation were accepted")
        } catch {
            #expect("\(error)".contains("ablate.continuation") && "\(error)".contains("ablate.data"), "\(error)")
        }
        // A classification task has no continuations to score.
        var rows = "text,label\n"
        for i in 0..<20 { rows += "sample \(i),\(i % 2)\n" }
        try rows.write(to: directory.appendingPathComponent("classes.csv"), atomically: true, encoding: .utf8)
        let classes = try Recipe(text: """
            name: classes
            model: \(directory.appendingPathComponent("tiny.gguf").path)
            stages: [collect, rank, ablate]
            data: {loader: csv, path: \(directory.appendingPathComponent("classes.csv").path), text: text, label: label}
            task: {template: "{text}:", verbalizers: ["a", "b"]}
            ablate: {continuation: {tokens: 4}}
            """, file: "classes.yaml")
        do {
            try Experiment(recipe: classes, file: "classes.yaml", root: directory).checkStageOptions()
            Issue.record("ablate.continuation on a class task was accepted")
        } catch let errors as RecipeErrors {
            #expect(errors.issues.contains { $0.path == "ablate.continuation" }, "\(errors)")
        }
    }
}

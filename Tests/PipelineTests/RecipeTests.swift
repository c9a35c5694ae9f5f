import AtomicFiles
import Testing
import Foundation
import Recipes
import Pipeline

@Suite struct RecipeTests {
    /// docs/recipes.md holds the schema's reference as `scalpel recipe explain --markdown` prints it,
    /// between its two markers: a key added, removed or changed in the schema fails here until the page
    /// follows.
    @Test func theRecipesPageIsTheSchema() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let page = try String(contentsOf: root.appendingPathComponent("docs/recipes.md"), encoding: .utf8)
        let begin = try #require(page.range(of: "<!-- generated: begin -->"), "docs/recipes.md lost its begin marker")
        let end = try #require(page.range(of: "<!-- generated: end -->"), "docs/recipes.md lost its end marker")
        let block = page[begin.upperBound..<end.lowerBound].trimmingCharacters(in: .whitespacesAndNewlines)
        let schema = RecipeValidator.markdown().trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(block == schema, """
            docs/recipes.md has drifted from the recipe schema: put the output of \
            `scalpel recipe explain --markdown` between its markers
            """)
    }

    static let valid = """
    name: t
    model: smollm2
    data:
      loader: polarity
      path: data/polarity/polarity-en-pang&lee2.csv
    task:
      template: "{text}\\nSentiment:"
      verbalizers: [" negative", " positive"]
    """

    @Test func defaultsAreFilledIn() throws {
        let r = try Recipe(text: Self.valid)
        #expect(r.seed == 0 && r.output == "runs/t" && r.stages == ["prompt"] && r.prompt.length == 16 && r.prompt.batchSize == 16)
        #expect(r.data.train == 0.8 && r.task.template == "{text}\nSentiment:")
    }

    /// A variant of a recipe: the keys set (nested sections made), the rest kept, and the result checked
    /// as any recipe is.
    @Test func aVariantSetsItsKeysAndKeepsTheRest() throws {
        let r = try Recipe(text: Self.valid)
        let variant = try r.setting(["collect.precision": "int8", "seed": 7, "stages": ["prompt", "collect"]],
                                    file: "variant")
        #expect(variant.string("collect.precision") == "int8" && variant.seed == 7)
        #expect(variant.stages == ["prompt", "collect"] && variant.task.template == r.task.template)
        #expect(variant.data.loader == r.data.loader && variant.name == r.name)
        #expect(throws: RecipeErrors.self) { try r.setting(["collect.precision": "int4"], file: "variant") }
    }

    /// The recipe's `stages` list and the runner name the same stages, in the same order.
    @Test func theSchemaNamesEveryStage() {
        #expect(RecipeSchema.stages == StageName.allCases.map(\.rawValue))
    }

    /// Defaults are written once, in the schema, and the stages read them from there: each one must parse
    /// as its field's type, or a stage reading it would find nothing.
    @Test func everyDefaultParses() throws {
        let r = try Recipe(text: Self.valid)
        func paths(_ fields: [Field], _ prefix: String) -> [(String, Field)] {
            fields.flatMap { field -> [(String, Field)] in
                if case .section(let inner) = field.type { return paths(inner, prefix + field.name + ".") }
                return [(prefix + field.name, field)]
            }
        }
        let defaulted = paths(RecipeSchema.fields, "").filter { $0.1.defaultValue != nil }
        #expect(defaulted.count > 30)
        for (path, field) in defaulted {
            let s = r.settings
            let read: Any? = switch field.type {
            case .integer: s.int(path)
            case .number: s.number(path)
            case .string, .choice: s.string(path)
            case .stringList: s.list(path)
            case .integerList: s.ints(path)
            case .numberList: s.numbers(path)
            case .bool: s.node(path)?.bool
            case .integerMap, .section: s.node(path)
            }
            #expect(read != nil, "\(path): its default \(field.defaultValue!) does not read as \(field.type)")
        }
        // A value the recipe gives wins over the default; a key with no default reads as nil.
        let given = try Recipe(text: Self.valid + "\nrank: {permutations: 7}")
        #expect(given.settings.int("rank.permutations") == 7 && r.settings.int("rank.permutations") == 1000)
        #expect(r.settings.string("rank.metric") == nil && r.settings.int("ablate.examples") == nil)
        #expect(r.settings.ints("ablate.k") == [10, 50, 200])
    }

    /// A stage's recorded inputs name the sections it reads in a canonical text: the same meaning gives
    /// the same text whatever the layout, comments or key order, and another value gives another text.
    @Test func sectionsHaveACanonicalText() throws {
        let a = try Recipe(text: Self.valid + "\ncollect:\n  positions: [last, mean]\n  metrics: [label]\n  batch_size: 8\nrank: {top_k: 5}")
        let b = try Recipe(text: "# a comment\n\n" + Self.valid + "\nrank:\n  top_k: 5\ncollect: {batch_size: 8, metrics: [label], positions: [last, mean]}")
        #expect(a.canonical("collect") == #"{"batch_size": "8", "metrics": ["label"], "positions": ["last", "mean"]}"#)
        #expect(a.canonical("collect") == b.canonical("collect") && a.canonical("rank") == b.canonical("rank"))
        #expect(a.canonicalBasis == b.canonicalBasis && a.canonicalPrompt == b.canonicalPrompt)
        let c = try Recipe(text: Self.valid + "\ncollect: {batch_size: 4, metrics: [label], positions: [last, mean]}")
        #expect(c.canonical("collect") != a.canonical("collect") && a.canonical("ablate") == "")
        let d = try Recipe(text: Self.valid.replacingOccurrences(of: "path: data", with: "path: other"))
        #expect(d.canonicalBasis != a.canonicalBasis)
        // A dictionary (data.labels) prints in sorted order whatever order it was built in.
        let labelled = { (labels: String) in try Recipe(text: Self.valid.replacingOccurrences(of: "  loader: polarity", with: "  loader: polarity\n  labels: \(labels)")) }
        let e = try labelled("{pos: 1, neg: 0, mixed: 2, other: 3}"), f = try labelled("{other: 3, mixed: 2, neg: 0, pos: 1}")
        #expect(e.canonicalBasis == f.canonicalBasis && e.canonicalBasis.contains(#"labels: {"mixed": 2, "neg": 0, "other": 3, "pos": 1}"#), "\(e.canonicalBasis)")
        #expect(a.canonicalPrompt.contains("learningRate: ") && !a.canonicalPrompt.contains("$"))
    }

    /// Every problem at once, each with its key path, its line and what is allowed.
    @Test func everyProblemIsReportedWithItsPathAndLine() {
        let text = """
        name: t
        model: smollm2
        colour: blue
        data:
          loader: parquet
          path: x.csv
          limit: many
        task:
          verbalizers: a
        prompt:
          epochs: -1
        """
        do {
            _ = try Recipe(text: text, file: "bad.yaml")
            Issue.record("accepted")
        } catch let errors as RecipeErrors {
            let paths = errors.issues.map(\.path)
            #expect(paths.contains("colour") && paths.contains("data.loader") && paths.contains("data.limit") && paths.contains("task.verbalizers"))
            #expect(errors.issues.first { $0.path == "colour" }?.line == 3)
            #expect(errors.issues.first { $0.path == "data.loader" }?.message.contains("polarity") == true)
            #expect(errors.issues.first { $0.path == "data.limit" }?.message.contains("an integer") == true)
            #expect(errors.description.contains("recipe explain"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func semanticRulesAreChecked() {
        // Both framings at once is an error; neither is language modelling, which the Experiment checks against the stages.
        let bothFramings = Self.valid.replacingOccurrences(of: "  verbalizers: [\" negative\", \" positive\"]",
                                                           with: "  verbalizers: [\" negative\", \" positive\"]\n  head: classification")
        #expect(throws: RecipeErrors.self) { try Recipe(text: bothFramings) }
        let badSplit = Self.valid + "\n  split: {train: 0.9, dev: 0.2, test: 0.1}"
        #expect(throws: RecipeErrors.self) { try Recipe(text: badSplit.replacingOccurrences(of: "    \n", with: "")) }
        #expect(throws: RecipeErrors.self) { try Recipe(text: "name: [unclosed") }
    }

    @Test func explainListsEveryKey() {
        let text = RecipeValidator.explain()
        for key in ["name:", "data:", "loader:", "verbalizers:", "learning_rate:", "collect:", "ablate:", "edit:", "audit:"] {
            #expect(text.contains(key), "\(key)")
        }
    }

    @Test func sha256MatchesPublishedVectors() {
        #expect(SHA256.hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex(String(repeating: "a", count: 1000)) == "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }
}

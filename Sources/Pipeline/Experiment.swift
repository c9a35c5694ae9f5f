import AtomicFiles
import Checkpoints
import Datasets
import Foundation
import Models
import Recipes
import Tokenizers

/// A recipe resolved against the machine: its model and dataset found and loaded, its framing checked
/// against the tokenizer. Every semantic problem is reported with the recipe key and line it comes from.
public struct Experiment: @unchecked Sendable {
    public let recipe: Recipe
    public let recipeFile: String
    public let root: URL
    public let dataset: LoadedDataset
    public let datasetPath: String
    public let loaded: LoadedModel
    public let modelPath: String
    /// Class-token ids of a decoder framing, by class.
    public let verbalizerIDs: [Int32]?

    /// Resolves a path from the recipe: absolute, or relative to the repository root.
    public static func resolve(_ path: String, root: URL) -> String {
        path.hasPrefix("/") ? path : root.appendingPathComponent(path).path
    }

    public init(recipe: Recipe, file: String, root: URL = ModelAliases.root()) throws {
        self.recipe = recipe
        recipeFile = file
        self.root = root
        var issues: [RecipeIssue] = []
        func issue(_ path: String, _ message: String) {
            issues.append(RecipeIssue(path: path, line: recipe.line(of: path), message: message))
        }

        datasetPath = Self.resolve(recipe.data.path, root: root)
        var dataset: LoadedDataset?
        if (try? DatasetLoader.matchingFiles(datasetPath))?.allSatisfy({
            FileManager.default.fileExists(atPath: $0)
        }) != true {
            issue("data.path", "\(datasetPath) does not exist; run Scripts/fetch, or fix the path")
        } else if let format = DatasetSpec.Format(rawValue: recipe.data.loader) {
            let spec = DatasetSpec(format: format, path: datasetPath, textColumn: recipe.data.text,
                                   labelColumn: recipe.data.label,
                                   labels: recipe.data.labels, skipIncomplete: recipe.data.skipIncomplete,
                                   limit: recipe.data.limit)
            do { dataset = try DatasetLoader.load(spec) } catch let error as DatasetError {
                switch error {
                case .unknownColumn(_, let column, _):
                    issue(column == recipe.data.label ? "data.label" : "data.text", error.description)
                default: issue("data", error.description)
                }
            }
        }

        var loaded: LoadedModel?
        do { loaded = try ModelLoader.load(recipe.model) } catch {
            issue("model", "\(error)")
            issue("model", "the checks against the model (layer ranges, neuron counts, verbalizer tokens) "
                  + "could not be made; they run once the model loads")
        }
        if let model = loaded?.model {
            issues += recipe.problems(against: ModelLimits(layers: model.layers, ffnWidth: model.ffnWidth))
        }

        var verbalizerIDs: [Int32]?
        if let verbalizers = recipe.task.verbalizers, let tokenizer = loaded?.tokenizer {
            verbalizerIDs = []
            for (i, word) in verbalizers.enumerated() {
                let ids = tokenizer.encode(word, addSpecialTokens: false)
                if ids.count != 1 {
                    issue("task.verbalizers", "verbalizer \(i) '\(word)' is \(ids.count) tokens " +
                          "(\(ids.map { tokenizer.token($0) ?? "?" }.joined(separator: " | "))); " +
                          "each must be a single token — try it with or without a leading space")
                } else if let earlier = verbalizerIDs?.firstIndex(of: ids[0]) {
                    issue("task.verbalizers", "verbalizers \(earlier) and \(i) are the same token " +
                          "(\(tokenizer.token(ids[0]) ?? "?")); each class needs its own")
                    verbalizerIDs?.append(ids[0])
                } else {
                    verbalizerIDs?.append(ids[0])
                }
            }
        }
        if let loaded {
            switch loaded.model {
            case .decoder where recipe.task.head != nil:
                issue("task", "\(recipe.model) is a decoder: frame the task with verbalizers")
            case .bert where recipe.task.head == nil:
                issue("task", "\(recipe.model) is an encoder: frame the task with head: classification")
            default: break
            }
            if recipe.task.answer != nil {
                if case .bert = loaded.model {
                    issue("task.answer", "\(recipe.model) is an encoder; an answer task needs a decoder that generates")
                }
                for stage in ["prompt", "edit"] where recipe.stages.contains(stage) {
                    issue("stages", "the \(stage) stage does not support answer tasks yet " +
                          "(they run collect, rank and ablate); remove it, or frame the task with verbalizers")
                }
            } else if recipe.task.verbalizers == nil && recipe.task.head == nil && recipe.stages.contains("prompt") {
                issue("task", "the prompt stage needs a classification framing: give verbalizers " +
                      "(or remove prompt from the stages for per-token collection)")
            }
        }
        if let dataset, recipe.task.verbalizers != nil || recipe.task.head != nil {
            if dataset.classes.isEmpty {
                issue("data.label", "the task needs labels, but the dataset has none; name the label column")
            }
            if let verbalizers = recipe.task.verbalizers, !dataset.classes.isEmpty,
               verbalizers.count != dataset.classes.count {
                issue("task.verbalizers", "\(verbalizers.count) verbalizers for \(dataset.classes.count) classes " +
                      "(\(dataset.classes.joined(separator: ", ")))")
            }
        }
        if let answer = recipe.task.answer, let dataset {
            let columns = Self.placeholders(answer)
            if let example = dataset.examples.first(where: { e in columns.contains { (e.fields[$0] ?? "").isEmpty } }) {
                let column = columns.first { (example.fields[$0] ?? "").isEmpty }!
                issue("task.answer", "\(example.source) row \(example.row) has no '\(column)'; " +
                      "the columns are \(example.fields.keys.sorted().joined(separator: ", "))")
            }
        }
        guard issues.isEmpty, let dataset, let loaded else { throw RecipeErrors(file: file, issues: issues) }
        self.dataset = dataset
        self.loaded = loaded
        modelPath = loaded.path
        self.verbalizerIDs = verbalizerIDs
    }

    /// Whether the recipe frames no classification: a decoder models the text itself (per-token collection).
    public var isLanguageModelling: Bool {
        recipe.task.verbalizers == nil && recipe.task.head == nil && recipe.task.answer == nil
    }

    /// The dataset's sha256; for a glob pattern, the sha256 of the matching files' paths and hashes.
    public func dataSHA256() throws -> String {
        let files = try DatasetLoader.matchingFiles(datasetPath)
        if files == [datasetPath] { return try SHA256.file(datasetPath) }
        return SHA256.hex(try files.map { "\($0) \(try SHA256.file($0))" }.joined(separator: "\n"))
    }

    /// Whether the model answers each example by generating (task.answer).
    public var isAnswerTask: Bool { recipe.task.answer != nil }

    /// The column names of `{column}` placeholders in a template.
    static func placeholders(_ template: String) -> [String] {
        var names: [String] = [], rest = template[...]
        while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
            names.append(String(rest[rest.index(after: open)..<close]))
            rest = rest[rest.index(after: close)...]
        }
        return names
    }

    /// The expected answer of an example: task.answer with its placeholders filled from the example's columns.
    public func expectedAnswer(_ example: Example) -> String {
        var text = recipe.task.answer ?? ""
        for name in Self.placeholders(text) {
            text = text.replacingOccurrences(of: "{\(name)}", with: example.fields[name] ?? "")
        }
        return text
    }

    public var runFolder: URL { URL(fileURLWithPath: Self.resolve(recipe.output, root: root)) }
}

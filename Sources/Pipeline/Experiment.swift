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
        func issue(_ path: String, _ message: String) { issues.append(RecipeIssue(path: path, line: recipe.line(of: path), message: message)) }

        datasetPath = Self.resolve(recipe.data.path, root: root)
        var dataset: LoadedDataset?
        if !FileManager.default.fileExists(atPath: datasetPath) {
            issue("data.path", "\(datasetPath) does not exist; run Scripts/fetch, or fix the path")
        } else if let format = DatasetSpec.Format(rawValue: recipe.data.loader) {
            let spec = DatasetSpec(format: format, path: datasetPath, textColumn: recipe.data.text, labelColumn: recipe.data.label,
                                   labels: recipe.data.labels, skipIncomplete: recipe.data.skipIncomplete, limit: recipe.data.limit)
            do { dataset = try DatasetLoader.load(spec) } catch let error as DatasetError {
                switch error {
                case .unknownColumn(_, let column, _): issue(column == recipe.data.label ? "data.label" : "data.text", error.description)
                default: issue("data", error.description)
                }
            }
        }

        var loaded: LoadedModel?
        do { loaded = try ModelLoader.load(recipe.model) } catch { issue("model", "\(error)") }

        var verbalizerIDs: [Int32]?
        if let verbalizers = recipe.task.verbalizers, let tokenizer = loaded?.tokenizer {
            verbalizerIDs = []
            for (i, word) in verbalizers.enumerated() {
                let ids = tokenizer.encode(word, addSpecialTokens: false)
                if ids.count != 1 {
                    issue("task.verbalizers", "verbalizer \(i) '\(word)' is \(ids.count) tokens (\(ids.map { tokenizer.token($0) ?? "?" }.joined(separator: " | "))); each must be a single token — try it with or without a leading space")
                } else {
                    verbalizerIDs?.append(ids[0])
                }
            }
        }
        if let loaded {
            switch loaded.model {
            case .llama where recipe.task.head != nil: issue("task", "\(recipe.model) is a decoder: frame the task with verbalizers")
            case .bert where recipe.task.head == nil: issue("task", "\(recipe.model) is an encoder: frame the task with head: classification")
            default: break
            }
            if recipe.task.verbalizers == nil && recipe.task.head == nil && recipe.stages.contains("prompt") {
                issue("task", "the prompt stage needs a classification framing: give verbalizers (or remove prompt from the stages for per-token collection)")
            }
        }
        if let dataset, recipe.task.verbalizers != nil || recipe.task.head != nil {
            if dataset.classes.isEmpty { issue("data.label", "the task needs labels, but the dataset has none; name the label column") }
            if let verbalizers = recipe.task.verbalizers, !dataset.classes.isEmpty, verbalizers.count != dataset.classes.count {
                issue("task.verbalizers", "\(verbalizers.count) verbalizers for \(dataset.classes.count) classes (\(dataset.classes.joined(separator: ", ")))")
            }
        }
        guard issues.isEmpty, let dataset, let loaded else { throw RecipeErrors(file: file, issues: issues) }
        self.dataset = dataset
        self.loaded = loaded
        modelPath = loaded.path
        self.verbalizerIDs = verbalizerIDs
    }

    /// Whether the recipe frames no classification: a decoder models the text itself (per-token collection).
    public var isLanguageModelling: Bool { recipe.task.verbalizers == nil && recipe.task.head == nil }

    public var runFolder: URL { URL(fileURLWithPath: Self.resolve(recipe.output, root: root)) }
}

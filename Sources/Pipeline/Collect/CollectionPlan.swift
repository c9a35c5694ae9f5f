import AuxiliaryMetrics
import Recipes
import TensorCore

/// What `collect` records, read from the recipe's `collect` section and checked against the model.
public struct CollectionPlan: Sendable, Equatable {
    public enum Position: String, Sendable, CaseIterable { case prompt, last, mean, every }

    public var layers: [Int]
    public var positions: [Position]
    public var metrics: [Metric]
    public var maxExamples: Int?
    public var batchSize: Int
    /// Per-token collection: each text is cut to this many tokens.
    public var maxTokens: Int
    /// The arithmetic of the forward passes.
    public var precision: Precision

    /// Whether rows are tokens (positions: [every]) rather than examples.
    public var perToken: Bool { positions == [.every] }

    public init(layers: [Int], positions: [Position], metrics: [Metric], maxExamples: Int? = nil,
                batchSize: Int = 8, maxTokens: Int = 128, precision: Precision = .fp32) {
        self.layers = layers
        self.positions = positions
        self.metrics = metrics
        self.maxExamples = maxExamples
        self.batchSize = batchSize
        self.maxTokens = maxTokens
        self.precision = precision
    }

    /// - modelLayers: the model's layer count; - usesPrompt: whether a soft prompt precedes the text;
    /// - languageModelling: whether the task frames no classification (then only per-token collection fits);
    /// - answerTask: whether the model answers by generating (then correct, loss and confidence are the answer's).
    public static func from(_ recipe: Recipe, file: String, modelLayers: Int, usesPrompt: Bool,
                            languageModelling: Bool = false,
                            answerTask: Bool = false) throws -> CollectionPlan {
        var problems = RecipeProblems(recipe, file: file)

        var layers: [Int] = []
        for entry in recipe.list("collect.layers") ?? ["all"] {
            if entry == "all" { layers += 0..<modelLayers; continue }
            let parts = entry.split(separator: "-").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            if parts.count == 1, let l = parts[0], (0..<modelLayers).contains(l) { layers.append(l) }
            else if parts.count == 2, let a = parts[0], let b = parts[1], a <= b, a >= 0, b < modelLayers {
                layers += a...b
            }
            else {
                problems.add("collect.layers", "'\(entry)' is not a layer or range of layers of this model " +
                             "(0–\(modelLayers - 1)); write e.g. 3, 10-20 or all")
            }
        }
        layers = Array(Set(layers)).sorted()

        var positions: [Position] = []
        for entry in recipe.list("collect.positions") ?? ["last"] {
            if let p = Position(rawValue: entry) {
                if !positions.contains(p) { positions.append(p) }
            } else {
                problems.add("collect.positions", "'\(entry)' is not a position; use prompt, last or mean")
            }
        }
        if positions.contains(.prompt) && !usesPrompt {
            problems.add("collect.positions", "'prompt' needs a soft prompt: " +
                         "add the prompt stage to the recipe's stages")
        }

        let perToken = positions.contains(.every)
        if perToken && positions.count > 1 {
            problems.add("collect.positions", "every records one row per token, so it cannot be combined " +
                         "with prompt, last or mean; use a separate recipe")
        }

        var metrics: [Metric] = []
        let defaultMetrics = perToken ? ["logprob"] : languageModelling ? ["pair_preference"] :
            answerTask ? ["correct", "loss", "confidence"] : ["label", "confidence", "loss", "correct"]
        if answerTask && perToken {
            problems.add("collect.positions", "an answer task records the example's last and mean positions; " +
                         "every is for text modelling")
        }
        for entry in recipe.list("collect.metrics") ?? defaultMetrics {
            do {
                let metric = try Metric.parse(entry)
                if perToken && metric != .logprob {
                    problems.add("collect.metrics", "per-token collection (positions: [every]) " +
                                 "has one metric, logprob; '\(entry)' is a per-example metric")
                } else if !perToken && metric == .logprob {
                    problems.add("collect.metrics", "logprob is a per-token metric: it needs positions: [every]")
                } else if answerTask && [.label, .pairPreference].contains(metric) {
                    problems.add("collect.metrics", "'\(entry)' is not defined for an answer task; " +
                                 "use correct, loss, confidence, column:NAME or an expression over prediction")
                } else if languageModelling && [.label, .confidence, .loss, .correct].contains(metric) {
                    problems.add("collect.metrics", "'\(entry)' needs the task's classes, " +
                                 "but the task has no verbalizers; use pair_preference, column:NAME or an expression")
                } else if !metrics.contains(metric) { metrics.append(metric) }
            } catch { problems.add("collect.metrics", "\(error)") }
        }
        // Ranges were checked with the recipe (RecipeSchema's bounds).
        let maxTokens = recipe.int("collect.max_tokens") ?? 128
        let batchSize = recipe.int("collect.batch_size") ?? 8
        try problems.check()
        return CollectionPlan(layers: layers, positions: positions, metrics: metrics,
                              maxExamples: recipe.int("collect.max_examples"),
                              batchSize: batchSize, maxTokens: maxTokens,
                              precision: recipe.string("collect.precision").flatMap(Precision.init) ?? .fp32)
    }

    /// The recorded positions by name: prompt.0 … prompt.P−1, last, mean (or every).
    public func positionNames(promptLength: Int) -> [String] {
        positions.flatMap { p -> [String] in p == .prompt ? (0..<promptLength).map { "prompt.\($0)" } : [p.rawValue] }
    }
}

import AtomicFiles
import Foundation
@preconcurrency import Yams

/// A validated experiment: everything `scalpel run` needs, with the schema's defaults filled in.
public struct Recipe: @unchecked Sendable, Equatable {
    public struct DataSection: Sendable, Equatable {
        public var loader: String, path: String
        public var text: String?, label: String?
        public var labels: [String: Int]?
        public var limit: Int?
        public var skipIncomplete: Bool
        public var train: Double, dev: Double, test: Double
        public var splitSeed: UInt64
    }

    public struct TaskSection: Sendable, Equatable {
        public var template: String
        public var verbalizers: [String]?
        public var head: String?
        /// Decoder answer task: the expected continuation, with {column} placeholders (e.g. " {target}").
        public var answer: String?
        /// Tokens the model may generate for its answer.
        public var answerTokens: Int = 8
    }

    public struct PromptSection: Sendable, Equatable {
        public var length: Int
        public var initialisation: String
        public var initWords: [String]?
        public var optimizer: String
        public var learningRate: Float
        public var weightDecay: Float
        public var epochs: Int
        public var batchSize: Int
        public var patience: Int
        public var maxTrainExamples: Int?
    }

    public var name: String
    public var model: String
    public var seed: UInt64
    public var output: String
    public var stages: [String]
    public var data: DataSection
    public var task: TaskSection
    public var prompt: PromptSection
    /// The recipe's text, as written (recorded with every output, and hashed).
    public var text: String
    /// Sections of later stages, kept as parsed YAML until the stages that read them.
    public var sections: [String: Node]

    /// Where the key `path` is defined (1-based line), for semantic errors found after parsing.
    public func line(of path: String) -> Int? {
        var node: Node? = root
        for key in path.split(separator: ".") { node = node?[String(key)] }
        return node?.mark?.line
    }

    private let root: Node

    /// Typed reads of any key, for the later stages' sections (types were checked by the validator).
    public func node(_ path: String) -> Node? {
        var node: Node? = root
        for key in path.split(separator: ".") { node = node?[String(key)] }
        return node
    }
    public func string(_ path: String) -> String? { node(path)?.string }
    public func int(_ path: String) -> Int? { node(path)?.int }
    public func number(_ path: String) -> Double? { node(path).flatMap(RecipeValidator.number) }
    public func bool(_ path: String) -> Bool? { node(path)?.bool }
    public func list(_ path: String) -> [String]? { node(path)?.sequence?.compactMap(\.string) }
    public func ints(_ path: String) -> [Int]? {
        node(path)?.sequence?.compactMap { RecipeValidator.number($0).flatMap { Int(exactly: $0) } }
    }
    public func numbers(_ path: String) -> [Double]? { node(path)?.sequence?.compactMap(RecipeValidator.number) }

    public static func == (a: Recipe, b: Recipe) -> Bool { a.text == b.text }

    /// The problems of the ranges that depend on the model (k at most its neurons, …), once its
    /// configuration is known.
    public func problems(against limits: ModelLimits) -> [RecipeIssue] {
        RecipeValidator.validate(root, against: limits)
    }

    /// Parses and validates `text`; throws `RecipeErrors` listing every problem.
    public init(text: String, file: String = "recipe") throws {
        let node: Node
        do { node = try RecipeValidator.parse(text) } catch let issue as RecipeIssue {
            throw RecipeErrors(file: file, issues: [issue])
        }
        var issues = RecipeValidator.validate(node)
        func get(_ path: String) -> Node? {
            var current: Node? = node
            for key in path.split(separator: ".") { current = current?[String(key)] }
            return current
        }
        func string(_ path: String) -> String? { get(path)?.string }
        func int(_ path: String) -> Int? { get(path)?.int }
        func number(_ path: String) -> Double? { get(path).flatMap(RecipeValidator.number) }
        func list(_ path: String) -> [String]? { get(path)?.sequence?.compactMap(\.string) }

        let seed = max(0, int("seed") ?? 0)
        let stages = list("stages") ?? ["prompt"]
        for (i, stage) in stages.enumerated() where !RecipeSchema.stages.contains(stage) {
            issues.append(RecipeIssue(
                path: "stages[\(i)]", line: get("stages")?.mark?.line,
                message: "'\(stage)' is not a stage; use \(RecipeSchema.stages.joined(separator: ", "))"))
        }
        let (train, dev, test) = (number("data.split.train") ?? 0.8, number("data.split.dev") ?? 0.1,
                                  number("data.split.test") ?? 0.1)
        if [train, dev, test].allSatisfy(\.isFinite) &&
            (abs(train + dev + test - 1) > 1e-6 || min(train, dev, test) < 0) {
            issues.append(RecipeIssue(
                path: "data.split", line: get("data.split")?.mark?.line,
                message: "train, dev and test must be fractions that add up to 1 " +
                    "(they add up to \(train + dev + test))"))
        }
        let verbalizers = list("task.verbalizers"), head = string("task.head")
        if let answer = string("task.answer") {
            if verbalizers != nil || head != nil {
                issues.append(RecipeIssue(
                    path: "task.answer", line: get("task.answer")?.mark?.line,
                    message: "an answer task is scored by the continuation itself; remove verbalizers and head"))
            }
            if !answer.contains("{") {
                issues.append(RecipeIssue(
                    path: "task.answer", line: get("task.answer")?.mark?.line,
                    message: "must name the dataset column that holds the answer, e.g. \" {target}\""))
            }
        }
        if verbalizers != nil && head != nil {
            issues.append(RecipeIssue(
                path: "task", line: get("task")?.mark?.line,
                message: "give either verbalizers (decoders) or head: classification (encoders), not both"))
        }
        if let template = string("task.template"), !template.contains("{text}") {
            issues.append(RecipeIssue(
                path: "task.template", line: get("task.template")?.mark?.line,
                message: "must contain {text}, where the example goes"))
        }
        if string("prompt.init") == "words" && list("prompt.init_words") == nil {
            issues.append(RecipeIssue(
                path: "prompt.init_words", line: get("prompt")?.mark?.line,
                message: "is required when init is words"))
        }
        guard issues.isEmpty else {
            throw RecipeErrors(file: file, issues: issues.sorted { ($0.line ?? 0) < ($1.line ?? 0) })
        }

        root = node
        self.text = text
        name = string("name")!
        model = string("model")!
        self.seed = UInt64(seed)
        output = string("output") ?? "runs/\(name)"
        self.stages = stages
        var labels: [String: Int]?
        if case .mapping(let m)? = get("data.labels") {
            labels = Dictionary(m.map { ($0.key.string ?? "", $0.value.int ?? 0) },
                                uniquingKeysWith: { first, _ in first })
        }
        data = DataSection(loader: string("data.loader")!, path: string("data.path")!, text: string("data.text"),
                           label: string("data.label"), labels: labels, limit: int("data.limit"),
                           skipIncomplete: get("data.skip_incomplete")?.bool ?? false, train: train, dev: dev,
                           test: test, splitSeed: UInt64(max(0, int("data.split.seed") ?? seed)))
        task = TaskSection(template: string("task.template") ?? "{text}", verbalizers: verbalizers, head: head,
                           answer: string("task.answer"), answerTokens: int("task.answer_tokens") ?? 8)
        prompt = PromptSection(length: int("prompt.length") ?? 16, initialisation: string("prompt.init") ?? "vocab",
                               initWords: list("prompt.init_words"), optimizer: string("prompt.optimizer") ?? "adamw",
                                learningRate: Float(number("prompt.learning_rate") ?? 3e-3),
                                weightDecay: Float(number("prompt.weight_decay") ?? 0),
                                epochs: int("prompt.epochs") ?? 1, batchSize: int("prompt.batch_size") ?? 16,
                                patience: int("prompt.patience") ?? 2,
                               maxTrainExamples: int("prompt.max_train_examples"))
        var sections: [String: Node] = [:]
        for key in ["collect", "rank", "ablate", "edit", "audit"] { if let n = get(key) { sections[key] = n } }
        self.sections = sections
    }

    public init(contentsOf url: URL) throws {
        let text: String
        do { text = try UserFile.text(url.path) } catch {
            throw RecipeErrors(file: url.path, issues: [RecipeIssue(path: "", line: nil, message: "\(error)")])
        }
        try self.init(text: text, file: url.path)
    }
}

extension Recipe {
    /// This recipe with some keys set, as a new recipe: `values` maps dotted paths ("collect.precision")
    /// to YAML scalars or lists. For tools that run a variant of a recipe; comments are not kept.
    public func setting(_ values: [String: Any], file: String) throws -> Recipe {
        guard var tree = try Yams.load(yaml: text) as? [String: Any] else {
            throw RecipeErrors(file: file, issues: [RecipeIssue(path: "", line: nil, message: "is not a mapping")])
        }
        func set(_ keys: ArraySlice<Substring>, _ value: Any, in mapping: inout [String: Any]) {
            guard let key = keys.first.map(String.init) else { return }
            if keys.count == 1 { mapping[key] = value; return }
            var inner = mapping[key] as? [String: Any] ?? [:]
            set(keys.dropFirst(), value, in: &inner)
            mapping[key] = inner
        }
        for (path, value) in values.sorted(by: { $0.key < $1.key }) {
            set(path.split(separator: ".")[...], value, in: &tree)
        }
        return try Recipe(text: try Yams.dump(object: tree, sortKeys: true), file: file)
    }
}

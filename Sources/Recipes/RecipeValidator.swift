import Foundation
@preconcurrency import Yams

/// One problem found in a recipe: where (key path and line), what, and what is allowed.
public struct RecipeIssue: Error, Equatable, CustomStringConvertible, Sendable {
    public let path: String
    public let line: Int?
    public let message: String

    public var description: String {
        "\(line.map { "line \($0): " } ?? "")\(path.isEmpty ? "recipe" : path): \(message)"
    }

    public init(path: String, line: Int?, message: String) {
        self.path = path
        self.line = line
        self.message = message
    }
}

/// All problems of a recipe at once, so a user fixes them in one go.
public struct RecipeErrors: Error, CustomStringConvertible, Sendable {
    public let file: String
    public let issues: [RecipeIssue]

    public init(file: String, issues: [RecipeIssue]) {
        self.file = file
        self.issues = issues
    }
    public var description: String {
        "\(file) has \(issues.count) problem\(issues.count == 1 ? "" : "s"):\n" +
            issues.map { "  - \($0)" }.joined(separator: "\n") +
            "\nRun `scalpel recipe explain` for every key, its type, default and range."
    }
}

/// Checks a YAML document against `RecipeSchema`: unknown keys, wrong types, missing required keys.
public enum RecipeValidator {
    /// Parses a recipe's YAML within `YAMLLimits`: its size, its nesting (checked before the parser
    /// recurses into it) and its expansion through aliases (checked before anything walks it).
    public static func parse(_ text: String) throws -> Node {
        if text.utf8.count > YAMLLimits.maxBytes {
            throw RecipeIssue(path: "", line: nil,
                              message: "the file has \(text.utf8.count) bytes; a recipe may have at most " +
                                  "\(YAMLLimits.maxBytes) (is this the right file?)")
        }
        let nesting = YAMLLimits.deepestNesting(text)
        if nesting.depth > YAMLLimits.maxDepth {
            throw RecipeIssue(path: "", line: nesting.line,
                              message: "the YAML nests \(nesting.depth) levels deep; a recipe may nest at " +
                                  "most \(YAMLLimits.maxDepth) (the shipped ones nest 3): flatten it")
        }
        let node: Node
        do {
            guard let composed = try YAMLLimits.composed(text) else {
                throw RecipeIssue(path: "", line: nil, message: "the file is empty")
            }
            node = composed
        } catch let error as YamlError {
            throw RecipeIssue(path: "", line: nil, message: "not valid YAML: \(error)")
        }
        if YAMLLimits.expandedCount(node) > YAMLLimits.maxNodes {
            throw RecipeIssue(path: "", line: nil,
                              message: "the YAML expands to more than \(YAMLLimits.maxNodes) values through its " +
                                  "aliases (*name); write the values out instead of nesting aliases")
        }
        return node
    }

    public static func validate(_ root: Node) -> [RecipeIssue] {
        var issues: [RecipeIssue] = []
        findDuplicateKeys(root, path: "", issues: &issues)
        check(root, against: RecipeSchema.fields, path: "", issues: &issues)
        return issues
    }

    /// A key given twice in one mapping: YAML forbids it, and silently keeping one of the values
    /// would run an experiment other than the one the reader of the recipe sees.
    static func findDuplicateKeys(_ node: Node, path: String, issues: inout [RecipeIssue]) {
        switch node {
        case .mapping(let mapping):
            var first: [String: Int?] = [:]
            for (keyNode, value) in mapping {
                let key = keyNode.string ?? "\(keyNode)"
                let keyPath = path.isEmpty ? key : "\(path).\(key)"
                if let earlier = first[key] {
                    let where_ = earlier.map { " (first given on line \($0))" } ?? ""
                    issues.append(RecipeIssue(path: keyPath, line: line(keyNode),
                                              message: "is given twice\(where_); keep one"))
                } else {
                    first[key] = line(keyNode)
                }
                findDuplicateKeys(value, path: keyPath, issues: &issues)
            }
        case .sequence(let sequence):
            for (i, item) in sequence.enumerated() { findDuplicateKeys(item, path: "\(path)[\(i)]", issues: &issues) }
        default: break
        }
    }

    static func line(_ node: Node) -> Int? { node.mark.map { $0.line } }

    static func check(_ node: Node, against fields: [Field], path: String, issues: inout [RecipeIssue]) {
        guard case .mapping(let mapping) = node else {
            issues.append(RecipeIssue(path: path, line: line(node), message: "must be a mapping of keys to values"))
            return
        }
        var seen = Set<String>()
        for (keyNode, value) in mapping {
            let key = keyNode.string ?? "\(keyNode)"
            let keyPath = path.isEmpty ? key : "\(path).\(key)"
            guard let field = fields.first(where: { $0.name == key }) else {
                issues.append(RecipeIssue(path: keyPath, line: line(keyNode),
                                          message: "unknown key; allowed here: " +
                                              "\(fields.map(\.name).joined(separator: ", "))"))
                continue
            }
            seen.insert(key)
            checkValue(value, field.type, path: keyPath, issues: &issues)
            if let bounds = field.bounds { checkBounds(value, bounds, path: keyPath, limits: nil, issues: &issues) }
        }
        for field in fields where field.required && !seen.contains(field.name) {
            issues.append(RecipeIssue(path: path.isEmpty ? field.name : "\(path).\(field.name)", line: line(node),
                                      message: "is required: \(field.help)"))
        }
    }

    static func checkValue(_ node: Node, _ type: FieldType, path: String, issues: inout [RecipeIssue]) {
        func wrong() {
            issues.append(RecipeIssue(path: path, line: line(node),
                                      message: "must be \(type.name), not \(describe(node))"))
        }
        switch type {
        case .string: if node.scalar == nil || node.null != nil { wrong() }
        case .integer: if node.int == nil { wrong() }
        case .number: if number(node) == nil { wrong() }
        case .integerList, .numberList:
            guard case .sequence(let sequence) = node else { wrong(); return }
            // Items may be quoted ("10"), as recipes wrote them when these were lists of strings.
            for (i, item) in sequence.enumerated() {
                let value = number(item)
                if value == nil || type == .integerList && value != value!.rounded() {
                    let expected = type == .integerList ? "an integer" : "a number"
                    issues.append(RecipeIssue(path: "\(path)[\(i)]", line: line(item),
                                              message: "must be \(expected), not \(describe(item))"))
                }
            }
        case .bool: if node.bool == nil { wrong() }
        case .choice(let options):
            guard let value = node.string, node.scalar != nil else { wrong(); return }
            if !options.contains(value) {
                issues.append(RecipeIssue(path: path, line: line(node),
                                          message: "'\(value)' is not allowed; use one of " +
                                              "\(options.joined(separator: ", "))"))
            }
        case .stringList:
            guard case .sequence(let sequence) = node else { wrong(); return }
            for (i, item) in sequence.enumerated() where item.scalar == nil {
                issues.append(RecipeIssue(path: "\(path)[\(i)]", line: line(item),
                                          message: "must be a string, not \(describe(item))"))
            }
        case .integerMap:
            guard case .mapping(let mapping) = node else { wrong(); return }
            for (key, value) in mapping {
                if key.scalar == nil {
                    issues.append(RecipeIssue(path: path, line: line(key),
                                              message: "keys must be raw labels (text), not \(describe(key))"))
                } else if value.int == nil {
                    issues.append(RecipeIssue(path: "\(path).\(key.string ?? "?")", line: line(value),
                                              message: "must be an integer class index, not \(describe(value))"))
                }
            }
            // Class indices number the classes: every one of 0..<K, where K is how many there are.
            let indices = Set(mapping.compactMap { $0.value.int })
            if indices.count == mapping.count, indices != Set(0..<indices.count) {
                issues.append(RecipeIssue(path: path, line: line(node),
                                          message: "the class indices are \(indices.sorted()); " +
                                              "they must number the classes 0 to \(indices.count - 1)"))
            }
        case .section(let fields): check(node, against: fields, path: path, issues: &issues)
        }
    }

    /// A scalar read as a number: integers, decimals and YAML's `.nan` and `.inf` (which bounds refuse).
    public static func number(_ node: Node) -> Double? {
        guard let scalar = node.scalar else { return nil }
        return node.int.map(Double.init) ?? node.float ?? (scalar.style == .plain ? nil : Double(scalar.string))
    }

    /// The value's numbers (one, or each of a list) against `bounds`. With `limits` nil, only the limits
    /// that do not depend on the model are checked; with `limits`, only those that do.
    static func checkBounds(_ node: Node, _ bounds: Bounds, path: String, limits: ModelLimits?,
                            issues: inout [RecipeIssue]) {
        let items: [(String, Node)]
        if case .sequence(let sequence) = node {
            items = sequence.enumerated().map { ("\(path)[\($0.offset)]", $0.element) }
        } else {
            items = [(path, node)]
        }
        for (itemPath, item) in items {
            guard let value = number(item) else { continue }
            let modelFree = Bounds(lower: bounds.lower, lowerExclusive: bounds.lowerExclusive,
                                   upper: bounds.dependsOnModel ? nil : bounds.upper)
            let problem = limits == nil ? modelFree.problem(value) : bounds.problem(value, limits: limits)
            if let problem, limits == nil || modelFree.problem(value) == nil {
                issues.append(RecipeIssue(path: itemPath, line: line(item), message: problem))
            }
        }
    }

    /// The ranges that depend on the model, once its configuration is known.
    public static func validate(_ root: Node, against limits: ModelLimits) -> [RecipeIssue] {
        var issues: [RecipeIssue] = []
        func walk(_ node: Node, _ fields: [Field], _ path: String) {
            for field in fields {
                guard let value = node[field.name] else { continue }
                let keyPath = path.isEmpty ? field.name : "\(path).\(field.name)"
                if case .section(let inner) = field.type { walk(value, inner, keyPath) }
                if let bounds = field.bounds, bounds.dependsOnModel {
                    checkBounds(value, bounds, path: keyPath, limits: limits, issues: &issues)
                }
            }
        }
        walk(root, RecipeSchema.fields, "")
        return issues
    }

    static func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let s): return s.string.isEmpty ? "an empty value" : "'\(s.string)'"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        default: return "\(node)"
        }
    }

    /// The schema as text, with types and defaults: `scalpel recipe explain`.
    public static func explain(_ fields: [Field] = RecipeSchema.fields, indent: String = "") -> String {
        var out = ""
        for field in fields {
            var line = "\(indent)\(field.name): \(field.type.name)"
            if field.required { line += " (required)" }
            if let d = field.defaultValue { line += " [default \(d)]" }
            if let bounds = field.bounds { line += " (\(bounds.describe()))" }
            out += line + "\n\(indent)    \(field.help)\n"
            if case .section(let inner) = field.type { out += explain(inner, indent: indent + "  ") }
        }
        return out
    }

    /// The schema as Markdown, a table per section: `scalpel recipe explain --markdown`, which
    /// docs/recipes.md holds between its `generated` markers (a test fails when the two drift).
    public static func markdown(_ fields: [Field] = RecipeSchema.fields, path: String = "") -> String {
        let title = path.isEmpty ? "Top level" : "`\(path)`"
        var out = "### \(title)\n\n| key | type | default | range | meaning |\n|---|---|---|---|---|\n"
        var sections: [(String, [Field])] = []
        for field in fields {
            let key = path.isEmpty ? field.name : "\(path).\(field.name)"
            let type = field.type.name + (field.required ? " (required)" : "")
            let cells = ["`\(key)`", type, field.defaultValue.map { "`\($0)`" } ?? "",
                         field.bounds?.describe() ?? "", field.help]
            out += "| " + cells.map { $0.replacingOccurrences(of: "|", with: "\\|") }.joined(separator: " | ") + " |\n"
            if case .section(let inner) = field.type { sections.append((key, inner)) }
        }
        for (key, inner) in sections { out += "\n" + markdown(inner, path: key) }
        return out
    }
}

/// The semantic problems a stage finds in its section of a recipe, each tied to its key and line; `check`
/// throws them all at once, as `recipe check` reports them.
public struct RecipeProblems {
    let recipe: Recipe
    let file: String
    public private(set) var issues: [RecipeIssue] = []

    public init(_ recipe: Recipe, file: String) {
        self.recipe = recipe
        self.file = file
    }

    public mutating func add(_ path: String, _ message: String) {
        issues.append(RecipeIssue(path: path, line: recipe.node(path)?.mark?.line, message: message))
    }

    public func check() throws {
        guard issues.isEmpty else { throw RecipeErrors(file: file, issues: issues) }
    }
}

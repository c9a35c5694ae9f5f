import Foundation
@preconcurrency import Yams

/// One problem found in a recipe: where (key path and line), what, and what is allowed.
public struct RecipeIssue: Error, Equatable, CustomStringConvertible, Sendable {
    public let path: String
    public let line: Int?
    public let message: String

    public var description: String { "\(line.map { "line \($0): " } ?? "")\(path.isEmpty ? "recipe" : path): \(message)" }

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
        "\(file) has \(issues.count) problem\(issues.count == 1 ? "" : "s"):\n" + issues.map { "  - \($0)" }.joined(separator: "\n")
            + "\nRun `scalpel recipe explain` for every key, its type and its default."
    }
}

/// Checks a YAML document against `RecipeSchema`: unknown keys, wrong types, missing required keys.
public enum RecipeValidator {
    public static func parse(_ text: String) throws -> Node {
        do {
            guard let node = try Yams.compose(yaml: text) else { throw RecipeIssue(path: "", line: nil, message: "the file is empty") }
            return node
        } catch let error as YamlError {
            throw RecipeIssue(path: "", line: nil, message: "not valid YAML: \(error)")
        }
    }

    public static func validate(_ root: Node) -> [RecipeIssue] {
        var issues: [RecipeIssue] = []
        check(root, against: RecipeSchema.fields, path: "", issues: &issues)
        return issues
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
                issues.append(RecipeIssue(path: keyPath, line: line(keyNode), message: "unknown key; allowed here: \(fields.map(\.name).joined(separator: ", "))"))
                continue
            }
            seen.insert(key)
            checkValue(value, field.type, path: keyPath, issues: &issues)
        }
        for field in fields where field.required && !seen.contains(field.name) {
            issues.append(RecipeIssue(path: path.isEmpty ? field.name : "\(path).\(field.name)", line: line(node), message: "is required: \(field.help)"))
        }
    }

    static func checkValue(_ node: Node, _ type: FieldType, path: String, issues: inout [RecipeIssue]) {
        func wrong() { issues.append(RecipeIssue(path: path, line: line(node), message: "must be \(type.name), not \(describe(node))")) }
        switch type {
        case .string: if node.scalar == nil || node.null != nil { wrong() }
        case .integer: if node.int == nil { wrong() }
        case .number: if node.float == nil && node.int == nil { wrong() }
        case .bool: if node.bool == nil { wrong() }
        case .choice(let options):
            guard let value = node.string, node.scalar != nil else { wrong(); return }
            if !options.contains(value) { issues.append(RecipeIssue(path: path, line: line(node), message: "'\(value)' is not allowed; use one of \(options.joined(separator: ", "))")) }
        case .stringList:
            guard case .sequence(let sequence) = node else { wrong(); return }
            for (i, item) in sequence.enumerated() where item.scalar == nil {
                issues.append(RecipeIssue(path: "\(path)[\(i)]", line: line(item), message: "must be a string, not \(describe(item))"))
            }
        case .integerMap:
            guard case .mapping(let mapping) = node else { wrong(); return }
            for (key, value) in mapping where value.int == nil {
                issues.append(RecipeIssue(path: "\(path).\(key.string ?? "?")", line: line(value), message: "must be an integer class index, not \(describe(value))"))
            }
        case .section(let fields): check(node, against: fields, path: path, issues: &issues)
        }
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
            out += line + "\n\(indent)    \(field.help)\n"
            if case .section(let inner) = field.type { out += explain(inner, indent: indent + "  ") }
        }
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

import Foundation
@preconcurrency import Yams

// ----------------------------------------------------------------------------------------------------
// What a stage's recorded inputs say about the recipe: a canonical text of the sections it reads.
//
// It must be the same in every process for the same meaning, or a finished stage is never reused.
// Swift's default description of a parsed YAML node is not: it names a private Yams type by its load
// address, and it carries line numbers. A dictionary's description follows the process's hash seed.
// So sections are written out here by hand: mapping keys sorted, scalars as written, no positions.

extension Recipe {
    /// The canonical text of the section at `path` (for example "collect"), or "" when it is absent.
    /// Moving keys, reformatting, or adding comments leaves it unchanged.
    public func canonical(_ path: String) -> String {
        node(path).map(Self.canonical) ?? ""
    }

    /// The canonical text of the top-level fields every stage depends on: the model, the seed, the data
    /// and the task as read (with the schema's defaults), for the input hashes of stage records.
    public var canonicalBasis: String {
        "model=\(Self.quoted(model))\nseed=\(seed)\n" +
            "data=\(Self.canonical(reflecting: data))\ntask=\(Self.canonical(reflecting: task))"
    }

    /// The canonical text of the prompt section as read (with the schema's defaults).
    public var canonicalPrompt: String { Self.canonical(reflecting: prompt) }

    /// A typed section's fields by reflection, so that a field added later enters the hashes without
    /// anyone listing it; dictionaries and sets in sorted order.
    public static func canonical(reflecting value: Any) -> String {
        let mirror = Mirror(reflecting: value)
        let children = Array(mirror.children)
        switch mirror.displayStyle {
        case .optional:
            return children.first.map { canonical(reflecting: $0.value) } ?? "nil"
        case .dictionary:
            let pairs = children.map { child -> String in
                let pair = Array(Mirror(reflecting: child.value).children)
                return canonical(reflecting: pair[0].value) + ": " + canonical(reflecting: pair[1].value)
            }
            return "{" + pairs.sorted().joined(separator: ", ") + "}"
        case .set:
            return "{" + children.map { canonical(reflecting: $0.value) }.sorted().joined(separator: ", ") + "}"
        case .collection:
            return "[" + children.map { canonical(reflecting: $0.value) }.joined(separator: ", ") + "]"
        default:
            if children.isEmpty { return value is String ? quoted(value as! String) : "\(value)" }
            return "(" + children.map { "\($0.label ?? "_"): " + canonical(reflecting: $0.value) }
                .joined(separator: ", ") + ")"
        }
    }

    static func canonical(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar): return quoted(scalar.string)
        case .sequence(let sequence): return "[" + sequence.map(canonical).joined(separator: ", ") + "]"
        case .mapping(let mapping):
            let pairs = mapping.map { (canonical($0.key), canonical($0.value)) }.sorted { $0.0 < $1.0 }
            return "{" + pairs.map { "\($0.0): \($0.1)" }.joined(separator: ", ") + "}"
        }
    }

    /// Quoted so that the string "a, b" and the list [a, b] never print alike.
    private static func quoted(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}

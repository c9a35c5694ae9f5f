@preconcurrency import Yams

// ----------------------------------------------------------------------------------------------------
// A recipe's settings with the schema's defaults: the one place a default is written is its Field.
//
//   recipe.settings.int("ablate.random_sets")   // the recipe's value, or the schema's default "19"
//
// A stage reads its options through this, so `recipe explain`, the docs and the stages cannot disagree
// on a default. A key whose Field has no default (an optional setting) reads as nil; one with a default
// never does (RecipeTests.everyDefaultParses checks each default against its field's type).

extension RecipeSchema {
    /// The field at a dotted path, e.g. "rank.permutations".
    public static func field(_ path: String) -> Field? {
        var fields = Self.fields
        var found: Field?
        for key in path.split(separator: ".") {
            guard let field = fields.first(where: { $0.name == key }) else { return nil }
            found = field
            if case .section(let inner) = field.type { fields = inner } else { fields = [] }
        }
        return found
    }

    /// The field's default, parsed as YAML as the recipe's own value would be.
    public static func defaultNode(_ path: String) -> Node? {
        guard let text = field(path)?.defaultValue else { return nil }
        return try? Yams.compose(yaml: text)
    }
}

/// Reads of a recipe's keys that fall back to the schema's defaults.
public struct RecipeSettings: Sendable {
    let recipe: Recipe

    /// The recipe's node at `path`, or the schema's default.
    public func node(_ path: String) -> Node? { recipe.node(path) ?? RecipeSchema.defaultNode(path) }

    public func string(_ path: String) -> String? { node(path)?.string }
    public func int(_ path: String) -> Int? { node(path)?.int }
    public func number(_ path: String) -> Double? { node(path).flatMap(RecipeValidator.number) }
    public func list(_ path: String) -> [String]? { node(path)?.sequence?.compactMap(\.string) }
    public func ints(_ path: String) -> [Int]? {
        node(path)?.sequence?.compactMap { RecipeValidator.number($0).flatMap { Int(exactly: $0) } }
    }
    public func numbers(_ path: String) -> [Double]? { node(path)?.sequence?.compactMap(RecipeValidator.number) }
}

extension Recipe {
    /// The recipe's keys with the schema's defaults for those it leaves out.
    public var settings: RecipeSettings { RecipeSettings(recipe: self) }
}

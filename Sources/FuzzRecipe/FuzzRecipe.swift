import Foundation
import FuzzSupport
import Recipes

/// Fuzz target for recipe YAML: `Recipe(contentsOf:)` (UTF-8 check, then `Recipe(text:)`: Yams and its C
/// parser, the schema validation, the typed sections), then what the stages read from an accepted recipe:
/// the canonical texts their input hashes are built from, keys of every section through the typed
/// accessors, and the line numbers that errors quote.
enum RecipeTarget: FuzzTarget {
    static let paths = ["name", "model", "seed", "data.path", "data.split.seed", "task.template", "prompt.length",
                        "collect.positions", "collect.metrics", "collect.layers", "rank.permutations", "rank.top_k",
                        "ablate.k", "ablate.strengths", "ablate.random_sets", "edit.neurons", "edit.learning_rate",
                        "audit.general_text", "missing.key", "data..path", "."]

    static func exercise(_ bytes: [UInt8]) {
        let url = ScratchFile.write(bytes, name: "recipe.yaml")
        let recipe: Recipe
        do { recipe = try Recipe(contentsOf: url) } catch {
            FuzzLog.refused(error)
            return
        }
        _ = (recipe.canonicalBasis, recipe.canonicalPrompt)
        for section in ["collect", "rank", "ablate", "edit", "audit", "prompt", "data", "task"] {
            _ = recipe.canonical(section)
        }
        for path in paths {
            _ = (recipe.line(of: path), recipe.string(path), recipe.int(path), recipe.number(path), recipe.bool(path),
                 recipe.list(path))
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 { RecipeTarget.fuzz(data, size) }

#if !FUZZING
@main struct Replay { static func main() throws { try RecipeTarget.replay() } }
#endif

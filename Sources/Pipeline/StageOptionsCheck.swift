import Foundation
import Recipes

extension Experiment {
    /// Every listed stage's own reading of its options, as the stage does before any work, plus the
    /// limits that only the stages together know (a set of top neurons must fit in what is collected).
    /// `recipe check` calls this, so that "valid" means the stages will run the recipe.
    public func checkStageOptions() throws {
        let folder = RunFolder(unchecked: runFolder)
        var issues: [RecipeIssue] = []
        func collecting(_ body: () throws -> Void) throws {
            do { try body() } catch let errors as RecipeErrors { issues += errors.issues }
        }
        var plan: CollectionPlan?
        let stages = recipe.stages
        if stages.contains("collect") || stages.contains("rank") {
            try collecting { plan = try CollectStage(experiment: self, folder: folder).plan() }
        }
        if stages.contains("rank") { try collecting { _ = try RankStage(experiment: self, folder: folder).options() } }
        if stages.contains("ablate") { try collecting { _ = try AblateStage(experiment: self, folder: folder).options() } }
        if stages.contains("edit") { try collecting { _ = try EditStage(experiment: self, folder: folder).options() } }
        if let plan { issues += selectionProblems(collected: plan.layers.count * loaded.model.ffnWidth) }
        guard issues.isEmpty else { throw RecipeErrors(file: recipeFile, issues: issues) }
    }

    /// Sets of top neurons drawn from the ranking cannot be larger than what was collected, and the
    /// ablation's matched random sets need as many neurons again outside the selection.
    func selectionProblems(collected: Int) -> [RecipeIssue] {
        var issues: [RecipeIssue] = []
        func check(_ path: String, _ values: [Int], limit: Int, why: String) {
            for value in values where value > limit {
                issues.append(RecipeIssue(path: path, line: recipe.line(of: path),
                                          message: "is \(value); it must be at most \(limit) (\(why))"))
            }
        }
        let collectedWhy = "the neurons of the collected layers"
        if recipe.stages.contains("rank") {
            check("rank.top_k", recipe.int("rank.top_k").map { [$0] } ?? [], limit: collected, why: collectedWhy)
        }
        if recipe.stages.contains("ablate") {
            let half = "half the collected neurons, so that matched random sets fit outside the selection"
            check("ablate.k", recipe.ints("ablate.k") ?? [], limit: collected / 2, why: half)
            check("ablate.amplify_k", recipe.int("ablate.amplify_k").map { [$0] } ?? [], limit: collected / 2, why: half)
        }
        if recipe.stages.contains("edit") && recipe.string("edit.mask") == nil {
            check("edit.neurons", [recipe.int("edit.neurons") ?? 32], limit: collected, why: collectedWhy)
        }
        return issues
    }
}

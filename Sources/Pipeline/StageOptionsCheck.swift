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
        var ablate: AblateStage.Options?
        var edit: EditStage.Options?
        let stages = recipe.stages
        if stages.contains("collect") || stages.contains("rank") {
            try collecting { plan = try CollectStage(experiment: self, folder: folder).plan() }
        }
        if stages.contains("rank") { try collecting { _ = try RankStage(experiment: self, folder: folder).options() } }
        if stages.contains("ablate") { try collecting { ablate = try AblateStage(experiment: self, folder: folder).options() } }
        if stages.contains("edit") { try collecting { edit = try EditStage(experiment: self, folder: folder).options() } }
        if let plan { issues += selectionProblems(collected: plan.layers.count * loaded.model.ffnWidth, ablate: ablate, edit: edit) }
        guard issues.isEmpty else { throw RecipeErrors(file: recipeFile, issues: issues) }
    }

    /// Sets of top neurons drawn from the ranking cannot be larger than what was collected, and the
    /// ablation's matched random sets need as many neurons again outside the selection. The values
    /// are the stages' own, defaults included.
    func selectionProblems(collected: Int, ablate: AblateStage.Options?, edit: EditStage.Options?) -> [RecipeIssue] {
        var issues: [RecipeIssue] = []
        func check(_ path: String, _ values: [Int], limit: Int, why: String) {
            let given = recipe.node(path) != nil
            for value in values where value > limit {
                issues.append(RecipeIssue(path: path, line: recipe.line(of: path),
                                          message: "is \(value)\(given ? "" : " (the default)"); it must be at most \(limit) (\(why))"))
            }
        }
        let collectedWhy = "the neurons of the collected layers"
        if recipe.stages.contains("rank") {
            check("rank.top_k", recipe.int("rank.top_k").map { [$0] } ?? [], limit: collected, why: collectedWhy)
        }
        if let ablate {
            let half = "half the collected neurons, so that matched random sets fit outside the selection"
            check("ablate.k", ablate.ks, limit: collected / 2, why: half)
            if ablate.modes.contains(.amplify) { check("ablate.amplify_k", [ablate.amplifyK], limit: collected / 2, why: half) }
        }
        if let edit, edit.maskFile == nil {
            check("edit.neurons", [edit.neurons], limit: collected, why: collectedWhy)
        }
        return issues
    }
}

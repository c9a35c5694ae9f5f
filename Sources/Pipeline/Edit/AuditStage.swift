import AtomicFiles
import Checkpoints
import Foundation
import Recipes

/// The `audit` stage: the run's edit set beside its base by `Audit`, written as the evidence archive's
/// `/audit` and recorded like every stage (with its peak memory). Its result is not read back: `/audit`
/// keeps counts where the report has row lists, so a run asked for the audit computes it again.
public struct AuditStage: Stage {
    public static let name = StageName.audit
    public static let dependencies: [StageName] = [.edit]

    public let place: StagePlace
    public init(_ place: StagePlace) { self.place = place }

    /// The general text of perplexity and KL where neither the recipe (`audit.general_text`) nor the command
    /// line names one.
    public static var defaultGeneralText: String { RecipeSchema.field("audit.general_text")!.defaultValue! }

    public struct Options {
        /// The general text of perplexity and KL, resolved against the repository.
        var generalText: String
    }

    public func options() throws -> Options {
        let general = experiment.recipe.settings.string("audit.general_text")!
        return Options(generalText: Experiment.resolve(general, root: experiment.root))
    }

    /// The edit it audits (the edited checkpoint and, through the edit's record, the base model).
    public func dependencyInputs(_ options: Options) throws -> [String: String] {
        guard editedCheckpoint != nil else {
            throw TrainingError.framing("audit needs the edited checkpoint in " +
                                        "\(folder.url.appendingPathComponent("edit").path); " +
                                        "add the edit stage before it")
        }
        // The edit's record already names the base model's hash: hashing the model again would only cost time.
        return ["edit": try dependencyRecord(.edit).inputsDigest]
    }

    /// The run's edit (`EditStage.editedCheckpoint(in:)`).
    public var editedCheckpoint: URL? { EditStage.editedCheckpoint(in: folder) }

    public func compute(_ run: StageRun<Options>) throws -> StageOutcome<Audit.Report> {
        let report = try Audit.run(base: experiment.modelPath, edited: editedCheckpoint!.path,
                                   experiment: experiment, generalPath: run.options.generalText,
                                   seed: experiment.recipe.seed)
        var summary = ["changed_tensors": Double(report.changes.count),
                       "changed_weights_outside_mask": Double(report.outsideMask)]
        summary["accuracy_after"] = report.accuracyAfter
        summary["wikitext_perplexity_after"] = report.perplexityAfter
        return StageOutcome(result: report, summary: summary) { group in try report.write(into: group) }
    }

    public func reuse(_ record: RunFolder.StageRecord) throws -> Audit.Report {
        throw TrainingError.framing("the audit is computed whenever it is asked for")
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

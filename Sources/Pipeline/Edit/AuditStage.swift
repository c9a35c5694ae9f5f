import AtomicFiles
import Checkpoints
import Datasets
import Foundation
import Recipes

/// The `audit` stage: the run's edit set beside its base by `Audit`, written as the evidence archive's
/// `/audit` and recorded like every stage (with its peak memory), and reused like every stage while what it
/// measures is unchanged (`dependencyInputs`).
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
        /// `audit.data`: the examples scored instead of the test split (a seeded sample of 400 at most).
        var data: DatasetSpec?
    }

    /// The examples of `audit.data` the audit scores at most.
    static let transferCap = 400

    public func options() throws -> Options {
        let general = experiment.recipe.settings.string("audit.general_text")!
        var problems = RecipeProblems(experiment.recipe, file: experiment.recipeFile)
        let data = experiment.recipe.node("audit.data") == nil ? nil :
            experiment.otherDataset("audit.data", &problems)
        try problems.check()
        return Options(generalText: Experiment.resolve(general, root: experiment.root), data: data)
    }

    /// What the audit measures: the edit's record (which names the base model), the edited checkpoint's
    /// bytes as they are now (so an audit is never reused for a file changed since), the data whose test
    /// split it scores, and the general text of perplexity and KL ("absent" when it is not there).
    public func dependencyInputs(_ options: Options) throws -> [String: String] {
        guard let edited = editedCheckpoint else {
            throw TrainingError.framing("audit needs the edited checkpoint in " +
                                        "\(folder.url.appendingPathComponent("edit").path); " +
                                        "add the edit stage before it")
        }
        // The edit's record already names the base model's hash: hashing the model again would only cost time.
        let general = FileManager.default.fileExists(atPath: options.generalText) ?
            try SHA256.file(options.generalText) : "absent"
        return ["edit": try dependencyRecord(.edit).inputsDigest, "edited": try SHA256.checkpoint(edited.path),
                "data": try options.data.map { try SHA256.file($0.path) } ?? experiment.dataSHA256(),
                "general_text": general]
    }

    /// The run's edit (`EditStage.editedCheckpoint(in:)`).
    public var editedCheckpoint: URL? { EditStage.editedCheckpoint(in: folder) }

    public func compute(_ run: StageRun<Options>) throws -> StageOutcome {
        let evaluated = try transferExamples(run.options.data)
        let report = try Audit.run(base: experiment.modelPath, edited: editedCheckpoint!.path,
                                   experiment: experiment, generalPath: run.options.generalText,
                                   evaluated: evaluated, seed: experiment.recipe.seed)
        return StageOutcome { group in try report.write(into: group) }
    }

    public func read(_ record: RunFolder.StageRecord, reused: Bool) throws -> Audit.Report {
        let url = EvidenceArchive.url(folder)
        let file = try EvidenceArchive.open(url)        // kept open while its group is read
        return try Audit.Report.read(from: try file.root.group(Self.name.rawValue), path: url.path)
    }

    /// The record's figures: the tensors changed, the weights changed outside the mask, and the task
    /// accuracy and perplexity after the edit where measured.
    public func headline(_ report: Audit.Report) -> [String: Figure] {
        var figures: [String: Figure] = ["changed_tensors": .number(Double(report.changes.count)),
                                         "changed_weights_outside_mask": .number(Double(report.outsideMask))]
        figures["accuracy_after"] = report.accuracyAfter.map(Figure.number)
        figures["wikitext_perplexity_after"] = report.perplexityAfter.map(Figure.number)
        return figures
    }

    /// `scalpel audit --base A --edited B [--recipe R]`: two checkpoints compared outside a run, on the
    /// recipe's test split (or its `audit.data`) and framing when one is given; nothing is written.
    public static func compare(base: String, edited: String, experiment: Experiment?,
                               generalText: String) throws -> Audit.Report {
        let root = experiment?.root ?? ModelAliases.root()
        let evaluated = try experiment.flatMap { experiment in
            let stage = AuditStage(experiment: experiment, folder: RunFolder(unchecked: experiment.runFolder))
            return try stage.transferExamples(try stage.options().data)
        }
        return try Audit.run(base: base, edited: edited, experiment: experiment,
                             generalPath: Experiment.resolve(generalText, root: root),
                             evaluated: evaluated, seed: experiment?.recipe.seed ?? 0)
    }

    /// The examples of `audit.data` (`data`) the audit scores, nil without it.
    func transferExamples(_ data: DatasetSpec?) throws -> [Example]? {
        try data.map { try Experiment.sample($0, at: Self.transferCap, seed: seed(.auditSample)) }
    }
}

import AtomicFiles
import Foundation
import HDF5Kit
import Recipes

// ----------------------------------------------------------------------------------------------------
// One skeleton for every stage.
//
//   options()  →  inputs  →  up to date?  ── yes ──→  reuse(record)          (read back from /<stage>)
//                                  │ no
//                                  ↓
//                         compute(options)  →  /<stage> archive group  →  <stage>/stage.json
//
// A stage says what it is (its name, the stages it reads), what its result depends on (typed options,
// hashed, and the files it reads), how it computes, and how it reads a finished result back. The
// runner, `run`, owns the rest: reuse, timing, the archive group, the record and the messages. The
// record is written last, so a stage interrupted anywhere before it is computed again.

/// A stage's one spelling: its folder in the run, its archive group, its record and its command.
public enum StageName: String, CaseIterable, Sendable, CustomStringConvertible {
    case prompt, collect, rank, ablate, edit, audit

    public var description: String { rawValue }
}

public protocol Stage {
    /// The stage's settings, read from its recipe section with the schema's defaults. Their canonical
    /// text is hashed for reuse: a changed option or default reruns the stage; a comment does not.
    associatedtype Options
    associatedtype Result

    static var name: StageName { get }
    /// The stages whose outputs this one reads.
    static var dependencies: [StageName] { get }

    /// Where the stage runs: the experiment and its run folder.
    var place: StagePlace { get }
    init(_ place: StagePlace)

    /// Reads and checks the options, refusing inconsistent ones with the recipe's line.
    func options() throws -> Options
    /// Hashes of what the result depends on beyond the options: earlier records, the model, the data.
    func dependencyInputs(_ options: Options) throws -> [String: String]
    /// Computes the result, writing any files of the stage's own folder.
    func compute(_ run: StageRun<Options>) throws -> StageOutcome<Result>
    /// A finished stage's result, read back from its archive group and record.
    func reuse(_ record: RunFolder.StageRecord) throws -> Result
}

/// Where a stage runs: the experiment (recipe, model, data) and the run folder it writes.
public struct StagePlace: Sendable {
    public let experiment: Experiment
    public let folder: RunFolder

    public init(experiment: Experiment, folder: RunFolder) {
        self.experiment = experiment
        self.folder = folder
    }
}

/// What the runner hands `compute`: the options, the inputs they were hashed with, and whether to be quiet.
public struct StageRun<Options> {
    public let options: Options
    /// The recorded inputs (hashes), for outputs that name what made them.
    public let inputs: [String: String]
    public let quiet: Bool
}

/// What `compute` hands the runner: the result, and what to write of it.
public struct StageOutcome<Result> {
    public var result: Result
    /// Writes the stage's archive group, the single source of its result.
    public var archive: (HDF5Group) throws -> Void
    /// The record's headline figures (`stage.json`'s summary).
    public var summary: [String: Double]
    /// Files of the stage's folder, by name, with their sha256: the stage is redone when one changes.
    public var outputs: [String: String]
    /// Paths worth naming in the record, beside the recipe and the archive.
    public var notes: [String: String]

    public init(result: Result, summary: [String: Double], outputs: [String: String] = [:],
                notes: [String: String] = [:], archive: @escaping (HDF5Group) throws -> Void) {
        self.result = result
        self.summary = summary
        self.outputs = outputs
        self.notes = notes
        self.archive = archive
    }
}

extension Stage {
    public static var dependencies: [StageName] { [] }

    public init(experiment: Experiment, folder: RunFolder) {
        self.init(StagePlace(experiment: experiment, folder: folder))
    }

    public var experiment: Experiment { place.experiment }
    public var folder: RunFolder { place.folder }

    /// Everything the result depends on, hashed: the dependencies, and the options with the seed.
    public func inputs(_ options: Options) throws -> [String: String] {
        var inputs = try dependencyInputs(options)
        let fingerprint = "seed=\(experiment.recipe.seed)\n\(Self.name)=" + Recipe.canonical(reflecting: options)
        inputs["options"] = SHA256.hex(fingerprint)
        return inputs
    }

    /// The record of a finished, up-to-date run of this stage, if there is one.
    public func upToDate() throws -> RunFolder.StageRecord? {
        folder.isDone(Self.name.rawValue, inputs: try inputs(try options()))
    }

    /// Runs the stage, or reads its result back when a finished run is up to date.
    public func run(force: Bool = false, quiet: Bool = false) throws -> Result {
        let options = try options()
        let inputs = try inputs(options)
        if !force, let done = folder.isDone(Self.name.rawValue, inputs: inputs), let result = try? reuse(done) {
            if !quiet { ProgressReporter.say("\(Self.name): up to date (\(EvidenceArchive.url(folder).path))") }
            return result
        }
        let started = Date()
        let outcome = try compute(StageRun(options: options, inputs: inputs, quiet: quiet))
        try publish(outcome, inputs: inputs, started: started)
        return outcome.result
    }

    /// Writes a computed result: its archive group, then the record that marks the stage finished.
    func publish(_ outcome: StageOutcome<Result>, inputs: [String: String], started: Date) throws {
        try EvidenceArchive.write(stage: Self.name.rawValue, experiment: experiment, folder: folder,
                                  started: started, outcome.archive)
        try folder.write(RunFolder.StageRecord(
            stage: Self.name.rawValue, inputs: inputs, outputs: outcome.outputs, summary: outcome.summary,
            notes: outcome.notes.merging(["recipe": experiment.recipeFile,
                                          "archive": EvidenceArchive.url(folder).path]) { $1 },
            seconds: Date().timeIntervalSince(started)))
    }

    /// The record of a stage this one reads, or an error that says which command makes it.
    func dependencyRecord(_ stage: StageName) throws -> RunFolder.StageRecord {
        guard let record = folder.record(stage.rawValue) else {
            throw CollectError.corruptStore(path: folder.url.appendingPathComponent(stage.rawValue).path,
                                            detail: "there is no finished \(stage) stage; " +
                                            "run `scalpel \(stage.command) \(experiment.recipeFile)` first")
        }
        return record
    }
}

extension StageName {
    /// The CLI command that runs the stage alone.
    public var command: String { self == .prompt ? "tune-prompt" : rawValue }
}

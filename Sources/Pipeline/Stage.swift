import AtomicFiles
import Foundation
import HDF5Kit
import Recipes

// ----------------------------------------------------------------------------------------------------
// One skeleton for every stage.
//
//   options()  →  inputs  →  up to date?  ── yes ──→  read(record)  →  the result
//                                  │ no
//                                  ↓
//                         compute(options)  →  /<stage> archive group  →  read  →  the result
//                                                                                     ↓
//                                                                    headline  →  <stage>/stage.json
//
// A stage says what it is (its name, the stages it reads), what its result depends on (typed options,
// hashed, and the files it reads), how it computes, how it reads its archive group back, and which
// figures of the result head its record. The runner, `run`, owns the rest: reuse, timing, the archive
// group, the record and the messages. The archive group is the source of the result: a freshly computed
// one is read back from it like a reused one, and the record's figures and the command's JSON derive
// from what was read. The record is written last, so a stage interrupted before it runs again.

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
    /// Computes the result: writes the files of the stage's own folder and returns the writer of its
    /// archive group, from which the runner then reads the result.
    func compute(_ run: StageRun<Options>) throws -> StageOutcome
    /// The result as its archive group holds it (with the record's outputs and time); `reused` when the
    /// group is from an earlier run rather than the `compute` just made.
    func read(_ record: RunFolder.StageRecord, reused: Bool) throws -> Result
    /// The record's headline figures, from the result as read.
    func headline(_ result: Result) -> [String: Figure]
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

/// What `compute` hands the runner: what to write of the result. The result itself is read back.
public struct StageOutcome {
    /// Writes the stage's archive group, the single source of its result.
    public var archive: (HDF5Group) throws -> Void
    /// Files of the stage's folder, by name, with their sha256: the stage is redone when one changes.
    public var outputs: [String: String]
    /// Paths worth naming in the record, beside the recipe and the archive.
    public var notes: [String: String]
    /// Figures of the machine and the moment (rates), kept in `/provenance` as `<stage>_<name>`, so that
    /// the stage's own group holds only what the same inputs always give.
    public var timings: [String: Double]

    public init(outputs: [String: String] = [:], notes: [String: String] = [:], timings: [String: Double] = [:],
                archive: @escaping (HDF5Group) throws -> Void) {
        self.outputs = outputs
        self.notes = notes
        self.timings = timings
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
        if !force, let done = folder.isDone(Self.name.rawValue, inputs: inputs),
           let result = try? read(done, reused: true) {
            if !quiet { ProgressReporter.say("\(Self.name): up to date (\(EvidenceArchive.url(folder).path))") }
            return result
        }
        let started = Date()
        let outcome = try compute(StageRun(options: options, inputs: inputs, quiet: quiet))
        return try publish(outcome, inputs: inputs, started: started)
    }

    /// Writes a computed result's archive group, reads the result back from it, and writes the record
    /// that marks the stage finished, headed by the figures of what was read.
    func publish(_ outcome: StageOutcome, inputs: [String: String], started: Date) throws -> Result {
        try EvidenceArchive.write(stage: Self.name.rawValue, experiment: experiment, folder: folder,
                                  started: started, timings: outcome.timings, outcome.archive)
        let notes = outcome.notes.merging(["recipe": experiment.recipeFile,
                                           "archive": EvidenceArchive.url(folder).path]) { $1 }
        var record = RunFolder.StageRecord(stage: Self.name.rawValue, inputs: inputs, outputs: outcome.outputs,
                                           summary: [:], notes: notes, seconds: Date().timeIntervalSince(started))
        let result = try read(record, reused: false)
        record.summary = headline(result)
        try folder.write(record)
        return result
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

import AtomicFiles
import Foundation
import Models
import TensorCore
import HDF5Kit
import Interventions

/// The run's evidence archive, `runs/<name>/evidence.h5`: one group per stage, each written as soon as its
/// stage finishes, plus the provenance of the run. Every write replaces the file atomically, so an
/// interrupted stage leaves the archive as the previous stage left it.
///
/// Schema `scalpel.evidence/1` (attribute `schema` of the root):
/// - `/provenance` (attributes): tool version, git commit, recipe text and sha256, model and data sha256,
///   seed, machine, cores, and each stage's start time, seconds, OpenBLAS kernel, Scalpel's kernel path,
///   the process's peak resident memory and where the weights lived (`<stage>_started`, `_seconds`,
///   `_blas_kernel`, `_kernel_path`, `_peak_rss_mb`, `_weights`), and the stage's rates (`collect_tokens_per_second`).
///   Everything that depends on the machine or the moment is here: the stages' groups hold only what
///   the same inputs give, so two runs (or a sharded run and its merge) compare with /provenance aside.
/// - `/collect`, `/rank`, `/ablate`: see `CollectStage`, `RankStage` and `AblateStage` (and docs/evidence.md).
public enum EvidenceArchive {
    public static let schema = "scalpel.evidence/1"

    public static func url(_ folder: RunFolder) -> URL { folder.url.appendingPathComponent("evidence.h5") }

    /// Opens an archive for reading, refusing other schemas with a clear message.
    public static func open(_ url: URL) throws -> HDF5File {
        let file = try HDF5File.open(at: url)
        guard case .string(let schema)? = try? file.root.attribute("schema") else {
            throw CollectError.corruptStore(path: url.path,
                                            detail: "it has no schema attribute, " +
                                            "so it is not a Scalpel evidence archive")
        }
        guard schema == Self.schema else {
            throw CollectError.corruptStore(path: url.path,
                                            detail: "its schema is \(schema), " +
                                            "but this version of Scalpel reads \(Self.schema); " +
                                            "use the Scalpel version that wrote it")
        }
        return file
    }

    /// Replaces the group `stage` (creating the archive if needed) and records the stage's timing.
    public static func write(stage: String, experiment: Experiment, folder: RunFolder, started: Date,
                             timings: [String: Double] = [:], _ body: (HDF5Group) throws -> Void) throws {
        let url = url(folder)
        if !FileManager.default.fileExists(atPath: url.path) {
            try HDF5File.create(at: url) { root in
                try root.setAttribute("schema", .string(schema))
                try writeProvenance(try root.createGroup("provenance"), experiment: experiment)
            }
        }
        try HDF5File.update(at: url) { root in
            try root.remove(stage)
            try body(try root.createGroup(stage))
            let provenance = try root.group("provenance")
            try provenance.setAttribute("\(stage)_started", .string(ISO8601DateFormatter().string(from: started)))
            try provenance.setAttribute("\(stage)_seconds", .double(Date().timeIntervalSince(started)))
            // Kernels give different low bits: results are reproducible per kernel, so name it.
            try provenance.setAttribute("\(stage)_blas_kernel",
                                        .string("\(BLASCore.running) (chosen by \(BLASCore.chooser))"))
            try provenance.setAttribute("\(stage)_kernel_path", .string(KernelPath.current.rawValue))
            try provenance.setAttribute("\(stage)_peak_rss_mb", .double(MachineMemory.peakResidentMegabytes))
            try provenance.setAttribute("\(stage)_weights", .string(experiment.loaded.storage.rawValue))
            for (name, value) in timings.sorted(by: { $0.key < $1.key }) {
                try provenance.setAttribute("\(stage)_\(name)", .double(value))
            }
        }
    }

    static func writeProvenance(_ group: HDF5Group, experiment: Experiment) throws {
        let recipe = experiment.recipe
        try group.setAttribute("tool", .string("scalpel"))
        try group.setAttribute("tool_version", .string(ScalpelBuild.version))
        try group.setAttribute("git_commit", .string(gitCommit(experiment.root) ?? "unknown"))
        try group.setAttribute("recipe_text", .string(recipe.text))
        try group.setAttribute("recipe_sha256", .string(SHA256.hex(recipe.text)))
        try group.setAttribute("recipe_file", .string(experiment.recipeFile))
        try group.setAttribute("model", .string(experiment.modelPath))
        try group.setAttribute("model_sha256", .string(try SHA256.checkpoint(experiment.modelPath)))
        try group.setAttribute("data", .string(experiment.datasetPath))
        try group.setAttribute("data_sha256", .string(try experiment.dataSHA256()))
        try group.setAttribute("seed", .int(Int64(recipe.seed)))
        try group.setAttribute("split_seed", .int(Int64(recipe.data.splitSeed)))
        var name = utsname()
        uname(&name)
        let machine = withUnsafeBytes(of: &name.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let system = withUnsafeBytes(of: &name.sysname) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        try group.setAttribute("machine", .string("\(system) \(machine), " +
            "\(ProcessInfo.processInfo.activeProcessorCount) cores, " +
            "\(ProcessInfo.processInfo.physicalMemory >> 20) MiB"))
        try group.setAttribute("created", .string(ISO8601DateFormatter().string(from: Date())))
    }

    /// The repository's HEAD commit, read from .git without running git.
    static func gitCommit(_ root: URL) -> String? {
        let git = root.appendingPathComponent(".git")
        guard let head = try? String(contentsOf: git.appendingPathComponent("HEAD"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines) else { return nil }
        guard head.hasPrefix("ref: ") else { return head }
        let ref = String(head.dropFirst(5))
        if let direct = try? String(contentsOf: git.appendingPathComponent(ref), encoding: .utf8) {
            return direct.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let packed = (try? String(contentsOf: git.appendingPathComponent("packed-refs"), encoding: .utf8)) ?? ""
        return packed.split(separator: "\n").first { $0.hasSuffix(" " + ref) }.map { String($0.prefix(40)) }
    }
}

/// The tool's version, shared by the CLI and the archive.
public enum ScalpelBuild {
    public static let version = "0.1.0"

    /// The version and the commit of the repository the running executable was built in, when it lives
    /// in one (`.build/release/scalpel`): shards must come from the same build to merge.
    public static let identity: String = {
        var folder = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
                             ?? CommandLine.arguments[0]).deletingLastPathComponent()
        while folder.path != "/" {
            if FileManager.default.fileExists(atPath: folder.appendingPathComponent(".git").path),
               let commit = EvidenceArchive.gitCommit(folder) {
                return "\(version)+\(commit.prefix(12))"
            }
            folder = folder.deletingLastPathComponent()
        }
        return version
    }()
}

extension HDF5Group {
    /// Writes neurons as the archive keeps them: int64 [n, 2], one (layer, neuron) row each.
    func writeNeurons(_ name: String, _ neurons: [Intervention.Neuron]) throws {
        try write(name, neurons.flatMap { [Int64($0.layer), Int64($0.neuron)] }, shape: [neurons.count, 2])
    }

    /// Reads neurons written by `writeNeurons`; `path` names the archive in the error for a damaged list.
    func readNeurons(_ name: String, path: String) throws -> [Intervention.Neuron] {
        let pairs = try read(name, as: Int64.self).values
        guard pairs.count % 2 == 0 else {
            throw CollectError.corruptStore(path: path, detail: "\(self.path)/\(name) is not a list of " +
                                            "(layer, neuron) pairs; run the stage again")
        }
        return stride(from: 0, to: pairs.count, by: 2).map {
            Intervention.Neuron(layer: Int(pairs[$0]), neuron: Int(pairs[$0 + 1]))
        }
    }
}

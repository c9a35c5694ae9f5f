import AtomicFiles
import Foundation
import HDF5Kit
import TensorCore

/// A sharded sweep: `ablate --shard i/N` evaluates units u ≡ i (mod N) of the sweep (AblateSweep) into
/// `ablate/shard-i-of-N.h5`; `merge` checks the N files belong together and finishes the stage from
/// their evaluations, through the code a single run finishes with, so the result is the same bytes.
///
/// Layout of a shard file, schema `scalpel.ablate-shard/2`:
/// - attributes: `schema`, `shard` ("i/N"), `tool_version`, `inputs_sha256` (the stage's inputs: recipe,
///   ranking, prompt, model, data), `test_examples`;
/// - `base` and `units/s<point>-j<set>`: a summary each, attributes `accuracy`, `macro_f1`, `confidence`,
///   `loss`, `kl` (and `general_kl`), datasets `losses` float64 [n], `scores` float64 [n] (and `side`).
extension AblateStage {
    public static let shardSchema = "scalpel.ablate-shard/2"

    /// What a shard run reports.
    public struct ShardResult: Sendable {
        public var file: String
        public var shard: String
        public var evaluations: Int
    }

    /// Evaluates one shard's units into its file; `merge` finishes the stage once every shard is there.
    public func run(shard: (Int, Int), quiet: Bool = false) throws -> ShardResult {
        let options = try options()
        let inputs = try inputs(options)
        let stageFolder = try folder.stage(Self.name.rawValue)
        let url = stageFolder.appendingPathComponent(Shards.name(shard, "h5"))
        return try Shards.run(in: stageFolder, shard: shard) {
            try Precision.$current.withValue(options.precision) {
                let sweep = try self.sweep(options)
                let pass = try evaluatedUnits(sweep, shard: shard, quiet: quiet)
                try Self.writeShard(pass, shard: shard, inputs: inputs, to: url)
                return ShardResult(file: url.path, shard: "\(shard.0)/\(shard.1)", evaluations: pass.evaluations.count)
            }
        }
    }

    /// Finishes a sharded sweep from `ablate/shard-*-of-N.h5` (or the files given), as a single run would.
    public func merge(shards given: [URL]? = nil, quiet: Bool = false) throws -> Result {
        let started = Date()
        let options = try options()
        let inputs = try inputs(options)
        let stageFolder = try folder.stage(Self.name.rawValue)
        let files = try given ?? FileManager.default.contentsOfDirectory(atPath: stageFolder.path)
            .filter { $0.hasPrefix("shard-") && $0.hasSuffix(".h5") }.sorted()
            .map { stageFolder.appendingPathComponent($0) }
        let sweep = try self.sweep(options)
        let pass = try Self.readShards(files, sweep: sweep, inputs: inputs)
        return try publish(try outcome(sweep, pass, started: started), inputs: inputs, started: started)
    }

    static func writeShard(_ pass: Pass, shard: (Int, Int), inputs: [String: String], to url: URL) throws {
        try HDF5File.create(at: url) { root in
            try root.setAttribute("schema", .string(shardSchema))
            try root.setAttribute("shard", .string("\(shard.0)/\(shard.1)"))
            try root.setAttribute("tool_version", .string(ScalpelBuild.identity))
            try root.setAttribute("inputs_sha256", .string(RunFolder.StageRecord.digest(inputs)))
            try root.setAttribute("test_examples", .int(Int64(pass.examples)))
            try writeSummary(pass.base, generalKL: nil, into: try root.createGroup("base"))
            let units = try root.createGroup("units")
            for (unit, evaluation) in pass.evaluations.sorted(by: { $0.key < $1.key }) {
                try writeSummary(evaluation.summary, generalKL: evaluation.generalKL,
                                 into: try units.createGroup("s\(unit.step)-j\(unit.set)"))
            }
        }
    }

    /// Every shard's evaluations, after checking that the files are the N shards of this sweep, once each,
    /// made by this Scalpel from these inputs, and that they agree on the unablated pass.
    static func readShards(_ files: [URL], sweep: AblateSweep, inputs: [String: String]) throws -> Pass {
        func refuse(_ detail: String) -> CollectError { .incompatibleShards(detail: detail) }
        guard !files.isEmpty else {
            throw refuse("there are no ablate shard files; run `scalpel ablate RECIPE --shard i/N` for each i first")
        }
        var seen: [Int: URL] = [:], total: Int?
        var pass: Pass?, baseFile: URL?
        for url in files {
            let file = try HDF5File.open(at: url)
            defer { file.close() }
            let root = file.root
            guard case .string(let schema)? = try? root.attribute("schema"), schema == shardSchema,
                  case .string(let name)? = try? root.attribute("shard"),
                  case .string(let version)? = try? root.attribute("tool_version"),
                  case .string(let made)? = try? root.attribute("inputs_sha256"),
                  case .int(let examples)? = try? root.attribute("test_examples") else {
                throw refuse("\(url.path) is not an ablate shard file (\(shardSchema)); run its shard again")
            }
            let parts = name.split(separator: "/").compactMap { Int($0) }
            guard parts.count == 2, parts[0] >= 0, parts[0] < parts[1] else {
                throw refuse("\(url.path) is not a shard (its shard attribute is '\(name)')")
            }
            let (i, n) = (parts[0], parts[1])
            if let total, total != n { throw refuse("\(url.path) is shard \(name), but the others are of \(total)") }
            total = n
            if let other = seen[i] { throw refuse("shard \(i) is given twice: \(other.path) and \(url.path)") }
            seen[i] = url
            guard version == ScalpelBuild.identity else {
                throw refuse("\(url.path) was written by Scalpel \(version), and this is \(ScalpelBuild.identity); " +
                             "run that shard again with this build")
            }
            guard made == RunFolder.StageRecord.digest(inputs) else {
                throw refuse("\(url.path) was run from other inputs (another recipe, ranking, prompt, model or " +
                             "data) than the run folder holds now; run that shard again")
            }
            let base = try readSummary(try root.group("base"), url: url).summary
            if let first = pass {
                guard first.base.losses == base.losses, first.base.scores == base.scores,
                      first.examples == Int(examples) else {
                    throw refuse("\(url.path) and \(baseFile!.path) disagree on the unablated pass (other " +
                                 "kernels or machines?); run every shard on one kind of machine")
                }
            } else {
                pass = Pass(base: base, examples: Int(examples), evaluations: [:])
                baseFile = url
            }
            try readUnits(root, url: url, shard: (i, n), sweep: sweep, into: &pass!.evaluations)
        }
        // Every evaluation covers the same examples, and all or none have a general-text KL and a side measure.
        if let pass {
            for (unit, evaluation) in pass.evaluations {
                let s = evaluation.summary
                guard s.losses.count == pass.examples, (s.side == nil) == (pass.base.side == nil),
                      (evaluation.generalKL == nil) == (pass.evaluations.first!.value.generalKL == nil) else {
                    throw refuse("the evaluation of point \(unit.step), set \(unit.set) disagrees with the others in " +
                                 "its examples, side measure or general-text KL (was general text missing on some " +
                                 "machine?); run its shard again with the same files")
                }
            }
        }
        let missing = (0..<total!).filter { seen[$0] == nil }
        guard missing.isEmpty else {
            throw refuse("ablate shards \(missing.map(String.init).joined(separator: ", ")) of \(total!) are " +
                         "missing; run them with `scalpel ablate RECIPE --shard i/\(total!)`")
        }
        return pass!
    }

    /// A shard's units, which must be exactly the ones `units(shard:)` gives it.
    static func readUnits(_ root: HDF5Group, url: URL, shard: (Int, Int), sweep: AblateSweep,
                          into evaluations: inout [AblateSweep.Unit: AblateSweep.Evaluation]) throws {
        let group = try root.group("units")
        let expected = sweep.units(shard: shard)
        let names = Set(expected.map { "s\($0.step)-j\($0.set)" })
        guard Set(try group.children()) == names else {
            throw CollectError.incompatibleShards(
                detail: "\(url.path) does not hold the \(expected.count) evaluations of shard " +
                    "\(shard.0)/\(shard.1) of this sweep (the recipe's sweep changed?); run that shard again")
        }
        for unit in expected {
            let (summary, kl) = try readSummary(try group.group("s\(unit.step)-j\(unit.set)"), url: url)
            evaluations[unit] = AblateSweep.Evaluation(summary: summary, generalKL: kl)
        }
    }

    static func writeSummary(_ s: Summary, generalKL: Double?, into group: HDF5Group) throws {
        for (name, value) in [("accuracy", s.accuracy), ("macro_f1", s.macroF1), ("confidence", s.confidence),
                              ("loss", s.loss), ("kl", s.kl)] {
            try group.setAttribute(name, .double(value))
        }
        if let generalKL { try group.setAttribute("general_kl", .double(generalKL)) }
        try group.write("losses", s.losses, shape: [s.losses.count])
        try group.write("scores", s.scores, shape: [s.scores.count])
        if let side = s.side { try group.write("side", side, shape: [side.count]) }
    }

    static func readSummary(_ group: HDF5Group, url: URL) throws -> (summary: Summary, generalKL: Double?) {
        var figures: [Double] = []
        for name in ["accuracy", "macro_f1", "confidence", "loss", "kl"] {
            guard case .double(let value)? = try? group.attribute(name) else {
                throw CollectError.incompatibleShards(detail: "\(url.path): \(group.path) has no \(name); " +
                                                      "the file is damaged, so run that shard again")
            }
            figures.append(value)
        }
        var generalKL: Double?
        if case .double(let kl)? = try? group.attribute("general_kl") { generalKL = kl }
        let losses = try group.read("losses", as: Double.self).values
        let scores = try group.read("scores", as: Double.self).values
        let side = group.kind(of: "side") == nil ? nil : try group.read("side", as: Double.self).values
        guard scores.count == losses.count, side.map({ $0.count == losses.count }) ?? true else {
            throw CollectError.incompatibleShards(detail: "\(url.path): \(group.path) holds lists of " +
                                                  "different lengths; the file is damaged, so run that shard again")
        }
        return (Summary(accuracy: figures[0], macroF1: figures[1], confidence: figures[2], loss: figures[3],
                        kl: figures[4], losses: losses, scores: scores, side: side), generalKL)
    }
}

import AtomicFiles
import Foundation
import Models
import TensorCore

/// The folder a recipe's run writes into: one subfolder per stage, each with its outputs and a
/// `stage.json` recording the hashes of the inputs that produced them, so a finished stage is never
/// computed twice and a changed input is never mistaken for a finished one.
public struct RunFolder: Sendable {
    public let url: URL

    /// Opens (creating) the run folder, and sweeps the temporaries that killed runs left in it.
    public init(_ url: URL) throws {
        self.url = url
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        TemporaryFiles.sweep(url)
    }

    /// The folder as a path only, created by nothing: for checks that read options and write no output.
    public init(unchecked url: URL) {
        self.url = url
    }

    public func stage(_ name: String) throws -> URL {
        let folder = url.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }

    public struct StageRecord: Codable, Sendable, Equatable {
        public var stage: String
        public var inputs: [String: String]
        public var outputs: [String: String]
        public var summary: [String: Figure]
        public var notes: [String: String]
        public var seconds: Double

        public init(stage: String, inputs: [String: String], outputs: [String: String],
                    summary: [String: Figure], notes: [String: String], seconds: Double) {
            (self.stage, self.inputs, self.outputs) = (stage, inputs, outputs)
            (self.summary, self.notes, self.seconds) = (summary, notes, seconds)
        }

        /// One hash of all the inputs, for a later stage that depends on this one's.
        public var inputsDigest: String { Self.digest(inputs) }

        /// One hash of a stage's inputs: the record's, and what shard files carry to be checked against it.
        public static func digest(_ inputs: [String: String]) -> String {
            SHA256.hex(inputs.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "|"))
        }
    }

    /// How a record spells a figure that is not a finite number (a diverged loss, an overflowing perplexity).
    static let nonFinite = JSONEncoder.NonConformingFloatEncodingStrategy.convertToString(
        positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    static let nonFiniteRead = JSONDecoder.NonConformingFloatDecodingStrategy.convertFromString(
        positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")

    public func record(_ stage: String) -> StageRecord? {
        let file = url.appendingPathComponent(stage).appendingPathComponent("stage.json")
        guard let data = FileManager.default.contents(atPath: file.path) else { return nil }
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = Self.nonFiniteRead
        return try? decoder.decode(StageRecord.self, from: data)
    }

    /// Writes the record, with the process's peak resident memory so far (`peak_rss_mb`) in its summary.
    public func write(_ record: StageRecord) throws {
        var record = record
        record.summary["peak_rss_mb"] = record.summary["peak_rss_mb"] ?? .number(MachineMemory.peakResidentMegabytes)
        record.notes["kernels"] = record.notes["kernels"] ?? KernelPath.current.rawValue
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = Self.nonFinite
        try AtomicFile.write(try encoder.encode(record),
                             to: try stage(record.stage).appendingPathComponent("stage.json"))
    }

    /// A stage is done when its record's inputs equal `inputs` and every output still has its recorded hash.
    public func isDone(_ stage: String, inputs: [String: String]) -> StageRecord? {
        guard let record = record(stage), record.inputs == inputs else { return nil }
        for (file, hash) in record.outputs {
            guard (try? SHA256.checkpoint(url.appendingPathComponent(stage)
                                              .appendingPathComponent(file).path)) == hash else {
                return nil
            }
        }
        return record
    }
}

extension RunFolder {
    /// A file of a stage's folder: `<run>/<stage>/<name>`.
    public func file(_ stage: StageName, _ name: String) -> URL {
        url.appendingPathComponent(stage.rawValue).appendingPathComponent(name)
    }

    /// The trained soft prompt (and head), which collect, ablate and the report read.
    public var promptFile: URL { file(.prompt, "prompt.safetensors") }
    /// The activation store, which rank reads.
    public var activationStore: URL { file(.collect, "activations.h5") }
}

/// A headline figure of a stage record: a number, or numbers (an interval is [low, high]).
public enum Figure: Codable, Sendable, Equatable {
    case number(Double)
    case numbers([Double])

    /// An interval's bounds, as the archive keeps them.
    public static func interval(_ bounds: (Double, Double)) -> Figure { .numbers([bounds.0, bounds.1]) }

    public init(from decoder: Decoder) throws {
        let value = try decoder.singleValueContainer()
        if let number = try? value.decode(Double.self) { self = .number(number); return }
        self = .numbers(try value.decode([Double].self))
    }

    public func encode(to encoder: Encoder) throws {
        var value = encoder.singleValueContainer()
        switch self {
        case .number(let number): try value.encode(number)
        case .numbers(let numbers): try value.encode(numbers)
        }
    }
}

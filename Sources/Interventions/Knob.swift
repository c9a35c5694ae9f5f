import Foundation

/// A skill knob: a named set of FFN neurons and how a strength acts on them, for `scalpel serve` and
/// `scalpel generate --knob`. Written by `scalpel knob create` from a run's evidence archive, with the
/// neurons' training statistics, which steering (mean, noise) and monitoring (drift) read.
///
/// What a strength s means, by kind (docs/serve.md):
///
///     kind    the site a of each neuron becomes       neutral   s range
///     scale   s · a            (0 zero-ablates)         1        −100 to 100
///     mean    a + s · (m − a)  (1 is mean ablation)     0        [0, 1]
///     noise   a + s · σ_n · ε  (1 is noise ablation)    0        [0, 1]
///
/// m and σ are the neuron's training mean and standard deviation, σ_n = `noise_sigma` · σ, ε ~ N(0, 1)
/// drawn from `seed`. At the neutral strength a knob adds no hook at all: the output is the unsteered one.
public struct Knob: Codable, Sendable, Equatable {
    public static let schema = "scalpel.knob/1"

    public enum Kind: String, Codable, Sendable, CaseIterable { case scale, mean, noise }

    public var schema: String
    public var name: String
    public var description: String
    public var kind: Kind
    public var neurons: [Intervention.Neuron]
    /// Per neuron: the training mean and standard deviation at the site (from `/collect`).
    public var means: [Double]
    public var stds: [Double]
    /// For `noise`: σ_n in training standard deviations at s = 1.
    public var noiseSigma: Double
    public var seed: UInt64
    /// Where the neurons come from: the archive, metric, model sha256 and so on, for the record.
    public var source: [String: String]

    enum CodingKeys: String, CodingKey {
        case schema, name, description, kind, neurons, means, stds, seed, source
        case noiseSigma = "noise_sigma"
    }

    public init(name: String, description: String, kind: Kind, neurons: [Intervention.Neuron], means: [Double],
                stds: [Double], noiseSigma: Double = 1, seed: UInt64 = 0, source: [String: String] = [:]) {
        self.schema = Self.schema
        self.name = name
        self.description = description
        self.kind = kind
        self.neurons = neurons
        self.means = means
        self.stds = stds
        self.noiseSigma = noiseSigma
        self.seed = seed
        self.source = source
    }

    /// The strength that leaves the model unchanged.
    public var neutral: Double { kind == .scale ? 1 : 0 }

    /// Why `strength` is not one this knob takes, or nil.
    public func problem(strength: Double) -> String? {
        guard strength.isFinite else { return "the strength of knob '\(name)' must be a finite number" }
        if kind == .scale && abs(strength) > 100 {
            return "knob '\(name)' scales its neurons' activations: a strength from −100 to 100, not \(strength)"
        }
        if kind != .scale && !(0...1).contains(strength) {
            return "knob '\(name)' is a \(kind.rawValue) knob: its strength is the share of the way to the " +
                "replacement, from 0 (unchanged) to 1 (replaced), not \(strength)"
        }
        return nil
    }

    /// The intervention of a strength, or nil at the neutral strength (no hook, exactly unsteered).
    public func intervention(strength: Double) -> Intervention? {
        guard strength != neutral else { return nil }
        switch kind {
        case .scale:
            return Intervention(mode: .amplify, strength: strength, neurons: neurons, seed: seed)
        case .mean:
            return Intervention(mode: .mean, neurons: neurons, values: means, seed: seed, share: strength)
        case .noise:
            return Intervention(mode: .noise, strength: noiseSigma, neurons: neurons, sigmas: stds, seed: seed,
                                share: strength)
        }
    }

    /// Checks the knob against a model of `layers` layers of `width` neurons, and its own consistency.
    public func validate(layers: Int, width: Int) throws {
        guard schema == Self.schema else {
            throw KnobError.invalid(name, "its schema is '\(schema)', and this Scalpel reads \(Self.schema)")
        }
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
            throw KnobError.invalid(name, "a knob's name is letters, digits, '-' and '_'")
        }
        guard !neurons.isEmpty else { throw KnobError.invalid(name, "it names no neurons") }
        guard means.count == neurons.count, stds.count == neurons.count else {
            throw KnobError.invalid(name, "it has \(neurons.count) neurons but \(means.count) means and " +
                                    "\(stds.count) standard deviations")
        }
        guard means.allSatisfy(\.isFinite), stds.allSatisfy({ $0.isFinite && $0 >= 0 }), noiseSigma.isFinite else {
            throw KnobError.invalid(name, "its training statistics must be finite (and deviations ≥ 0)")
        }
        guard Set(neurons).count == neurons.count else { throw KnobError.invalid(name, "it names a neuron twice") }
        try Intervention(mode: .amplify, strength: 1, neurons: neurons).validate(layers: layers, width: width)
    }

    /// Reads a knob file, naming the file and the problem on failure.
    public static func load(_ url: URL) throws -> Knob {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw KnobError.unreadable(url.path, "it cannot be read (\(error.localizedDescription))")
        }
        do {
            return try JSONDecoder().decode(Knob.self, from: data)
        } catch let error as DecodingError {
            let where_: String
            switch error {
            case .keyNotFound(let key, _): where_ = "the key '\(key.stringValue)' is missing"
            case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c):
                where_ = "at '\(c.codingPath.map(\.stringValue).joined(separator: "."))': \(c.debugDescription)"
            @unknown default: where_ = "\(error)"
            }
            throw KnobError.unreadable(url.path, "it is not a knob file (\(where_)); write one with " +
                                       "`scalpel knob create`")
        }
    }

    /// The knob as its file holds it (sorted keys, so the same knob is the same bytes).
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }
}

public enum KnobError: Error, CustomStringConvertible, Equatable {
    case invalid(String, String)
    case unreadable(String, String)

    public var description: String {
        switch self {
        case .invalid(let name, let why): return "knob '\(name)' cannot be used: \(why)"
        case .unreadable(let path, let why): return "\(path): \(why)"
        }
    }
}

import Foundation
import Models
import TensorCore

/// A change to chosen FFN neurons, applied at their site (the input of W_down) during a forward pass:
/// the skill knob. Written by `ablate` as JSON and read by `generate --intervene`.
public struct Intervention: Codable, Sendable, Equatable {
    public enum Mode: String, Codable, Sendable, CaseIterable {
        /// The site is set to 0.
        case zero
        /// The site is set to the neuron's training-split mean (`values`).
        case mean
        /// Gaussian noise is added: σ = strength × the neuron's training standard deviation (`sigmas`).
        case noise
        /// The site is multiplied by `strength`.
        case amplify
    }

    public struct Neuron: Codable, Sendable, Equatable, Hashable {
        public var layer: Int
        public var neuron: Int
        public init(layer: Int, neuron: Int) { self.layer = layer; self.neuron = neuron }
    }

    public var mode: Mode
    public var strength: Double
    public var neurons: [Neuron]
    /// Per neuron: the mean for `mean`; unused otherwise.
    public var values: [Double]?
    /// Per neuron: the training standard deviation, for `noise`.
    public var sigmas: [Double]?
    /// Seed of the noise.
    public var seed: UInt64
    /// Where it acts: every position (nil or `all`), or only each sequence's last token (`last`).
    public var scope: Scope?

    public enum Scope: String, Codable, Sendable { case all, last }

    public init(mode: Mode, strength: Double = 0, neurons: [Neuron], values: [Double]? = nil, sigmas: [Double]? = nil, seed: UInt64 = 0, scope: Scope? = nil) {
        self.scope = scope
        self.mode = mode
        self.strength = strength
        self.neurons = neurons
        self.values = values
        self.sigmas = sigmas
        self.seed = seed
    }

    /// The lowest layer it touches: everything below can be reused from an unchanged pass.
    public var firstLayer: Int? { neurons.map(\.layer).min() }

    /// Checks the intervention against a model of `layers` layers of `width` neurons.
    public func validate(layers: Int, width: Int) throws {
        for n in neurons where !(0..<layers).contains(n.layer) || !(0..<width).contains(n.neuron) {
            throw InterventionError.noSuchNeuron(layer: n.layer, neuron: n.neuron, layers: layers, width: width)
        }
        if mode == .mean && values?.count != neurons.count { throw InterventionError.missing("values (one training mean per neuron)") }
        if mode == .noise && sigmas?.count != neurons.count { throw InterventionError.missing("sigmas (one standard deviation per neuron)") }
        if !strength.isFinite { throw InterventionError.missing("a finite strength") }
    }

    /// The hooks that apply it to a batch of `rows` flat rows. `lastRows` are the rows of each sequence's
    /// last token, used when the scope is `last` (nil: the final row). `salt` varies the noise between
    /// batches while keeping it a function of the seed.
    public func hooks(rows total: Int, lastRows: [Int]? = nil, salt: UInt64 = 0) -> HookSet {
        let chosen: [Int]? = scope == .last ? (lastRows ?? [total - 1]) : nil
        let rows = chosen?.count ?? total
        var hooks = HookSet()
        var rng = SeededRandom(seed: seed ^ (salt &* 0x9E37_79B9_7F4A_7C15))
        let byLayer = Dictionary(grouping: neurons.indices, by: { neurons[$0].layer })
        for layer in byLayer.keys.sorted() {
            let indices = byLayer[layer]!
            let columns = indices.map { neurons[$0].neuron }
            switch mode {
            case .zero:
                hooks.add(HookName.mlpSite(layer), .replace(rows: chosen, columns: columns, values: [Float](repeating: 0, count: columns.count)))
            case .mean:
                hooks.add(HookName.mlpSite(layer), .replace(rows: chosen, columns: columns, values: indices.map { Float(values![$0]) }))
            case .noise:
                var shift = Tensor(shape: [rows, columns.count])
                for r in 0..<rows { for (j, i) in indices.enumerated() {
                    shift.scalars[r * columns.count + j] = Float(rng.nextGaussian() * strength * sigmas![i])
                } }
                hooks.add(HookName.mlpSite(layer), .affine(rows: chosen, columns: columns, scale: [Float](repeating: 1, count: columns.count), shift: shift))
            case .amplify:
                hooks.add(HookName.mlpSite(layer), .scale(rows: chosen, columns: columns, by: Float(strength)))
            }
        }
        return hooks
    }

    public static func load(_ url: URL) throws -> Intervention {
        guard let data = FileManager.default.contents(atPath: url.path) else { throw InterventionError.unreadable(url.path, "the file does not exist or cannot be read") }
        do { return try JSONDecoder().decode(Intervention.self, from: data) } catch {
            throw InterventionError.unreadable(url.path, "it is not an intervention (\(error)); expected {mode, strength, neurons: [{layer, neuron}], values?, sigmas?, seed}")
        }
    }
}

public enum InterventionError: Error, CustomStringConvertible, Equatable {
    case noSuchNeuron(layer: Int, neuron: Int, layers: Int, width: Int)
    case missing(String)
    case unreadable(String, String)

    public var description: String {
        switch self {
        case .noSuchNeuron(let l, let n, let layers, let width):
            return "the intervention names neuron \(n) of layer \(l), but the model has layers 0–\(layers - 1) of \(width) neurons each"
        case .missing(let what): return "the intervention needs \(what)"
        case .unreadable(let path, let why): return "\(path): \(why)"
        }
    }
}

/// Random neuron sets matched to `set`: each has exactly as many neurons in every layer as `set`, drawn
/// uniformly (seeded) from that layer's neurons outside `excluded` (which should include `set`).
public func matchedRandomSets(for set: [Intervention.Neuron], count: Int, width: Int, excluding excluded: Set<Intervention.Neuron>,
                              seed: UInt64) throws -> [[Intervention.Neuron]] {
    let perLayer = Dictionary(grouping: set, by: \.layer).mapValues(\.count)
    var rng = SeededRandom(seed: seed)
    return try (0..<count).map { _ in
        try perLayer.keys.sorted().flatMap { layer -> [Intervention.Neuron] in
            let pool = (0..<width).map { Intervention.Neuron(layer: layer, neuron: $0) }.filter { !excluded.contains($0) }
            guard pool.count >= perLayer[layer]! else {
                throw InterventionError.missing("more neurons in layer \(layer): \(perLayer[layer]!) random neurons are needed but only \(pool.count) are outside the selection")
            }
            return Array(rng.shuffled(pool).prefix(perLayer[layer]!)).sorted { $0.neuron < $1.neuron }
        }
    }
}

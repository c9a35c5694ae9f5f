import Foundation
import JSON
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
    /// For `mean` and `noise`: the share of the way from the activation to its replacement, in [0, 1]
    /// (nil: 1, all the way). Mean: a + share·(m − a); noise: a + share·ε·σ·strength. A served knob's
    /// strength (docs/serve.md).
    public var share: Double?

    public enum Scope: String, Codable, Sendable { case all, last }

    public init(mode: Mode, strength: Double = 0, neurons: [Neuron], values: [Double]? = nil, sigmas: [Double]? = nil,
                seed: UInt64 = 0, scope: Scope? = nil, share: Double? = nil) {
        self.scope = scope
        self.share = share
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
        if mode == .mean && values?.count != neurons.count {
            throw InterventionError.missing("values (one training mean per neuron)")
        }
        if mode == .noise && sigmas?.count != neurons.count {
            throw InterventionError.missing("sigmas (one standard deviation per neuron)")
        }
        if !strength.isFinite { throw InterventionError.missing("a finite strength") }
        if let share, !(0...1).contains(share) { throw InterventionError.missing("a share from 0 to 1") }
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
                hooks.add(HookName.mlpSite(layer), .replace(rows: chosen, columns: columns,
                                                            values: [Float](repeating: 0, count: columns.count)))
            case .mean where share != nil && share != 1:
                // a + s·(m − a) = (1 − s)·a + s·m
                let s = share!
                hooks.add(HookName.mlpSite(layer), .affine(rows: chosen, columns: columns,
                                                           scale: [Float](repeating: Float(1 - s), count: columns.count),
                                                           shift: Tensor(shape: [1, columns.count],
                                                                         scalars: indices.map { Float(s * values![$0]) })))
            case .mean:
                hooks.add(HookName.mlpSite(layer), .replace(rows: chosen, columns: columns,
                                                            values: indices.map { Float(values![$0]) }))
            case .noise:
                var shift = Tensor(shape: [rows, columns.count])
                let s = share ?? 1
                for r in 0..<rows { for (j, i) in indices.enumerated() {
                    shift.scalars[r * columns.count + j] = Float(rng.nextGaussian() * strength * sigmas![i] * s)
                } }
                hooks.add(HookName.mlpSite(layer), .affine(rows: chosen, columns: columns,
                                                           scale: [Float](repeating: 1, count: columns.count),
                                                           shift: shift))
            case .amplify:
                hooks.add(HookName.mlpSite(layer), .scale(rows: chosen, columns: columns, by: Float(strength)))
            }
        }
        return hooks
    }

    /// Reads an intervention file. Every refusal says where in the file the problem is, in words (never
    /// Foundation's raw `DecodingError`), and what an intervention looks like.
    public static func load(_ url: URL) throws -> Intervention {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw InterventionError.unreadable(url.path, "the file does not exist or cannot be read")
        }
        func refuse(_ reason: String) -> InterventionError {
            .unreadable(url.path, "it is not an intervention: \(reason). Expected a JSON object "
                        + "{\"mode\": zero|mean|noise|amplify, \"strength\": number, "
                        + "\"neurons\": [{\"layer\": int, \"neuron\": int}, …], \"values\"?: [number], "
                        + "\"sigmas\"?: [number], \"seed\": int, \"scope\"?: all|last}, as `ablate` writes it")
        }
        // The strict parser first: it names the byte where the JSON breaks, which JSONDecoder does not.
        let json: JSONValue
        do { json = try data.withUnsafeBytes { try StrictJSONParser.parse($0, rejectDuplicateKeys: false) } } catch {
            throw refuse("it is not valid JSON (\(error))")
        }
        do { return try JSONDecoder().decode(Intervention.self, from: data) } catch let error as DecodingError {
            throw refuse(describe(error, json))
        } catch {
            throw refuse("\(error)")
        }
    }

    /// A decoding failure in words: the key path, and what the value should be.
    static func describe(_ error: DecodingError, _ json: JSONValue) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            keys.reduce("") { text, key in
                key.intValue.map { text + "[\($0)]" } ?? (text.isEmpty ? "" : text + ".") + key.stringValue
            }
        }
        func expected(_ type: Any.Type) -> String {
            switch type {
            case is Int.Type: "an integer"
            case is UInt64.Type: "an integer from 0 to \(UInt64.max)"
            case is Double.Type: "a number"
            case is String.Type, is Mode.Type, is Scope.Type: "a string"
            case is [Neuron].Type, is [Double].Type: "a list"
            default: "an object"
            }
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "'\(path(context.codingPath + [key]))' is missing"
        case .valueNotFound(let type, let context):
            return "'\(path(context.codingPath))' is null; it must be \(expected(type))"
        case .typeMismatch(let type, let context):
            let at = path(context.codingPath)
            if at.isEmpty { return "the file holds \(describe(json)), not an object" }
            return "'\(at)' must be \(expected(type)), not \(describe(json, at: context.codingPath))"
        case .dataCorrupted(let context) where context.codingPath.last?.stringValue == "mode":
            let modes = Mode.allCases.map(\.rawValue).joined(separator: ", ")
            return "'mode' must be one of \(modes), not \(describe(json, at: context.codingPath))"
        case .dataCorrupted(let context) where context.codingPath.last?.stringValue == "scope":
            return "'scope' must be all or last, not \(describe(json, at: context.codingPath))"
        case .dataCorrupted(let context) where !context.codingPath.isEmpty:
            return "'\(path(context.codingPath))' is invalid (\(context.debugDescription))"
        case .dataCorrupted:
            // Foundation reports a number that does not fit its field as "not valid JSON", without a place: find it.
            return outOfRange(json) ?? "a value does not fit its field"
        @unknown default:
            return "\(error)"
        }
    }

    /// The value at `path` in a few words, for error messages.
    static func describe(_ json: JSONValue, at path: [any CodingKey] = []) -> String {
        var value: JSONValue? = json
        for key in path {
            if let index = key.intValue, case .array(let items)? = value {
                value = items.indices.contains(index) ? items[index] : nil
            } else {
                value = value?[key.stringValue]
            }
        }
        switch value {
        case .null?, nil: return "null"
        case .bool(let b)?: return "\(b)"
        case .integer(let i)?: return "\(i)"
        case .number(let n)?: return "\(n)"
        case .string(let s)?: return "\"\(s.prefix(40))\(s.count > 40 ? "…" : "")\""
        case .array?: return "a list"
        case .object?: return "an object"
        }
    }

    /// The first number that JSONDecoder cannot store in its field (an integer field given a fraction or a
    /// number beyond 64 bits, a negative seed, a number beyond Double's range), named by its path.
    static func outOfRange(_ json: JSONValue) -> String? {
        func integer(_ value: JSONValue?, _ name: String, unsigned: Bool = false) -> String? {
            switch value {
            case .number(let n)?: return "'\(name)' must be an integer, not \(n)"
            case .integer(let i)? where unsigned && i < 0:
                return "'\(name)' must be an integer from 0 to \(UInt64.max), not \(i)"
            default: return nil
            }
        }
        func finite(_ value: JSONValue?, _ name: String) -> String? {
            if case .number(let n)? = value, !n.isFinite { return "'\(name)' is beyond the range of a number" }
            return nil
        }
        if let problem = integer(json["seed"], "seed", unsigned: true) ?? finite(json["strength"], "strength") {
            return problem
        }
        if case .array(let neurons)? = json["neurons"] {
            for (i, n) in neurons.enumerated() {
                let name = "neurons[\(i)]"
                if let problem = integer(n["layer"], name + ".layer") ?? integer(n["neuron"], name + ".neuron") {
                    return problem
                }
            }
        }
        for key in ["values", "sigmas"] {
            guard case .array(let items)? = json[key] else { continue }
            for (i, item) in items.enumerated() { if let problem = finite(item, "\(key)[\(i)]") { return problem } }
        }
        return nil
    }
}

public enum InterventionError: Error, CustomStringConvertible, Equatable {
    case noSuchNeuron(layer: Int, neuron: Int, layers: Int, width: Int)
    case missing(String)
    case unreadable(String, String)
    case nonFinite(example: Int, intervention: Intervention?)

    public var description: String {
        switch self {
        case .noSuchNeuron(let l, let n, let layers, let width):
            return "the intervention names neuron \(n) of layer \(l), " +
                "but the model has layers 0–\(layers - 1) of \(width) neurons each"
        case .missing(let what): return "the intervention needs \(what)"
        case .unreadable(let path, let why): return "\(path): \(why)"
        case .nonFinite(let example, let intervention):
            let what = intervention.map {
                "under \($0.mode.rawValue) of \($0.neurons.count) neurons (strength \($0.strength))"
            } ?? "without an intervention"
            return "ablate: the outputs for evaluated example \(example) are NaN or infinite \(what), first layer "
                + "\(intervention?.firstLayer.map(String.init) ?? "–"): the activations overflow Float32. "
                + "Lower the strength, or check the checkpoint."
        }
    }
}

/// Random neuron sets matched to `set`: each has exactly as many neurons in every layer as `set`, drawn
/// uniformly (seeded) from that layer's neurons outside `excluded` (which should include `set`).
public func matchedRandomSets(for set: [Intervention.Neuron], count: Int, width: Int,
                              excluding excluded: Set<Intervention.Neuron>,
                              seed: UInt64) throws -> [[Intervention.Neuron]] {
    let perLayer = Dictionary(grouping: set, by: \.layer).mapValues(\.count)
    var rng = SeededRandom(seed: seed)
    return try (0..<count).map { _ in
        try perLayer.keys.sorted().flatMap { layer -> [Intervention.Neuron] in
            let pool = (0..<width).map { Intervention.Neuron(layer: layer, neuron: $0) }
                .filter { !excluded.contains($0) }
            guard pool.count >= perLayer[layer]! else {
                throw InterventionError.missing("more neurons in layer \(layer): \(perLayer[layer]!) " +
                                                "random neurons are needed but only \(pool.count) " +
                                                "are outside the selection")
            }
            return Array(rng.shuffled(pool).prefix(perLayer[layer]!)).sorted { $0.neuron < $1.neuron }
        }
    }
}

/// Nested random sets matched to nested top sets (`tops[k]`, each a prefix of the next): the r-th draw
/// orders each layer's neurons outside `excluded` at random, and its set for k takes, in every layer, as
/// many of that order's first neurons as `tops[k]` has there. So random set r of size k is inside random
/// set r of every larger size, as the top k is inside every larger top set, and a sweep over k follows
/// each random draw as it follows the ranking. Returns, for each k, the `count` sets.
public func nestedMatchedRandomSets(for tops: [Int: [Intervention.Neuron]], count: Int, width: Int,
                                    excluding excluded: Set<Intervention.Neuron>,
                                    seed: (Int) -> UInt64) throws -> [Int: [[Intervention.Neuron]]] {
    let counts = tops.mapValues { Dictionary(grouping: $0, by: \.layer).mapValues(\.count) }
    let layers = Set(counts.values.flatMap(\.keys)).sorted()
    var sets = tops.mapValues { _ in [[Intervention.Neuron]]() }
    for r in 0..<count {
        var rng = SeededRandom(seed: seed(r))
        var orders: [Int: [Intervention.Neuron]] = [:]
        for layer in layers {
            let pool = (0..<width).map { Intervention.Neuron(layer: layer, neuron: $0) }
                .filter { !excluded.contains($0) }
            let needed = counts.values.map { $0[layer] ?? 0 }.max() ?? 0
            guard pool.count >= needed else {
                throw InterventionError.missing("more neurons in layer \(layer): \(needed) random neurons are " +
                                                "needed but only \(pool.count) are outside the selection")
            }
            orders[layer] = rng.shuffled(pool)
        }
        for (k, perLayer) in counts {
            sets[k]!.append(perLayer.keys.sorted().flatMap { layer in
                orders[layer]!.prefix(perLayer[layer]!).sorted { $0.neuron < $1.neuron }
            })
        }
    }
    return sets
}

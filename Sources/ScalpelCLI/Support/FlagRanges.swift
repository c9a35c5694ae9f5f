import ArgumentParser
import Scalpel

/// The commands' numeric flags are checked against the same `Bounds` as the recipe's keys, before any
/// work starts. Their flags parse `.unconditional`ly, so `--top -1` reaches the check and is answered
/// with the range rather than "Missing value".
extension Bounds {
    /// Throws a usage error naming the flag, its value and the range.
    func check(_ flag: String, _ value: Double, limits: ModelLimits? = nil) throws {
        if let problem = problem(value, limits: limits) { throw ValidationError("--\(flag) \(problem)") }
    }

    func check(_ flag: String, _ value: Int, limits: ModelLimits? = nil) throws {
        try check(flag, Double(value), limits: limits)
    }
}

extension LoadedModel {
    /// The model's figures that flags refer to (neurons per layer, layers).
    var limits: ModelLimits { ModelLimits(layers: model.layers, ffnWidth: model.ffnWidth) }
}

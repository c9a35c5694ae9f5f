/// What goes wrong collecting activations and reading them back: a non-finite activation, a missing metric,
/// a damaged evidence archive, a missing or too small activation store, shards that do not merge, a plan
/// that cannot run (also thrown by rank, ablate and edit). A file that cannot be read as an activation
/// store at all is an `ActivationStoreError`, thrown by `ActivationStoreReader`.
public enum CollectError: Error, CustomStringConvertible, Equatable {
    case nanActivation(example: String, layer: Int, neuron: Int, position: String)
    case missingMetric(metric: String, count: Int, examples: [String])
    case corruptStore(path: String, detail: String)
    case incompatibleShards(detail: String)
    case badPlan(path: String, detail: String)

    public var description: String {
        switch self {
        case .nanActivation(let example, let layer, let neuron, let position):
            return "the activation of layer \(layer), neuron \(neuron) at position '\(position)' is NaN or infinite " +
                "for \(example); the model or the soft prompt has diverged " +
                "(retune the prompt with a lower learning rate) or the checkpoint is damaged"
        case .missingMetric(let metric, let count, let examples):
            return "metric '\(metric)' has no value for \(count) examples " +
                "(\(examples.prefix(5).joined(separator: ", "))\(count > 5 ? ", …" : "")); " +
                "fix those rows, set data.skip_incomplete: true if a field is empty, or drop the metric"
        case .corruptStore(let path, let detail): return "\(path): \(detail)"
        case .incompatibleShards(let detail): return "the shards cannot be merged: \(detail)"
        case .badPlan(let path, let detail): return "\(path): \(detail)"
        }
    }
}

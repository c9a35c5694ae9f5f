import Autodiff
import TensorCore

/// Keys and values of earlier positions, per layer, for incremental decoding of one sequence.
/// - keys, values per layer: [S, G·D], growing by the new positions at every step
public final class KVCache {
    private var keys: [Tensor?]
    private var values: [Tensor?]

    public init(layers: Int) {
        keys = [Tensor?](repeating: nil, count: layers)
        values = keys
    }

    /// Positions already cached (the offset of the next token).
    public var count: Int { keys.first??.shape.first ?? 0 }

    func length(layer: Int) -> Int { keys[layer]?.shape[0] ?? 0 }

    /// Appends the new positions' keys and values and returns all of them (as inputs without gradient).
    func append(layer: Int, keys newKeys: Variable, values newValues: Variable) -> (Variable, Variable) {
        func joined(_ old: Tensor?, _ new: Tensor) -> Tensor {
            guard let old else { return new.reshaped([new.shape[0], new.count / max(new.shape[0], 1)]) }
            return Tensor(shape: [old.shape[0] + new.shape[0], old.shape[1]], scalars: old.scalars + new.scalars)
        }
        keys[layer] = joined(keys[layer], newKeys.value)
        values[layer] = joined(values[layer], newValues.value)
        return (Variable(keys[layer]!), Variable(values[layer]!))
    }
}

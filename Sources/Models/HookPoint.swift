import Autodiff
import TensorCore

/// Dotted names of the places in a model where activations can be read or changed, made by one function
/// each so that no name is ever spelled out twice (TransformerLens's `get_act_name` idea).
public enum HookName {
    /// The FFN neuron site, the input of W_down: act(gate)·up (gated MLPs) or act(W_in x + b)
    /// (GPT-2, NeoX, BERT). [N, F]
    public static func mlpSite(_ layer: Int) -> String { "blocks.\(layer).mlp.site" }
    /// The residual stream entering block `layer`. [N, C]
    public static func residPre(_ layer: Int) -> String { "blocks.\(layer).resid.pre" }
    /// The residual stream leaving block `layer`. [N, C]
    public static func residPost(_ layer: Int) -> String { "blocks.\(layer).resid.post" }
    /// The attention block's output before it joins the residual stream. [N, C]
    public static func attentionOut(_ layer: Int) -> String { "blocks.\(layer).attn.out" }
    /// The FFN block's output before it joins the residual stream. [N, C]
    public static func mlpOut(_ layer: Int) -> String { "blocks.\(layer).mlp.out" }
    /// The token (plus position) embeddings entering block 0. [N, C]
    public static let embeddings = "embed.out"
    /// The final norm's output, the input of the LM head. [N, C]
    public static let finalNorm = "ln_final.out"
}

/// What a hook does at its point. Rows are flat positions (b·T + t) of the [N, width] activation;
/// columns are neurons or channels. nil means all.
public enum HookAction {
    /// Reads the activation (a copy of the rows × columns selected, row-major) without changing it.
    case read(rows: [Int]?, columns: [Int]?, (Tensor) -> Void)
    /// y = scale · x + shift on the selected entries; the rest pass through bit for bit.
    /// - scale: one factor per selected column (zero, mean and noise ablations use 0; amplification s).
    /// - shift: [selected rows or 1, selected columns], broadcast over rows when it has one row; nil is 0.
    case affine(rows: [Int]?, columns: [Int]?, scale: [Float], shift: Tensor?)
    /// Hands over the activation itself, inside the autodiff graph, so that a loss can be built on it
    /// (editing objectives that act on neuron activations).
    case capture((Variable) -> Void)

    /// Sets the selected entries to `values` (one per column). Zero ablation is `replace(…, values: 0s)`.
    public static func replace(rows: [Int]?, columns: [Int], values: [Float]) -> HookAction {
        .affine(rows: rows, columns: columns, scale: [Float](repeating: 0, count: columns.count),
                shift: Tensor(shape: [1, columns.count], scalars: values))
    }

    /// Multiplies the selected entries by `factor`.
    public static func scale(rows: [Int]?, columns: [Int], by factor: Float) -> HookAction {
        .affine(rows: rows, columns: columns, scale: [Float](repeating: factor, count: columns.count), shift: nil)
    }

    /// Adds `values` (one per column) to the selected entries.
    public static func add(rows: [Int]?, columns: [Int], values: [Float]) -> HookAction {
        .affine(rows: rows, columns: columns, scale: [Float](repeating: 1, count: columns.count),
                shift: Tensor(shape: [1, columns.count], scalars: values))
    }
}

/// The hooks attached for one forward pass, by hook name. With none attached, a hook point is one lookup
/// in an empty dictionary.
public struct HookSet {
    private var actions: [String: [HookAction]] = [:]

    public init() {}

    public var isEmpty: Bool { actions.isEmpty }

    public mutating func add(_ name: String, _ action: HookAction) { actions[name, default: []].append(action) }

    /// Adds every hook of `other` after this set's own, point by point.
    public mutating func add(contentsOf other: HookSet) {
        for (name, list) in other.actions { actions[name, default: []].append(contentsOf: list) }
    }

    /// Hands the activation at `name` (the chosen rows and columns, or all) to `sink` each time the forward passes it.
    public mutating func collect(_ name: String, rows: [Int]? = nil, columns: [Int]? = nil,
                                 into sink: @escaping (Tensor) -> Void) {
        add(name, .read(rows: rows, columns: columns, sink))
    }

    /// Runs the hooks of `name` on `x` (shape [..., width]), in the order they were added.
    public func apply(_ name: String, _ x: Variable) -> Variable {
        guard let list = actions[name] else { return x }
        var current = x
        for action in list {
            switch action {
            case .read(let rows, let columns, let sink): sink(select(current.value, rows, columns))
            case .capture(let sink): sink(current)
            case .affine(let rows, let columns, let scale, let shift):
                current = affineEdit(current, rows: rows, columns: columns, scale: scale, shift: shift)
            }
        }
        return current
    }

    private func select(_ x: Tensor, _ rows: [Int]?, _ columns: [Int]?) -> Tensor {
        let width = x.shape.last ?? 1
        let n = x.count / max(width, 1)
        if rows == nil && columns == nil { return x.reshaped([n, width]) }
        let r = rows ?? Array(0..<n), c = columns ?? Array(0..<width)
        var out = [Float](repeating: 0, count: r.count * c.count)
        x.withPointer { p in
            for (i, row) in r.enumerated() {
                for (j, column) in c.enumerated() { out[i * c.count + j] = p[row * width + column] }
            }
        }
        return Tensor(shape: [r.count, c.count], scalars: out)
    }
}

/// y = scale·x + shift on the selected entries of the [N, width] activation; the gradient is scale there
/// and 1 elsewhere. A factor of exactly 1 with no shift leaves the bits unchanged.
func affineEdit(_ x: Variable, rows: [Int]?, columns: [Int]?, scale: [Float], shift: Tensor?) -> Variable {
    let width = x.shape.last ?? 1
    let n = x.value.count / max(width, 1)
    let r = rows ?? Array(0..<n), c = columns ?? Array(0..<width)
    precondition(scale.count == c.count, "hook edit: \(scale.count) factors for \(c.count) columns")
    if let shift {
        precondition(shift.shape == [r.count, c.count] || shift.shape == [1, c.count],
                     "hook edit: shift \(shift.shape) does not fit \(r.count)×\(c.count)")
    }
    var y = x.value
    y.withMutablePointer { out in
        for (i, row) in r.enumerated() {
            precondition(row >= 0 && row < n, "hook edit: row \(row) outside 0..<\(n)")
            for (j, column) in c.enumerated() {
                precondition(column >= 0 && column < width, "hook edit: column \(column) outside 0..<\(width)")
                let index = row * width + column
                var value = out[index]
                if scale[j] != 1 { value *= scale[j] }
                if let shift { value += shift.scalars[(shift.shape[0] == 1 ? 0 : i) * c.count + j] }
                out[index] = value
            }
        }
    }
    return Variable(result: y, parents: [x]) { dy in
        x.accumulateGradient("hook edit") { dx in
            dy.withPointer { d in
                for i in 0..<dy.count { dx[i] += d[i] }
                for row in r {
                    for (j, column) in c.enumerated() {
                        dx[row * width + column] += d[row * width + column] * (scale[j] - 1)
                    }
                }
            }
        }
    }
}

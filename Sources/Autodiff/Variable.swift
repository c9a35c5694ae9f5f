import TensorCore

/// A node of the reverse-mode graph: a value, its gradient, and the closure that sends that gradient
/// to the node's parents (micrograd's shape; the closures call TensorCore's backward kernels).
///
/// The graph is recorded only where it is needed: an op whose inputs all have `requiresGrad == false`
/// keeps no parents and no closure, so inference builds no tape and costs nothing extra.
///
/// Gradients come in two forms:
/// - `grad`, dense, with the value's shape: every intermediate node and every unmasked parameter;
/// - `maskedGrad`, packed as [k, slice] for a parameter with a `GradientMask`: slice j is the gradient
///   of the j-th selected row (or column). No dense gradient is ever allocated for such a parameter,
///   and ops that cannot produce packed gradients refuse masked inputs.
public final class Variable {
    public var value: Tensor
    public let requiresGrad: Bool
    public var name: String?
    /// Restricts this parameter's gradient to chosen rows or columns. Set only on leaves.
    public let mask: GradientMask?
    /// Dense gradient, shape of `value`; nil until something flows in (and always nil when masked).
    public var grad: Tensor?
    /// Packed gradient [k, slice] of the masked slices; nil until something flows in.
    public var maskedGrad: Tensor?
    /// A weight kept in its file's encoding (a quantized GGUF tensor). `value` then holds only the
    /// trainable slices, packed [k, slice] like the gradient (empty when the weight is frozen), and the
    /// products decode the rest a panel at a time (`decodePanel`).
    public let encoded: (any EncodedMatrix)?

    let parents: [Variable]
    /// Receives this node's gradient and accumulates into the parents' gradients.
    var backwardClosure: ((Tensor) -> Void)?

    public var shape: [Int] { encoded?.shape ?? value.shape }

    /// A leaf: an input (`requiresGrad: false`) or a dense trainable parameter.
    public init(_ value: Tensor, requiresGrad: Bool = false, name: String? = nil) {
        self.value = value
        self.requiresGrad = requiresGrad
        self.name = name
        self.mask = nil
        self.encoded = nil
        self.parents = []
    }

    /// A weight left in its encoding: frozen without a mask; with one, its selected rows or columns are
    /// decoded once into `value` ([k, slice]) and train there.
    public init(encoded matrix: any EncodedMatrix, mask: GradientMask?, name: String) throws(GradientMaskError) {
        if let mask, mask.parameterShape != matrix.shape {
            throw .shapeMismatch(parameter: name, maskShape: mask.parameterShape, parameterShape: matrix.shape)
        }
        self.encoded = matrix
        self.mask = mask
        self.requiresGrad = mask != nil
        self.name = name
        self.parents = []
        self.value = Tensor(shape: [0])
        if let mask { self.value = Self.decodeSlices(matrix, mask) }
    }

    /// A trainable leaf whose gradient exists only for the slices `mask` names.
    public init(_ value: Tensor, mask: GradientMask, name: String? = nil) throws(GradientMaskError) {
        guard mask.parameterShape == value.shape else {
            throw .shapeMismatch(parameter: name ?? mask.parameter, maskShape: mask.parameterShape,
                                 parameterShape: value.shape)
        }
        self.value = value
        self.requiresGrad = true
        self.name = name ?? mask.parameter
        self.mask = mask
        self.encoded = nil
        self.parents = []
    }

    /// An op's result. The closure is kept only if some parent needs a gradient.
    public init(result value: Tensor, parents: [Variable], backward: @escaping (Tensor) -> Void) {
        self.value = value
        self.requiresGrad = parents.contains { $0.requiresGrad }
        self.name = nil
        self.mask = nil
        self.encoded = nil
        self.parents = requiresGrad ? parents : []
        self.backwardClosure = requiresGrad ? backward : nil
    }

    // MARK: - Gradient accumulation, used by ops

    /// Runs `body` on this node's dense gradient buffer, allocating it as zeros on first use.
    /// Only for nodes that need a gradient and carry no mask.
    public func accumulateGradient(_ op: StaticString, _ body: (UnsafeMutablePointer<Float>) -> Void) {
        precondition(mask == nil, "\(op) cannot form a packed gradient for masked parameter '\(name ?? "?")'; " +
                     "mask only linear weights and biases")
        if grad == nil { grad = Tensor(shape: value.shape) }
        grad!.withMutablePointer(body)
    }

    /// Like `accumulateGradient`, but a gradient buffer allocated by this call is left uninitialised and
    /// `body` is told so (`fresh`): a kernel that can overwrite instead of add (an sgemm with beta = 0) then
    /// skips both the zeroing and the read of zeros.
    public func accumulateGradient(_ op: StaticString,
                                   allowingOverwrite body: (UnsafeMutablePointer<Float>, _ fresh: Bool) -> Void) {
        precondition(mask == nil, "\(op) cannot form a packed gradient for masked parameter '\(name ?? "?")'; " +
                     "mask only linear weights and biases")
        let fresh = grad == nil
        if fresh { grad = Tensor(uninitializedShape: value.shape) }
        grad!.withMutablePointer { body($0, fresh) }
    }

    /// Runs `body` on the packed [k, slice] gradient of a masked parameter, allocating it on first use.
    public func accumulateMaskedGradient(_ body: (UnsafeMutablePointer<Float>, GradientMask) -> Void) {
        guard let mask else { preconditionFailure("accumulateMaskedGradient on unmasked '\(name ?? "?")'") }
        if maskedGrad == nil { maskedGrad = Tensor(shape: mask.packedShape) }
        if mask.indices.isEmpty { return }
        maskedGrad!.withMutablePointer { body($0, mask) }
    }

    /// Clears both gradient forms (zeroing is a separate step from accumulation, as in llm.c).
    public func zeroGradient() {
        grad = nil
        maskedGrad = nil
    }

    // MARK: - Backward

    /// Back-propagates from this node. `seed` is dL/d(self); it defaults to ones (for a scalar loss, 1).
    /// The graph is consumed: intermediate closures and gradients are released as it goes, as in PyTorch;
    /// leaves (inputs and parameters) keep their gradients.
    public func backward(seed: Tensor? = nil) {
        precondition(requiresGrad, "backward() on a value that depends on no trainable variable")
        let order = topologicalOrder()
        let start = seed ?? Tensor(shape: value.shape, repeating: 1)
        precondition(start.shape == value.shape, "backward: seed shape \(start.shape) differs from \(value.shape)")
        if grad == nil { grad = start } else { grad!.add(start) }
        for node in order.reversed() {
            guard let closure = node.backwardClosure else { continue }
            if let gradient = node.grad { closure(gradient) }
            node.backwardClosure = nil
            // An intermediate's gradient has been passed on: free it now, not at the end, so a backward
            // through a deep model holds one layer's gradients at a time (PyTorch frees them the same way).
            if node !== self { node.grad = nil }
        }
    }

    /// Parents before children, found by an iterative depth-first search (graphs can be deep).
    func topologicalOrder() -> [Variable] {
        var order: [Variable] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(Variable, Int)] = [(self, 0)]
        visited.insert(ObjectIdentifier(self))
        while let (node, next) = stack.popLast() {
            if next < node.parents.count {
                stack.append((node, next + 1))
                let parent = node.parents[next]
                if parent.requiresGrad && visited.insert(ObjectIdentifier(parent)).inserted {
                    stack.append((parent, 0))
                }
            } else {
                order.append(node)
            }
        }
        return order
    }
}

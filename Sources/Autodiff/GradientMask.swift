import TensorCore

/// Names the rows or the columns of one parameter whose gradient is kept; the rest are frozen.
///
/// This is how Scalpel trains only a few neurons: neuron i of layer l owns row i of W_gate and W_up,
/// column i of W_down (weights are stored [out, in]), and entry i of the up/gate biases where a model
/// has them. A rank-1 parameter (a bias) is masked by `.rows`, one entry per "row".
///
/// The gradient of a masked parameter is packed as [k, slice]: slice j holds the gradient of row
/// `indices[j]` (slice = the row length) or of column `indices[j]` (slice = the column length).
public struct GradientMask: Sendable, Equatable, Codable {
    public enum Axis: String, Sendable, Codable { case rows, columns }

    public let parameter: String
    public let parameterShape: [Int]
    public let axis: Axis
    /// Selected rows or columns, ascending and distinct.
    public let indices: [Int]

    /// - Throws: `GradientMaskError` if the parameter is not a vector or matrix, a column mask is put on a
    ///   vector, or an index does not exist; the error names the parameter and the bad index.
    public init(parameter: String, shape: [Int], axis: Axis, indices: [Int]) throws(GradientMaskError) {
        guard shape.count == 1 || shape.count == 2 else {
            throw .unsupportedRank(parameter: parameter, shape: shape)
        }
        if axis == .columns && shape.count == 1 {
            throw .unsupportedRank(parameter: parameter, shape: shape)
        }
        let size = axis == .rows ? shape[0] : shape[1]
        for index in indices where index < 0 || index >= size {
            throw .indexOutOfRange(parameter: parameter, axis: axis, index: index, size: size)
        }
        self.parameter = parameter
        self.parameterShape = shape
        self.axis = axis
        self.indices = Array(Set(indices)).sorted()
    }

    /// Length of one selected slice: the row length for rows, the column length for columns.
    public var sliceLength: Int {
        if parameterShape.count == 1 { return 1 }
        return axis == .rows ? parameterShape[1] : parameterShape[0]
    }

    /// Shape of the packed gradient and of the optimizer state: [k, slice].
    public var packedShape: [Int] { [indices.count, sliceLength] }

    /// Flat offset in the parameter of element e of selected slice j, and the stride between elements.
    @inlinable
    public func slice(_ j: Int) -> (start: Int, stride: Int) {
        let index = indices[j]
        if parameterShape.count == 1 { return (index, 1) }
        return axis == .rows ? (index * parameterShape[1], 1) : (index, parameterShape[1])
    }

    /// Whether the flat element `offset` of the parameter is masked in (used by tests and audits).
    public func contains(flatOffset offset: Int) -> Bool {
        if parameterShape.count == 1 { return indices.contains(offset) }
        let index = axis == .rows ? offset / parameterShape[1] : offset % parameterShape[1]
        return indices.contains(index)
    }
}

public enum GradientMaskError: Error, Equatable, CustomStringConvertible {
    case unknownParameter(name: String, known: [String])
    case indexOutOfRange(parameter: String, axis: GradientMask.Axis, index: Int, size: Int)
    case unsupportedRank(parameter: String, shape: [Int])
    case shapeMismatch(parameter: String, maskShape: [Int], parameterShape: [Int])
    case layerOutOfRange(layer: Int, layers: Int)

    public var description: String {
        switch self {
        case .unknownParameter(let name, let known):
            let sample = known.sorted().prefix(6).joined(separator: ", ")
            return "the mask names parameter '\(name)', which the model does not have " +
                "(it has \(known.count) parameters, e.g. \(sample)). " +
                "Check the layer number and the model."
        case .indexOutOfRange(let parameter, let axis, let index, let size):
            let unit = axis == .rows ? "row" : "column"
            return "the mask names \(unit) \(index) of '\(parameter)', which has only \(size) \(unit)s " +
                "(valid: 0..<\(size)). Check the neuron ids against the model's FFN width."
        case .unsupportedRank(let parameter, let shape):
            return "cannot mask '\(parameter)' of shape \(shape): " +
                "masks select rows or columns of matrices, or entries of vectors."
        case .shapeMismatch(let parameter, let maskShape, let parameterShape):
            return "the mask for '\(parameter)' was built for shape \(maskShape), " +
                "but the parameter has shape \(parameterShape)."
        case .layerOutOfRange(let layer, let layers):
            return "the mask names layer \(layer), but the model has \(layers) layers (valid: 0..<\(layers))."
        }
    }
}

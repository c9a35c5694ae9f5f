import Autodiff
import TensorCore

/// The trainable elements of one parameter as the optimizers see them: either every element (dense),
/// or the selected rows/columns of a masked parameter, packed as [k, slice] like its gradient.
///
/// Optimizer state is laid out the same way, so a masked parameter costs state in proportion to its
/// selection, and elements outside the mask are never read, decayed or written.
struct ParameterSlices {
    let variable: Variable

    /// Number of trainable elements (the size of each optimizer state buffer).
    var count: Int {
        if let mask = variable.mask { return mask.indices.count * mask.sliceLength }
        return variable.value.count
    }

    /// The gradient in packed order, or nil if no gradient has flowed in since the last zeroing.
    var gradient: Tensor? { variable.mask == nil ? variable.grad : variable.maskedGrad }

    /// Calls `update(p, g, i)` for every trainable element: p is the parameter element (inout), g its
    /// gradient and i its index in the packed state.
    func forEach(_ gradient: Tensor, _ update: (inout Float, Float, Int) -> Void) {
        let mask = variable.mask, total = variable.value.count
        gradient.withPointer { g in
            variable.value.withMutablePointer { p in
                guard let mask else {
                    for i in 0..<total { update(&p[i], g[i], i) }
                    return
                }
                let length = mask.sliceLength
                if variable.encoded != nil {
                    // An encoded weight keeps its trainable slices packed, in the gradient's own order.
                    for packed in 0..<(mask.indices.count * length) { update(&p[packed], g[packed], packed) }
                    return
                }
                for j in 0..<mask.indices.count {
                    let (start, stride) = mask.slice(j)
                    for e in 0..<length {
                        let packed = j * length + e
                        update(&p[start + e * stride], g[packed], packed)
                    }
                }
            }
        }
    }
}

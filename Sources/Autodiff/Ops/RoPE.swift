import TensorCore

/// Rotary position embedding of every head. - x: [N, H·D] or [B, T, H, D] with N = B·T rows → same shape
public func rope(_ x: Variable, table: RoPETable, layout: RoPELayout, heads: Int, headDim: Int) -> Variable {
    precondition(x.value.count == table.positions.count * heads * headDim,
                 "rope: input \(x.shape) is not \(table.positions.count) positions × \(heads) heads × \(headDim)")
    var y = Tensor(uninitializedShape: x.shape)   // ropeForward writes every element
    y.withMutablePointer { out in
        x.value.withPointer {
            ropeForward(layout, output: out, input: $0, table: table, heads: heads, headDim: headDim)
        }
    }
    return Variable(result: y, parents: [x]) { dy in
        x.accumulateGradient("rope") { dx in
            dy.withPointer {
                ropeBackward(layout, dInput: dx, dOutput: $0, table: table, heads: heads, headDim: headDim)
            }
        }
    }
}

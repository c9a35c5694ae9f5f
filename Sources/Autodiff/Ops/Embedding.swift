import TensorCore

/// Rows of `table` picked by token id.
/// - table: [V, C]; ids: N ids in 0..<V → [N, C]
public func embedding(_ table: Variable, ids: [Int32]) -> Variable {
    let (v, c) = (table.shape[0], table.shape[1])
    var out = Tensor(shape: [ids.count, c])
    out.withMutablePointer { o in
        table.value.withPointer { t in embeddingForward(output: o, table: t, ids: ids, vocabulary: v, channels: c) }
    }
    return Variable(result: out, parents: [table]) { dy in
        table.accumulateGradient("embedding") { dTable in
            dy.withPointer { d in embeddingBackward(dTable: dTable, dOutput: d, ids: ids, channels: c) }
        }
    }
}

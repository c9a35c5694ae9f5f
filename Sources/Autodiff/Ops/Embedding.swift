import TensorCore

/// Rows of `table` picked by token id.
/// - table: [V, C]; ids: N ids in 0..<V → [N, C]
public func embedding(_ table: Variable, ids: [Int32]) -> Variable {
    let (v, c) = (table.shape[0], table.shape[1])
    var out = Tensor(shape: [ids.count, c])
    out.withMutablePointer { o in
        guard table.encoded == nil else {
            // An encoded table decodes only the rows asked for.
            let decode = table.panelDecoder
            for (n, id) in ids.enumerated() {
                precondition(id >= 0 && Int(id) < v, "embedding: token id \(id) outside vocabulary 0..<\(v)")
                decode(Int(id)..<(Int(id) + 1), 0..<c, o + n * c, c)
            }
            return
        }
        table.value.withPointer { t in embeddingForward(output: o, table: t, ids: ids, vocabulary: v, channels: c) }
    }
    return Variable(result: out, parents: [table]) { dy in
        table.accumulateGradient("embedding") { dTable in
            dy.withPointer { d in embeddingBackward(dTable: dTable, dOutput: d, ids: ids, channels: c) }
        }
    }
}

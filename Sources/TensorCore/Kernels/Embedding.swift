// ----------------------------------------------------------------------------------------------------
// Embedding lookup.
//
//   out[n, :] = table[ids[n], :]          backward: dTable[ids[n], :] += dOut[n, :]
//
// Ids are checked by the caller (the tokenizer and the model loader know the vocabulary); here an
// out-of-range id is a programming error.

/// - output: [N, C]; table: [V, C]; ids: N token ids in 0..<V
public func embeddingForward(
    output: UnsafeMutablePointer<Float>, table: UnsafePointer<Float>, ids: [Int32],
    vocabulary v: Int, channels c: Int
) {
    for (n, id) in ids.enumerated() {
        precondition(id >= 0 && Int(id) < v, "embedding: token id \(id) outside vocabulary 0..<\(v)")
        (output + n * c).update(from: table + Int(id) * c, count: c)
    }
}

/// - dTable: [V, C]; dOutput: [N, C]
public func embeddingBackward(
    dTable: UnsafeMutablePointer<Float>, dOutput: UnsafePointer<Float>, ids: [Int32], channels c: Int
) {
    for (n, id) in ids.enumerated() {
        let row = dTable + Int(id) * c
        let d = dOutput + n * c
        for j in 0..<c { row[j] += d[j] }
    }
}

import TensorCore

/// Rows of a matrix picked by index (a row may repeat). - x: [N, C] → [K, C] for K indices
/// Backward scatters: dx[rows[k]] += dy[k].
public func gatherRows(_ x: Variable, _ rows: [Int]) -> Variable {
    let c = x.shape.last ?? 1
    let n = x.value.count / max(c, 1)
    var out = Tensor(shape: [rows.count, c])
    out.withMutablePointer { o in
        x.value.withPointer { input in
            for (k, r) in rows.enumerated() {
                precondition(r >= 0 && r < n, "gatherRows: row \(r) outside 0..<\(n)")
                (o + k * c).update(from: input + r * c, count: c)
            }
        }
    }
    return Variable(result: out, parents: [x]) { dy in
        x.accumulateGradient("gatherRows") { dx in
            dy.withPointer { d in
                for (k, r) in rows.enumerated() { for j in 0..<c { dx[r * c + j] += d[k * c + j] } }
            }
        }
    }
}

/// A band of columns: how a fused projection ([Q; K; V], [gate; up]) is split after one product.
/// - x: [N, C] → [N, W] for `columns` = start..<start+W. Backward: dx[:, columns] += dy.
public func sliceColumns(_ x: Variable, _ columns: Range<Int>) -> Variable {
    let c = x.shape.last ?? 1
    let n = x.value.count / max(c, 1), w = columns.count
    precondition(columns.lowerBound >= 0 && columns.upperBound <= c, "sliceColumns: \(columns) outside 0..<\(c)")
    var out = Tensor(uninitializedShape: [n, w])
    out.withMutablePointer { o in
        x.value.withPointer { input in
            for r in 0..<n { (o + r * w).update(from: input + r * c + columns.lowerBound, count: w) }
        }
    }
    return Variable(result: out, parents: [x]) { dy in
        x.accumulateGradient("sliceColumns") { dx in
            dy.withPointer { d in
                for r in 0..<n { for j in 0..<w { dx[r * c + columns.lowerBound + j] += d[r * w + j] } }
            }
        }
    }
}

/// Matrices stacked along the rows. - parts: [Nᵢ, C] each → [ΣNᵢ, C]
public func concatRows(_ parts: [Variable]) -> Variable {
    let c = parts.first?.shape.last ?? 0
    precondition(parts.allSatisfy { $0.shape.last == c }, "concatRows: widths differ: \(parts.map(\.shape))")
    var scalars: [Float] = []
    scalars.reserveCapacity(parts.reduce(0) { $0 + $1.value.count })
    for p in parts { scalars.append(contentsOf: p.value.scalars) }
    let out = Tensor(shape: [scalars.count / max(c, 1), c], scalars: scalars)
    return Variable(result: out, parents: parts) { dy in
        var offset = 0
        for p in parts {
            let count = p.value.count
            if p.requiresGrad {
                p.accumulateGradient("concatRows") { dx in
                    dy.withPointer { d in for i in 0..<count { dx[i] += d[offset + i] } }
                }
            }
            offset += count
        }
    }
}

/// The mean of each group of rows (mean pooling over a sequence's real tokens).
/// - x: [N, C]; groups: S lists of row indices, none empty → [S, C]
public func groupMeanRows(_ x: Variable, groups: [[Int]]) -> Variable {
    let c = x.shape.last ?? 1
    precondition(groups.allSatisfy { !$0.isEmpty }, "groupMeanRows: a group has no rows")
    var out = Tensor(shape: [groups.count, c])
    out.withMutablePointer { o in
        x.value.withPointer { input in
            for (s, rows) in groups.enumerated() {
                for r in rows { for j in 0..<c { o[s * c + j] += input[r * c + j] } }
                let inverse = 1 / Float(rows.count)
                for j in 0..<c { o[s * c + j] *= inverse }
            }
        }
    }
    return Variable(result: out, parents: [x]) { dy in
        x.accumulateGradient("groupMeanRows") { dx in
            dy.withPointer { d in
                for (s, rows) in groups.enumerated() {
                    let inverse = 1 / Float(rows.count)
                    for r in rows { for j in 0..<c { dx[r * c + j] += d[s * c + j] * inverse } }
                }
            }
        }
    }
}

/// Each row divided by its L2 norm (a zero row stays zero).
/// - x: [N, C] → [N, C]; backward: dx = (dy − y·⟨dy, y⟩) / ‖x‖
public func l2NormalizeRows(_ x: Variable, eps: Float = 1e-12) -> Variable {
    let c = x.shape.last ?? 1
    let n = x.value.count / max(c, 1)
    var norms = [Float](repeating: 0, count: n)
    var y = Tensor(shape: x.shape)
    y.withMutablePointer { out in
        x.value.withPointer { input in
            for r in 0..<n {
                var sum: Float = 0
                for j in 0..<c { sum += input[r * c + j] * input[r * c + j] }
                // torch.nn.functional.normalize: x / max(‖x‖, eps)
                norms[r] = max(sum.squareRoot(), eps)
                for j in 0..<c { out[r * c + j] = input[r * c + j] / norms[r] }
            }
        }
    }
    return Variable(result: y, parents: [x]) { dy in
        x.accumulateGradient("l2NormalizeRows") { dx in
            dy.withPointer { d in
                y.withPointer { yy in
                    for r in 0..<n {
                        var dot: Float = 0
                        for j in 0..<c { dot += d[r * c + j] * yy[r * c + j] }
                        for j in 0..<c { dx[r * c + j] += (d[r * c + j] - yy[r * c + j] * dot) / norms[r] }
                    }
                }
            }
        }
    }
}

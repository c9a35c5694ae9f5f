import TensorCore

// A weight left in its file's encoding, seen by the ops as the matrix it stands for:
//
//   W[r, c] = packed[j, c]   where row r is the mask's j-th selected row       (rows mask)
//           = packed[j, r]   where column c is the mask's j-th selected column (columns mask)
//           = decode(r, c)   elsewhere
//
// The trainable slices live dense in `value`, where the optimizer updates them; every other element is
// read from the encoding when a product needs it, a panel at a time.

extension Variable {
    /// The selected slices of an encoded matrix, decoded: [k, slice] in the mask's packed layout.
    static func decodeSlices(_ matrix: any EncodedMatrix, _ mask: GradientMask) -> Tensor {
        let (o, i) = (matrix.shape[0], matrix.shape[1])
        var packed = Tensor(shape: mask.packedShape)
        packed.withMutablePointer { p in
            for (j, index) in mask.indices.enumerated() {
                if mask.axis == .rows {
                    matrix.decode(rows: index..<(index + 1), columns: 0..<i, into: p + j * i, ld: i)
                } else {
                    // A column crosses every row's block: decode the block column around it, keep the one.
                    let start = index / matrix.granule * matrix.granule, width = min(matrix.granule, i - start)
                    var column = [Float](repeating: 0, count: o * width)
                    column.withUnsafeMutableBufferPointer { c in
                        matrix.decode(rows: 0..<o, columns: start..<(start + width), into: c.baseAddress!, ld: width)
                        for r in 0..<o { p[j * o + r] = c[r * width + index - start] }
                    }
                }
            }
        }
        return packed
    }

    /// The panel decoder of an encoded weight, with the trainable slices' current values on top.
    public var panelDecoder: PanelDecoder {
        guard let matrix = encoded else {
            preconditionFailure("panelDecoder of '\(name ?? "?")', which is not encoded")
        }
        let (mask, packed) = (self.mask, self.value)
        return { rows, columns, out, ld in
            matrix.decode(rows: rows, columns: columns, into: out, ld: ld)
            guard let mask, !mask.indices.isEmpty else { return }
            packed.withPointer { p in
                let slice = mask.sliceLength
                for (j, index) in mask.indices.enumerated() {
                    if mask.axis == .rows {
                        guard rows.contains(index) else { continue }
                        (out + (index - rows.lowerBound) * ld).update(from: p + j * slice + columns.lowerBound,
                                                                      count: columns.count)
                    } else {
                        guard columns.contains(index) else { continue }
                        for r in rows {
                            out[(r - rows.lowerBound) * ld + index - columns.lowerBound] = p[j * slice + r]
                        }
                    }
                }
            }
        }
    }

    /// The weight as one dense tensor: `value` itself, or an encoded weight decoded whole with its
    /// trained slices (for exports and audits, one tensor at a time).
    public func materialized() -> Tensor {
        guard let matrix = encoded else { return value }
        var dense = Tensor(uninitializedShape: matrix.shape)
        let decode = panelDecoder
        dense.withMutablePointer { d in decode(0..<matrix.shape[0], 0..<matrix.shape[1], d, matrix.shape[1]) }
        return dense
    }
}

import CHDF5

/// A dataset: an n-dimensional array of one scalar type, with attributes.
public final class HDF5Dataset: HDF5AttributeHolder {
    let id: hid_t
    public let path: String
    public let fileName: String
    public var objectID: hid_t { id }

    init(id: hid_t, path: String, fileName: String) {
        self.id = id
        self.path = path
        self.fileName = fileName
    }

    /// The dataset's dimensions ([] for a scalar).
    public func shape() throws -> [Int] {
        try HDF5Library.locked {
            let space = try check(H5Dget_space(id), "read the shape of", path, fileName)
            defer { H5Sclose(space) }
            let rank = Int(H5Sget_simple_extent_ndims(space))
            var dims = [hsize_t](repeating: 0, count: max(rank, 0))
            if rank > 0 {
                try check(H5Sget_simple_extent_dims(space, &dims, nil), "read the shape of", path, fileName)
            }
            return try dims.map {
                guard let n = Int(exactly: $0) else {
                    throw HDF5Error.corrupt(file: fileName, detail: "'\(path)' has an impossible dimension \($0)")
                }
                return n
            }
        }
    }

    /// Refuses to read `count` elements of `size` bytes when the dataset cannot hold them: the count overflows,
    /// or it needs more bytes than the dataset stores (a deflated dataset at most 1100 times more, above
    /// deflate's 1032:1). Without this, a damaged shape makes the reader allocate whatever it claims.
    func checkStored(_ count: Int, of size: Int) throws {
        let bytes = count.multipliedReportingOverflow(by: size)
        try HDF5Library.locked {
            let stored = H5Dget_storage_size(id)
            let properties = try check(H5Dget_create_plist(id), "read the layout of", path, fileName)
            defer { H5Pclose(properties) }
            let filtered = H5Pget_nfilters(properties) > 0
            let limit = filtered
                ? stored.multipliedReportingOverflow(by: 1100) : (partialValue: stored, overflow: false)
            if bytes.overflow || (!limit.overflow && UInt64(bytes.partialValue) > limit.partialValue) {
                let claimed = bytes.overflow ? "more than \(Int.max / size)" : "\(count)"
                throw HDF5Error.corrupt(file: fileName,
                                        detail: "'\(path)' claims \(claimed) values but stores only \(stored) bytes")
            }
        }
    }

    /// The stored element type, e.g. "float32".
    public func elementType() throws -> String {
        try HDF5Library.locked {
            let type = try check(H5Dget_type(id), "read the type of", path, fileName)
            defer { H5Tclose(type) }
            return describeType(type)
        }
    }

    /// The chunk shape, or nil for contiguous storage.
    public func chunkShape() throws -> [Int]? {
        try HDF5Library.locked {
            let properties = try check(H5Dget_create_plist(id), "read the layout of", path, fileName)
            defer { H5Pclose(properties) }
            guard H5Pget_layout(properties) == H5D_CHUNKED else { return nil }
            var dims = [hsize_t](repeating: 0, count: 32)
            let rank = H5Pget_chunk(properties, 32, &dims)
            return dims.prefix(Int(rank)).map { Int($0) }
        }
    }

    /// Reads every element as `T`, checking that `T` is the stored type.
    public func read<T: HDF5Scalar>(as: T.Type = T.self) throws -> (shape: [Int], values: [T]) {
        try HDF5Library.locked {
            let type = try check(H5Dget_type(id), "read the type of", path, fileName)
            defer { H5Tclose(type) }
            guard matches(type, T.self) else {
                throw HDF5Error.typeMismatch(path: path, file: fileName,
                                             expected: T.typeName, found: describeType(type))
            }
            let dims = try shape()
            let count = dims.reduce(Int?(1)) { total, n in
                total.flatMap { let (p, overflow) = $0.multipliedReportingOverflow(by: n); return overflow ? nil : p }
            }
            try checkStored(count ?? Int.max, of: T.byteSize)
            var values = [T](repeating: T(), count: count ?? 0)
            if !values.isEmpty {
                try values.withUnsafeMutableBufferPointer {
                    try check(H5Dread(id, T.nativeType, chdf5_s_all(), chdf5_s_all(),
                                      chdf5_p_default(), $0.baseAddress!),
                              "read dataset", path, fileName)
                }
            }
            return (dims, values)
        }
    }

    deinit { HDF5Library.locked { _ = H5Dclose(id) } }
}

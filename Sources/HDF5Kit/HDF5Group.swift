import CHDF5

/// A group: a folder of groups and datasets, with attributes.
public final class HDF5Group: HDF5AttributeHolder {
    let id: hid_t
    public let path: String
    public let fileName: String
    public var objectID: hid_t { id }
    private var isOpen = true

    init(id: hid_t, path: String, fileName: String) {
        self.id = id
        self.path = path
        self.fileName = fileName
    }

    func childPath(_ name: String) -> String { path == "/" ? "/\(name)" : "\(path)/\(name)" }

    /// Creates a child group.
    public func createGroup(_ name: String) throws -> HDF5Group {
        try HDF5Library.locked {
            // No modification times in object headers, so the same content gives the same bytes.
            let properties = H5Pcreate(chdf5_p_group_create())
            defer { H5Pclose(properties) }
            H5Pset_obj_track_times(properties, false)
            let child = H5Gcreate2(id, name, chdf5_p_default(), properties, chdf5_p_default())
            try check(child, "create group", childPath(name), fileName)
            return HDF5Group(id: child, path: childPath(name), fileName: fileName)
        }
    }

    /// Opens an existing child group.
    public func group(_ name: String) throws -> HDF5Group {
        try HDF5Library.locked {
            guard kind(of: name) == .group else { throw missingOrWrongKind(name, expected: "a group") }
            let child = try check(H5Gopen2(id, name, chdf5_p_default()), "open group", childPath(name), fileName)
            return HDF5Group(id: child, path: childPath(name), fileName: fileName)
        }
    }

    public enum ChildKind: Equatable { case group, dataset, other }

    /// What the child `name` is, or nil if there is none. Only hard links are followed: a soft or external
    /// link (Scalpel writes none) is `.other`, since an external one makes libhdf5 open whatever file it
    /// names, past `HDF5Precheck` (a FIFO there blocks the reader for good).
    public func kind(of name: String) -> ChildKind? {
        HDF5Library.locked {
            guard H5Lexists(id, name, chdf5_p_default()) > 0 else { return nil }
            var value: UInt8 = 0
            if H5Lget_val(id, name, &value, 1, chdf5_p_default()) >= 0 { return .other }   // fails for hard links
            switch chdf5_object_type(id, name) {
            case 0: return .group
            case 1: return .dataset
            default: return .other
            }
        }
    }

    /// Names of the children (groups and datasets), sorted.
    public func children() throws -> [String] {
        try HDF5Library.locked {
            var info = H5G_info_t()
            try check(H5Gget_info(id, &info), "list", path, fileName)
            return try (0..<info.nlinks).map { index in
                let length = H5Lget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, index, nil, 0, chdf5_p_default())
                try check(length, "list", path, fileName)
                var buffer = [CChar](repeating: 0, count: Int(length) + 1)
                H5Lget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, index, &buffer, buffer.count, chdf5_p_default())
                return String(cString: buffer)
            }
        }
    }

    /// Writes a dataset of `values` in row-major order under `shape`.
    /// - chunks: chunk shape (same rank), required for compression; nil stores contiguously.
    /// - compression: gzip level 1…9, or nil.
    @discardableResult
    public func write<T: HDF5Scalar>(_ name: String, _ values: [T], shape: [Int], chunks: [Int]? = nil,
                                     compression: Int? = nil) throws -> HDF5Dataset {
        let where_ = childPath(name)
        guard shape.reduce(1, *) == values.count else {
            throw HDF5Error.invalidShape(path: where_, file: fileName,
                                         detail: "\(values.count) values do not fill shape \(shape)")
        }
        if let chunks, chunks.count != shape.count || chunks.contains(where: { $0 <= 0 }) {
            throw HDF5Error.invalidShape(path: where_, file: fileName,
                                         detail: "chunk shape \(chunks) does not fit shape \(shape)")
        }
        if compression != nil && chunks == nil {
            throw HDF5Error.invalidShape(path: where_, file: fileName, detail: "compression needs a chunk shape")
        }
        return try HDF5Library.locked {
            var dims = shape.map { hsize_t($0) }
            let space = dims.isEmpty ? H5Screate(H5S_SCALAR) : H5Screate_simple(Int32(dims.count), &dims, nil)
            try check(space, "create the shape of", where_, fileName)
            defer { H5Sclose(space) }
            let properties = H5Pcreate(chdf5_p_dataset_create())
            defer { H5Pclose(properties) }
            H5Pset_obj_track_times(properties, false)
            if let chunks {
                // A chunk larger than the extent is clipped; HDF5 rejects zero-sized chunks.
                var chunkDims = zip(chunks, shape).map { hsize_t(max(1, min($0, max($1, 1)))) }
                try check(H5Pset_chunk(properties, Int32(chunkDims.count), &chunkDims),
                          "set chunking of", where_, fileName)
                if let compression {
                    try check(H5Pset_deflate(properties, UInt32(compression)), "set compression of", where_, fileName)
                }
            }
            let dataset = H5Dcreate2(id, name, T.nativeType, space, chdf5_p_default(), properties, chdf5_p_default())
            try check(dataset, "create dataset", where_, fileName)
            if !values.isEmpty {
                try values.withUnsafeBufferPointer {
                    try check(H5Dwrite(dataset, T.nativeType, chdf5_s_all(), chdf5_s_all(),
                                       chdf5_p_default(), $0.baseAddress!),
                              "write dataset", where_, fileName)
                }
            }
            return HDF5Dataset(id: dataset, path: where_, fileName: fileName)
        }
    }

    /// Opens an existing dataset.
    public func dataset(_ name: String) throws -> HDF5Dataset {
        try HDF5Library.locked {
            guard kind(of: name) == .dataset else { throw missingOrWrongKind(name, expected: "a dataset") }
            let dataset = try check(H5Dopen2(id, name, chdf5_p_default()), "open dataset", childPath(name), fileName)
            return HDF5Dataset(id: dataset, path: childPath(name), fileName: fileName)
        }
    }

    /// Reads a whole dataset as `T`; a dataset stored as another type is an error, never a conversion.
    public func read<T: HDF5Scalar>(_ name: String, as type: T.Type = T.self) throws -> (shape: [Int], values: [T]) {
        try dataset(name).read(as: type)
    }

    private func missingOrWrongKind(_ name: String, expected: String) -> HDF5Error {
        guard let found = kind(of: name) else { return .notFound(path: childPath(name), file: fileName) }
        return .typeMismatch(path: childPath(name), file: fileName, expected: expected, found: "\(found)")
    }

    func close() {
        HDF5Library.locked {
            guard isOpen else { return }
            isOpen = false
            H5Gclose(id)
        }
    }

    deinit { close() }
}

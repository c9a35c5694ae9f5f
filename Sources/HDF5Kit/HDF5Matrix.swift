import CHDF5

/// Row blocks in, column blocks out: the access pattern of an activation store, where examples arrive in
/// batches (rows) but statistics need every example of a few neurons (columns) at a time.
extension HDF5Group {
    /// Creates an empty [0, columns] dataset that grows by rows, stored in [chunkRows, chunkColumns] chunks.
    @discardableResult
    public func createGrowingMatrix<T: HDF5Scalar>(_ name: String, of _: T.Type, columns: Int, chunkRows: Int,
                                                   chunkColumns: Int) throws -> HDF5Dataset {
        let where_ = childPath(name)
        guard columns > 0, chunkRows > 0, chunkColumns > 0 else {
            throw HDF5Error.invalidShape(path: where_, file: fileName,
                                         detail: "a growing matrix needs positive columns and chunk sizes")
        }
        return try HDF5Library.locked {
            var dims: [hsize_t] = [0, hsize_t(columns)]
            var maximum: [hsize_t] = [chdf5_s_unlimited(), hsize_t(columns)]
            let space = try check(H5Screate_simple(2, &dims, &maximum), "create the shape of", where_, fileName)
            defer { H5Sclose(space) }
            let properties = H5Pcreate(chdf5_p_dataset_create())
            defer { H5Pclose(properties) }
            H5Pset_obj_track_times(properties, false)
            var chunk: [hsize_t] = [hsize_t(chunkRows), hsize_t(min(chunkColumns, columns))]
            try check(H5Pset_chunk(properties, 2, &chunk), "set chunking of", where_, fileName)
            let dataset = H5Dcreate2(id, name, T.nativeType, space, chdf5_p_default(), properties, chdf5_p_default())
            try check(dataset, "create dataset", where_, fileName)
            return HDF5Dataset(id: dataset, path: where_, fileName: fileName)
        }
    }

    /// Deletes the child `name` (a group or dataset) if it exists.
    public func remove(_ name: String) throws {
        try HDF5Library.locked {
            guard H5Lexists(id, name, chdf5_p_default()) > 0 else { return }
            try check(H5Ldelete(id, name, chdf5_p_default()), "delete", childPath(name), fileName)
        }
    }
}

extension HDF5Dataset {
    /// Appends `rows` rows (row-major, `rows × columns` values) to a 2-D growing matrix.
    public func appendRows<T: HDF5Scalar>(_ values: [T], rows: Int) throws {
        let shape = try shape()
        guard shape.count == 2, values.count == rows * shape[1] else {
            throw HDF5Error.invalidShape(
                path: path, file: fileName,
                detail: "\(values.count) values are not \(rows) rows of \(shape.dropFirst().first ?? 0)")
        }
        guard rows > 0 else { return }
        try HDF5Library.locked {
            var extent: [hsize_t] = [hsize_t(shape[0] + rows), hsize_t(shape[1])]
            try check(H5Dset_extent(id, &extent), "grow", path, fileName)
            try withSelection(rows: shape[0]..<(shape[0] + rows), columns: 0..<shape[1]) { file, memory in
                try values.withUnsafeBufferPointer {
                    try check(H5Dwrite(id, T.nativeType, memory, file, chdf5_p_default(), $0.baseAddress!),
                              "write rows of", path, fileName)
                }
            }
        }
    }

    /// Reads the block rows × columns of a 2-D dataset, row-major.
    public func readBlock<T: HDF5Scalar>(rows: Range<Int>, columns: Range<Int>, as _: T.Type = T.self) throws -> [T] {
        let shape = try shape()
        guard shape.count == 2, rows.lowerBound >= 0, rows.upperBound <= shape[0], columns.lowerBound >= 0,
                columns.upperBound <= shape[1] else {
            throw HDF5Error.invalidShape(
                path: path, file: fileName,
                detail: "block \(rows) × \(columns) is outside the dataset's shape \(shape)")
        }
        guard !rows.isEmpty, !columns.isEmpty else { return [] }
        let (count, overflow) = rows.count.multipliedReportingOverflow(by: columns.count)
        try checkStored(overflow ? Int.max : count, of: T.byteSize)
        var values = [T](repeating: T(), count: rows.count * columns.count)
        try HDF5Library.locked {
            let type = try check(H5Dget_type(id), "read the type of", path, fileName)
            defer { H5Tclose(type) }
            guard matches(type, T.self) else {
                throw HDF5Error.typeMismatch(path: path, file: fileName,
                                             expected: T.typeName, found: describeType(type))
            }
            try withSelection(rows: rows, columns: columns) { file, memory in
                try values.withUnsafeMutableBufferPointer {
                    try check(H5Dread(id, T.nativeType, memory, file, chdf5_p_default(), $0.baseAddress!),
                              "read a block of", path, fileName)
                }
            }
        }
        return values
    }

    /// The file dataspace with the block selected, and a memory dataspace of the block's shape.
    private func withSelection(rows: Range<Int>, columns: Range<Int>, _ body: (hid_t, hid_t) throws -> Void) throws {
        let file = try check(H5Dget_space(id), "select in", path, fileName)
        defer { H5Sclose(file) }
        var start: [hsize_t] = [hsize_t(rows.lowerBound), hsize_t(columns.lowerBound)]
        var count: [hsize_t] = [hsize_t(rows.count), hsize_t(columns.count)]
        try check(H5Sselect_hyperslab(file, H5S_SELECT_SET, &start, nil, &count, nil),
                  "select a block of", path, fileName)
        let memory = try check(H5Screate_simple(2, &count, nil), "shape a block of", path, fileName)
        defer { H5Sclose(memory) }
        try body(file, memory)
    }
}

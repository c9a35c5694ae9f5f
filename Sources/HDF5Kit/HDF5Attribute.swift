import CHDF5

/// An attribute value. Scalars are stored with a scalar dataspace and arrays with a 1-D one, so a
/// one-element array reads back as an array. Strings are fixed-length UTF-8, NUL-padded.
public enum HDF5AttributeValue: Equatable, Sendable {
    case string(String)
    case int(Int64)
    case float(Float)
    case double(Double)
    case ints([Int64])
    case floats([Float])
    case doubles([Double])
    case strings([String])
}

/// Objects that carry attributes: groups and datasets.
public protocol HDF5AttributeHolder {
    var objectID: hid_t { get }
    var path: String { get }
    var fileName: String { get }
}

extension HDF5AttributeHolder {
    /// Writes (or replaces) an attribute.
    public func setAttribute(_ name: String, _ value: HDF5AttributeValue) throws {
        try HDF5Library.locked {
            let where_ = "\(path)@\(name)"
            if H5Aexists(objectID, name) > 0 {
                try check(H5Adelete(objectID, name), "replace attribute", where_, fileName)
            }
            switch value {
            case .string(let text): try writeStrings(name, [text], scalar: true)
            case .strings(let texts): try writeStrings(name, texts, scalar: false)
            case .int(let v): try writeNumbers(name, [v], scalar: true)
            case .float(let v): try writeNumbers(name, [v], scalar: true)
            case .double(let v): try writeNumbers(name, [v], scalar: true)
            case .ints(let v): try writeNumbers(name, v, scalar: false)
            case .floats(let v): try writeNumbers(name, v, scalar: false)
            case .doubles(let v): try writeNumbers(name, v, scalar: false)
            }
        }
    }

    /// Reads an attribute back, with the type it was stored as.
    public func attribute(_ name: String) throws -> HDF5AttributeValue {
        try HDF5Library.locked {
            let where_ = "\(path)@\(name)"
            guard H5Aexists(objectID, name) > 0 else { throw HDF5Error.notFound(path: where_, file: fileName) }
            let attribute = try check(H5Aopen(objectID, name, chdf5_p_default()), "open attribute", where_, fileName)
            defer { H5Aclose(attribute) }
            let type = try check(H5Aget_type(attribute), "read the type of", where_, fileName)
            defer { H5Tclose(type) }
            let space = try check(H5Aget_space(attribute), "read the shape of", where_, fileName)
            defer { H5Sclose(space) }
            let isScalar = H5Sget_simple_extent_type(space) == H5S_SCALAR
            let count = Int(H5Sget_simple_extent_npoints(space))
            // A damaged dataspace can claim any number of values: never more than the attribute stores.
            let width = H5Tget_size(type)
            let (needed, overflow) = max(count, 0).multipliedReportingOverflow(by: max(width, 1))
            let stored = H5Aget_storage_size(attribute)
            guard count >= 0, !overflow, UInt64(needed) <= stored else {
                throw HDF5Error.corrupt(file: fileName, detail: "attribute '\(where_)' claims \(count) values of "
                                        + "\(width) bytes but stores only \(stored) bytes")
            }
            switch H5Tget_class(type) {
            case H5T_STRING:
                var bytes = [CChar](repeating: 0, count: max(width * count, 1))
                let memory = H5Tcopy(chdf5_c_s1())
                defer { H5Tclose(memory) }
                H5Tset_size(memory, width)
                // Same character set and padding as stored: HDF5 will not convert between ASCII and UTF-8.
                H5Tset_strpad(memory, H5T_STR_NULLPAD)
                H5Tset_cset(memory, H5Tget_cset(type))
                try check(H5Aread(attribute, memory, &bytes), "read attribute", where_, fileName)
                let texts = (0..<count).map { i -> String in
                    let slice = bytes[(i * width)..<((i + 1) * width)].prefix { $0 != 0 }
                    return String(decoding: slice.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                }
                return isScalar ? .string(texts[0]) : .strings(texts)
            case H5T_INTEGER:
                var values = [Int64](repeating: 0, count: count)
                try check(H5Aread(attribute, Int64.nativeType, &values), "read attribute", where_, fileName)
                return isScalar ? .int(values[0]) : .ints(values)
            case H5T_FLOAT where H5Tget_size(type) == 4:
                var values = [Float](repeating: 0, count: count)
                try check(H5Aread(attribute, Float.nativeType, &values), "read attribute", where_, fileName)
                return isScalar ? .float(values[0]) : .floats(values)
            case H5T_FLOAT:
                var values = [Double](repeating: 0, count: count)
                try check(H5Aread(attribute, Double.nativeType, &values), "read attribute", where_, fileName)
                return isScalar ? .double(values[0]) : .doubles(values)
            default:
                throw HDF5Error.typeMismatch(path: where_, file: fileName,
                                             expected: "a string or number", found: describeType(type))
            }
        }
    }

    /// Names of all attributes, in name order.
    public func attributeNames() throws -> [String] {
        HDF5Library.locked {
            var names: [String] = []
            var index: hsize_t = 0
            // Probe by index until the library says there is no such attribute (errors are silenced).
            while true {
                let length = H5Aget_name_by_idx(objectID, ".", H5_INDEX_NAME, H5_ITER_INC, index, nil, 0,
                                                chdf5_p_default())
                if length < 0 { break }
                var buffer = [CChar](repeating: 0, count: Int(length) + 1)
                H5Aget_name_by_idx(objectID, ".", H5_INDEX_NAME, H5_ITER_INC, index, &buffer, buffer.count,
                                   chdf5_p_default())
                names.append(String(cString: buffer))
                index += 1
            }
            return names
        }
    }

    private func writeNumbers<T: HDF5Scalar>(_ name: String, _ values: [T], scalar: Bool) throws {
        let where_ = "\(path)@\(name)"
        var dims = [hsize_t(values.count)]
        let space = scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dims, nil)
        try check(space, "create the shape of", where_, fileName)
        defer { H5Sclose(space) }
        let attribute = try check(H5Acreate2(objectID, name, T.nativeType, space, chdf5_p_default(), chdf5_p_default()),
                                  "create attribute", where_, fileName)
        defer { H5Aclose(attribute) }
        if !values.isEmpty {
            try values.withUnsafeBufferPointer {
                try check(H5Awrite(attribute, T.nativeType, $0.baseAddress!), "write attribute", where_, fileName)
            }
        }
    }

    private func writeStrings(_ name: String, _ texts: [String], scalar: Bool) throws {
        let where_ = "\(path)@\(name)"
        let encoded = texts.map { Array($0.utf8) }
        // HDF5 has no zero-width strings; one NUL pad byte reads back as "".
        let width = max(encoded.map(\.count).max() ?? 1, 1)
        var bytes = [UInt8](repeating: 0, count: width * max(encoded.count, 1))
        for (i, text) in encoded.enumerated() {
            bytes.replaceSubrange((i * width)..<(i * width + text.count), with: text)
        }
        let type = try check(H5Tcopy(chdf5_c_s1()), "create string type for", where_, fileName)
        defer { H5Tclose(type) }
        try check(H5Tset_size(type, width), "size string type for", where_, fileName)
        H5Tset_strpad(type, H5T_STR_NULLPAD)
        H5Tset_cset(type, H5T_CSET_UTF8)
        var dims = [hsize_t(texts.count)]
        let space = scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dims, nil)
        try check(space, "create the shape of", where_, fileName)
        defer { H5Sclose(space) }
        let attribute = try check(H5Acreate2(objectID, name, type, space, chdf5_p_default(), chdf5_p_default()),
                                  "create attribute", where_, fileName)
        defer { H5Aclose(attribute) }
        try check(H5Awrite(attribute, type, bytes), "write attribute", where_, fileName)
    }
}

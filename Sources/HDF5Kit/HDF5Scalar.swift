import CHDF5

/// Element types that datasets and attribute arrays hold, with their HDF5 native type.
public protocol HDF5Scalar: Sendable {
    static var nativeType: hid_t { get }
    static var typeClass: H5T_class_t { get }
    static var byteSize: Int { get }
    static var isSigned: Bool { get }
    static var typeName: String { get }
    init()
}

extension Float: HDF5Scalar {
    public static var nativeType: hid_t { chdf5_native_float() }
    public static var typeClass: H5T_class_t { H5T_FLOAT }
    public static var byteSize: Int { 4 }
    public static var isSigned: Bool { true }
    public static var typeName: String { "float32" }
}

extension Double: HDF5Scalar {
    public static var nativeType: hid_t { chdf5_native_double() }
    public static var typeClass: H5T_class_t { H5T_FLOAT }
    public static var byteSize: Int { 8 }
    public static var isSigned: Bool { true }
    public static var typeName: String { "float64" }
}

extension Int32: HDF5Scalar {
    public static var nativeType: hid_t { chdf5_native_int32() }
    public static var typeClass: H5T_class_t { H5T_INTEGER }
    public static var byteSize: Int { 4 }
    public static var isSigned: Bool { true }
    public static var typeName: String { "int32" }
}

extension Int64: HDF5Scalar {
    public static var nativeType: hid_t { chdf5_native_int64() }
    public static var typeClass: H5T_class_t { H5T_INTEGER }
    public static var byteSize: Int { 8 }
    public static var isSigned: Bool { true }
    public static var typeName: String { "int64" }
}

extension UInt8: HDF5Scalar {
    public static var nativeType: hid_t { chdf5_native_uint8() }
    public static var typeClass: H5T_class_t { H5T_INTEGER }
    public static var byteSize: Int { 1 }
    public static var isSigned: Bool { false }
    public static var typeName: String { "uint8" }
}

/// A human-readable name of a stored datatype, for error messages.
func describeType(_ type: hid_t) -> String {
    let size = H5Tget_size(type)
    switch H5Tget_class(type) {
    case H5T_FLOAT: return "float\(size * 8)"
    case H5T_INTEGER: return (H5Tget_sign(type) == H5T_SGN_NONE ? "uint" : "int") + "\(size * 8)"
    case H5T_STRING: return "string"
    default: return "another HDF5 type"
    }
}

/// Whether a stored datatype is exactly `T` (no silent conversion between floats and integers or widths).
func matches<T: HDF5Scalar>(_ type: hid_t, _: T.Type) -> Bool {
    guard H5Tget_class(type) == T.typeClass, H5Tget_size(type) == T.byteSize else { return false }
    if T.typeClass == H5T_INTEGER { return (H5Tget_sign(type) != H5T_SGN_NONE) == T.isSigned }
    return true
}

/// A failure in the HDF5 layer, naming the file, the object path and the operation.
public enum HDF5Error: Error, Equatable, CustomStringConvertible {
    /// The C library reported a failure.
    case operationFailed(operation: String, path: String, file: String)
    /// No object, or no attribute, of that name.
    case notFound(path: String, file: String)
    /// The stored datatype or shape is not what the caller asked for.
    case typeMismatch(path: String, file: String, expected: String, found: String)
    /// The values do not fill the shape, or chunking does not fit it.
    case invalidShape(path: String, file: String, detail: String)
    /// The file is missing or is not an HDF5 file.
    case notAnHDF5File(file: String)
    /// An HDF5 file cut short: its superblock records `recordedBytes` (nil: the superblock itself is cut).
    case truncated(file: String, recordedBytes: Int?, actualBytes: Int)
    /// An HDF5 file whose superblock is damaged or uses what Scalpel does not read, or that libhdf5 refuses.
    case corrupt(file: String, detail: String)

    public var description: String {
        switch self {
        case .operationFailed(let operation, let path, let file):
            return "HDF5 could not \(operation) '\(path)' in \(file). " +
                "The file may be damaged, read-only, or on a full disk."
        case .notFound(let path, let file):
            return "'\(path)' does not exist in \(file). " +
                "Check the name, or whether the run that writes it has finished."
        case .typeMismatch(let path, let file, let expected, let found):
            return "'\(path)' in \(file) holds \(found), not \(expected)."
        case .invalidShape(let path, let file, let detail):
            return "cannot write '\(path)' in \(file): \(detail)."
        case .notAnHDF5File(let file):
            return "\(file) is not a readable HDF5 file (missing, not a regular file, or another format). "
                + "Check the path, or re-create it with the command that wrote it."
        case .truncated(let file, let recorded, let actual):
            let what = recorded.map { "its HDF5 superblock records \($0) bytes but the file has only \(actual)" }
                ?? "it ends inside its HDF5 superblock, after \(actual) bytes"
            return "\(file) is truncated: \(what). It was cut off while being written, copied or downloaded; "
                + "copy it again, or re-create it with the command that wrote it."
        case .corrupt(let file, let detail):
            return "\(file) is a corrupt HDF5 file: \(detail). Restore a good copy, or re-create it with the command "
                + "that wrote it."
        }
    }
}

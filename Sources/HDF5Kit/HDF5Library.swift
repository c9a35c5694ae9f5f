import CHDF5
import Foundation

/// Process-wide HDF5 state.
///
/// The serial HDF5 library is not thread-safe, so every call from this module runs under one recursive
/// lock (Swift Testing, and later the pipeline, may touch archives from several threads). The library's
/// own error-stack printing is switched off before every call (per-thread in thread-safe builds).
enum HDF5Library {
    private static let lock = NSRecursiveLock()
    private static let initialized: Bool = {
        H5open()
        chdf5_silence_errors()
        return true
    }()

    static func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        _ = initialized
        // A thread-safe build keeps error-printing settings per thread, so silence this one too.
        chdf5_silence_errors()
        return try body()
    }
}

/// Checks a C return value (negative means failure) and turns it into an `HDF5Error`.
@discardableResult
func check<T: BinaryInteger>(_ status: T, _ operation: String, _ path: String, _ file: String) throws -> T {
    if status < 0 { throw HDF5Error.operationFailed(operation: operation, path: path, file: file) }
    return status
}

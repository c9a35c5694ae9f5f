#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import Foundation

/// Reads a file handle (a pipe, standard input, a file) to its end. Foundation's
/// `readDataToEndOfFile()` traps when a signal interrupts a read (EINTR); this retries it instead.
public enum PipeReading {
    /// The bytes up to the end, or nil when reading fails for another reason than a signal.
    public static func readAll(_ handle: FileHandle) -> Data? {
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(handle.fileDescriptor, $0.baseAddress, $0.count) }
            if count > 0 {
                data.append(contentsOf: buffer[0..<count])
            } else if count == 0 {
                return data
            } else if errno != EINTR {
                return nil
            }
        }
    }
}

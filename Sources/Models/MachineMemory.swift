import AtomicFiles
import Checkpoints
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The memory this process has used and the memory the machine (or its container) offers.
public enum MachineMemory {
    /// Peak resident set size of this process so far: the kernel's high-water mark of this program's
    /// own pages (VmHWM in /proc/self/status). getrusage's ru_maxrss is only the fallback: Linux carries
    /// it across exec, so a program started by a large process (a Python script holding a model)
    /// would report its parent's peak as its own.
    public static var peakResidentBytes: Int {
        if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
           let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
           let kib = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first.flatMap({ Int($0) }) {
            return kib * 1024
        }
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return Int(usage.ru_maxrss) * 1024
    }

    public static var peakResidentMegabytes: Double { Double(peakResidentBytes) / 1_048_576 }

    /// Physical memory, or the cgroup's limit when a container sets a lower one.
    public static var availableBytes: Int {
        let physical = Int(ProcessInfo.processInfo.physicalMemory)
        for file in ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"] {
            if let text = try? String(contentsOfFile: file, encoding: .utf8),
               let limit = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)), limit > 0, limit < physical {
                return limit
            }
        }
        return physical
    }
}

/// What loading a checkpoint will keep resident, estimated from its tensor table before anything is read.
public struct MemoryEstimate: Sendable, Equatable {
    /// Tensors read in place from the memory-mapped file (resident as the products touch them).
    public var mappedBytes = 0
    /// Tensors decoded to Float32 copies at load.
    public var copiedBytes = 0
    /// Room for activations and the products' buffers at ordinary batch sizes.
    public var workingBytes = 1 << 30

    public var totalBytes: Int { mappedBytes + copiedBytes + workingBytes }

    /// A GGUF's weights as `storage` will hold them.
    public init(gguf file: GGUFFile, storage: WeightStorage) {
        for tensor in file.tensors {
            if storage == .asStored, GGUFMatrix.keepsEncoded(tensor.type), tensor.dimensions.count == 2 {
                mappedBytes += tensor.byteCount
            } else {
                copiedBytes += 4 * tensor.elementCount
            }
        }
    }

    /// Throws when the estimate exceeds `available` bytes, naming both and what would fit.
    public func check(path: String, storage: WeightStorage, available: Int = MachineMemory.availableBytes) throws {
        guard totalBytes > available else { return }
        func gb(_ bytes: Int) -> String { String(format: "%.1f GB", Double(bytes) / 1e9) }
        let advice = storage == .float32 && mappedBytes == 0
            ? "load it with its weights as stored (unset SCALPEL_WEIGHTS, or set it to stored), " +
                "which keeps quantized tensors in the file's format"
            : "use a smaller quantization of the model (Q4_K_M takes about 0.6 bytes per parameter) " +
                "or a machine with more memory"
        throw UserFileError(
            path: path,
            reason: "needs about \(gb(totalBytes)) of memory (\(gb(mappedBytes)) of weights read from the file " +
                "in place, \(gb(copiedBytes)) decoded to Float32, \(gb(workingBytes)) for activations), " +
                "but this machine has \(gb(available)); \(advice)")
    }
}

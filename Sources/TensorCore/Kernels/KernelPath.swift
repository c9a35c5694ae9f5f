import CBlockKernels
import Foundation

// ----------------------------------------------------------------------------------------------------
// Which kernels run, and in what arithmetic.
//
//   path       scalar | avx2 | avx512 | avx512bf16: the processor's best, or SCALPEL_KERNELS
//   precision  fp32: weights decoded to Float32, Float32 activations (every product, the reference)
//              int8: quantized weights times activations quantized to int8 per 32 (q8_kernels.h);
//                    forward products only, of weights in ggml blocks (other weights stay fp32)
//              bf16: weights and activations rounded to bfloat16, pairs of products summed in Float32
//                    (bf16_kernels.h); forward products of any weight whose width is a multiple of 32
//                    (others stay fp32), on the avx512bf16 path (or the scalar reference)
//
// Every path gives the scalar path's bits (the kernels' tests hold them to it), so the path changes
// speed, never results; the precision changes results, within what docs/performance.md measures.
// ----------------------------------------------------------------------------------------------------

/// A set of SIMD kernels, chosen once per process.
public enum KernelPath: String, CaseIterable, Sendable {
    case scalar, avx2, avx512, avx512bf16

    var number: Int32 { Int32(Self.allCases.firstIndex(of: self)!) }

    /// The path products run.
    public static var current: KernelPath { allCases[Int(scalpel_kernel_path())] }

    /// Whether this build and processor run the path, and if not, why.
    public var missing: String? {
        let why = String(cString: scalpel_kernel_path_missing(number))
        return why.isEmpty ? nil : why
    }

    /// The environment variable that forces a path (for tests and bug reports).
    public static let environmentKey = "SCALPEL_KERNELS"

    /// Runs every later product on `path`.
    public static func choose(_ path: KernelPath) throws {
        if let missing = path.missing { throw KernelPathError.unavailable(path, missing) }
        _ = scalpel_kernel_path_choose(path.number)
    }

    /// Applies SCALPEL_KERNELS when it is set; call it once, before any product.
    public static func chooseFromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws {
        guard let requested = environment[environmentKey], !requested.isEmpty else { return }
        guard let path = KernelPath(rawValue: requested.lowercased()) else {
            throw KernelPathError.unknown(requested)
        }
        try choose(path)
    }

    /// The path, and every path with what it lacks here, for `--version --json` and benchmarks.
    public static var record: [String: Any] {
        ["path": current.rawValue,
         "available": allCases.filter { $0.missing == nil }.map(\.rawValue),
         "unavailable": Dictionary(uniqueKeysWithValues: allCases.compactMap { path in
             path.missing.map { (path.rawValue, $0) }
         })]
    }
}

public enum KernelPathError: Error, CustomStringConvertible {
    case unknown(String)
    case unavailable(KernelPath, String)

    public var description: String {
        let names = KernelPath.allCases.map(\.rawValue).joined(separator: ", ")
        switch self {
        case .unknown(let name):
            return "\(KernelPath.environmentKey)=\(name) names no kernel path; use one of \(names), or unset it " +
                "to run the processor's best"
        case .unavailable(let path, let why):
            let available = KernelPath.allCases.filter { $0.missing == nil }.map(\.rawValue).joined(separator: ", ")
            return "\(KernelPath.environmentKey)=\(path.rawValue) cannot run here: \(why); this machine runs " +
                "\(available), or unset it to run the best of them"
        }
    }
}

/// The arithmetic of the products a computation runs (see the top of this file).
public enum Precision: String, CaseIterable, Sendable {
    case fp32, int8, bf16

    /// The precision of the products run on this task; fp32 unless a caller binds another.
    @TaskLocal public static var current: Precision = .fp32
}

extension Precision {
    /// Why this precision cannot run on the kernel path products run now, or nil when it can: bf16 runs on
    /// the avx512bf16 path, or on the scalar reference when SCALPEL_KERNELS asks for it.
    public var unavailable: String? {
        let path = KernelPath.current
        guard self == .bf16, path != .avx512bf16, path != .scalar else { return nil }
        if let missing = KernelPath.avx512bf16.missing {
            return "bf16 products run on the avx512bf16 kernels, and this machine cannot run them: \(missing); " +
                "use fp32 or int8"
        }
        return "bf16 products run on the avx512bf16 kernels, and \(KernelPath.environmentKey) chose " +
            "\(path.rawValue): unset it (or set it to avx512bf16), or use fp32 or int8"
    }

    /// Whether int8 products read weights of this GGML type (the block types of 32 and 256 elements).
    public static func int8Reads(ggmlType: Int32) -> Bool { scalpel_q8_supported(ggmlType) != 0 }
}

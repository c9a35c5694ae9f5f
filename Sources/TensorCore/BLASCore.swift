import CBLAS
import CPUFeatures
import Foundation

/// Which OpenBLAS kernel runs, and the one it should run on this processor.
///
/// OpenBLAS picks its kernels when the library loads, from its own table of processors. An older
/// build does not know a newer processor and falls back to a generic SSE3 kernel: Debian 12's 0.3.21
/// runs "Prescott" on an Emerald Rapids Xeon, whose sgemm is then 5–7 times slower than it can be.
/// Scalpel reads `cpuid` itself and, when OpenBLAS runs a kernel below what the processor supports,
/// names the right one in `OPENBLAS_CORETYPE` and executes itself again, once, before any product.
///
/// The table, from the processor's features (AVX counts only where the OS saves its registers):
///
/// | features                                   | core type     |
/// |--------------------------------------------|---------------|
/// | AVX-512 F, DQ, BW and VL                   | `SkylakeX`    |
/// | AVX2 and FMA, on AMD                       | `Zen`         |
/// | AVX2 and FMA, otherwise                    | `Haswell`     |
/// | AVX                                        | `Sandybridge` |
/// | less                                       | (OpenBLAS's choice) |
///
/// It acts only when OpenBLAS runs a kernel it knows to be generic (below AVX2) on a processor that can
/// do more, and warns when a user's `OPENBLAS_CORETYPE` names a kernel below the processor's level.
/// A kernel OpenBLAS chose at AVX2 or above (`Zen` on a Zen 4, say) is kept, so results stay those of
/// the kernel it chose; and an `OPENBLAS_CORETYPE` the user set is always respected, since some machines
/// set it on purpose (some OpenBLAS builds compute wrong results with some kernels), with a warning when
/// it is below the processor's level. Different kernels give different low bits: runs are bit-for-bit
/// reproducible per kernel, and records name it.
public enum BLASCore {
    /// The instruction-set level of a kernel or a processor.
    public enum Level: Int, Comparable, Sendable {
        case sse = 1, avx, avx2, avx512
        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
        var name: String { ["SSE", "AVX", "AVX2", "AVX-512"][rawValue - 1] }
    }

    /// What the processor reports.
    public struct Features: Sendable, Equatable {
        public var vendor: String
        public var family: Int, model: Int
        public var avx = false, avx2 = false, fma = false
        public var avx512f = false, avx512dq = false, avx512bw = false, avx512vl = false
        public var avx512vnni = false, avx512bf16 = false

        public init(vendor: String, family: Int, model: Int) {
            self.vendor = vendor
            self.family = family
            self.model = model
        }

        /// This machine's, from `cpuid`.
        public static let current: Features = {
            var raw = scalpel_cpu_features()
            scalpel_cpu_features_read(&raw)
            let vendor = withUnsafeBytes(of: raw.vendor) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            var f = Features(vendor: vendor, family: Int(raw.family), model: Int(raw.model))
            (f.avx, f.avx2, f.fma) = (raw.avx, raw.avx2, raw.fma)
            (f.avx512f, f.avx512dq, f.avx512bw, f.avx512vl) = (raw.avx512f, raw.avx512dq, raw.avx512bw, raw.avx512vl)
            (f.avx512vnni, f.avx512bf16) = (raw.avx512_vnni, raw.avx512_bf16)
            return f
        }()

        public var level: Level {
            if avx512f && avx512dq && avx512bw && avx512vl { return .avx512 }
            if avx2 && fma { return .avx2 }
            return avx ? .avx : .sse
        }

        /// The names of the features that matter here, for records and `--version --json`.
        public var names: [String] {
            [("avx", avx), ("avx2", avx2), ("fma", fma), ("avx512f", avx512f), ("avx512dq", avx512dq),
             ("avx512bw", avx512bw), ("avx512vl", avx512vl), ("avx512_vnni", avx512vnni), ("avx512_bf16", avx512bf16)]
                .filter(\.1).map(\.0)
        }
    }

    /// The levels of the x86-64 kernels OpenBLAS names (`openblas_get_corename`), lower-cased.
    static let levels: [String: Level] = {
        var table: [String: Level] = [:]
        for name in ["katmai", "coppermine", "northwood", "prescott", "banias", "atom", "core2", "penryn", "dunnington",
                     "nehalem", "athlon", "opteron", "opteron_sse3", "barcelona", "nano",
                     "bobcat"] { table[name] = .sse }
        for name in ["sandybridge", "bulldozer", "piledriver", "steamroller"] { table[name] = .avx }
        for name in ["haswell", "zen", "excavator"] { table[name] = .avx2 }
        for name in ["skylakex", "cooperlake", "sapphirerapids"] { table[name] = .avx512 }
        return table
    }()

    /// The core type for processors of `features`, or nil where OpenBLAS's own choice is as good.
    public static func preferred(for features: Features) -> String? {
        switch features.level {
        case .avx512: return "SkylakeX"
        case .avx2: return features.vendor == "AuthenticAMD" ? "Zen" : "Haswell"
        case .avx: return "Sandybridge"
        case .sse: return nil
        }
    }

    /// The core type to set before OpenBLAS loads, or nil to leave it as it is: only when the user set
    /// none and OpenBLAS runs a known generic kernel (below AVX2) on a processor that supports more.
    public static func override(features: Features, running: String, userSet: String?) -> String? {
        guard userSet?.isEmpty ?? true, let level = levels[running.lowercased()], level < features.level,
                level < .avx2 else {
            return nil
        }
        return preferred(for: features)
    }

    /// A warning for a user's `OPENBLAS_CORETYPE` that names a kernel below the processor's level (Haswell
    /// on an AVX-512 machine halves sgemm's rate): respected, but said; nil when it is not below.
    public static func userChoiceBelow(features: Features, userSet: String?) -> String? {
        guard let userSet, let level = levels[userSet.lowercased()], level < features.level,
              let better = preferred(for: features) else {
            return nil
        }
        return "warning: OPENBLAS_CORETYPE=\(userSet) runs OpenBLAS's \(level.name) kernels on a processor with " +
            "\(features.level.name): products may run slower than they can (half the rate on a Zen 5); " +
            "unset it (or set OPENBLAS_CORETYPE=\(better)) unless this machine needs it\n"
    }

    /// The kernel OpenBLAS runs in this process.
    public static var running: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// OpenBLAS's build description (version, DYNAMIC_ARCH, threading).
    public static var configuration: String {
        guard let text = openblas_get_config() else { return "unknown" }
        return String(cString: text).trimmingCharacters(in: .whitespaces)
    }

    /// Set in the environment of the process Scalpel executes again with the chosen core type, so
    /// that it does not loop and its records say who chose the kernel.
    public static let reexecMarker = "SCALPEL_OPENBLAS_CORETYPE_CHOSEN"

    /// Who chose the kernel that runs: "scalpel" (by the table above), "user" (`OPENBLAS_CORETYPE`
    /// set by hand) or "openblas" (its own detection, also when it did not take Scalpel's choice).
    public static var chooser: String {
        let environment = ProcessInfo.processInfo.environment
        let requested = environment["OPENBLAS_CORETYPE"] ?? ""
        if environment[reexecMarker] != nil {
            return requested.lowercased() == running.lowercased() ? "scalpel" : "openblas"
        }
        return requested.isEmpty ? "openblas" : "user"
    }

    /// The kernel, who chose it, and the processor, for records, benchmarks and `--version --json`.
    public static var record: [String: Any] {
        let f = Features.current
        return ["core": running, "chosen_by": chooser, "openblas": configuration,
                "cpu": ["vendor": f.vendor, "family": f.family, "model": f.model, "features": f.names]]
    }

    /// Executes the program again with the preferred `OPENBLAS_CORETYPE` when OpenBLAS runs a generic
    /// kernel here; returns (doing nothing) otherwise, or when executing fails. Call it first in `main`.
    /// Only an OpenBLAS built with DYNAMIC_ARCH reads `OPENBLAS_CORETYPE`; the arguments are passed on
    /// as the raw bytes they came as.
    public static func reexecIfGeneric() {
        let environment = ProcessInfo.processInfo.environment
        if configuration.contains("DYNAMIC_ARCH"),
           let warning = userChoiceBelow(features: .current, userSet: environment["OPENBLAS_CORETYPE"]) {
            FileHandle.standardError.write(Data(warning.utf8))
        }
        guard environment[reexecMarker] == nil, configuration.contains("DYNAMIC_ARCH"),
              let core = override(features: .current, running: running,
                                  userSet: environment["OPENBLAS_CORETYPE"]) else {
            return
        }
        setenv("OPENBLAS_CORETYPE", core, 1)
        setenv(reexecMarker, running, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // Executing failed (no /proc): run on as we are, and say so.
        unsetenv("OPENBLAS_CORETYPE")
        unsetenv(reexecMarker)
        FileHandle.standardError.write(Data(("warning: OpenBLAS runs its generic \(running) kernel " +
            "on this processor; set OPENBLAS_CORETYPE=\(core) for products up to several times faster\n").utf8))
    }
}

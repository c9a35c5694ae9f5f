import Foundation
import Testing
import TensorCore

/// The OpenBLAS kernel choice: `cpuid` features and OpenBLAS's core name in, the core type out.
@Suite struct BLASCoreTests {
    static func cpu(_ vendor: String, family: Int, model: Int, level: BLASCore.Level, vnni: Bool = false, bf16: Bool = false) -> BLASCore.Features {
        var f = BLASCore.Features(vendor: vendor, family: family, model: model)
        f.avx = level >= .avx
        (f.avx2, f.fma) = (level >= .avx2, level >= .avx2)
        (f.avx512f, f.avx512dq, f.avx512bw, f.avx512vl) = (level >= .avx512, level >= .avx512, level >= .avx512, level >= .avx512)
        (f.avx512vnni, f.avx512bf16) = (vnni, bf16)
        return f
    }

    static let emeraldRapids = cpu("GenuineIntel", family: 6, model: 207, level: .avx512, vnni: true, bf16: true)
    static let zen2 = cpu("AuthenticAMD", family: 23, model: 49, level: .avx2)
    static let zen4 = cpu("AuthenticAMD", family: 25, model: 97, level: .avx512, vnni: true, bf16: true)
    static let sandyBridge = cpu("GenuineIntel", family: 6, model: 42, level: .avx)
    static let core2 = cpu("GenuineIntel", family: 6, model: 23, level: .sse)

    @Test func theXeonOnPrescottGetsSkylakeX() {
        #expect(Self.emeraldRapids.level == .avx512)
        #expect(BLASCore.override(features: Self.emeraldRapids, running: "Prescott", userSet: nil) == "SkylakeX")
    }

    @Test func kernelsOfTheRightLevelAreKept() {
        #expect(BLASCore.override(features: Self.zen2, running: "Zen", userSet: nil) == nil)
        // A Zen 4 that OpenBLAS runs with its AVX2 Zen kernel keeps it: results stay those of its kernel.
        #expect(BLASCore.override(features: Self.zen4, running: "Zen", userSet: nil) == nil)
        #expect(BLASCore.override(features: Self.emeraldRapids, running: "SkylakeX", userSet: nil) == nil)
        #expect(BLASCore.override(features: Self.emeraldRapids, running: "Cooperlake", userSet: nil) == nil)
    }

    /// A user's core type is kept, but one below the processor's level is said.
    @Test func aUsersKernelBelowTheProcessorIsKeptAndSaid() throws {
        let warning = try #require(BLASCore.userChoiceBelow(features: Self.zen4, userSet: "Haswell"))
        #expect(warning.contains("OPENBLAS_CORETYPE=Haswell") && warning.contains("AVX-512") &&
                warning.contains("OPENBLAS_CORETYPE=SkylakeX"), "\(warning)")
        #expect(BLASCore.override(features: Self.zen4, running: "Haswell", userSet: "Haswell") == nil)
        #expect(BLASCore.userChoiceBelow(features: Self.zen4, userSet: "Cooperlake") == nil)
        #expect(BLASCore.userChoiceBelow(features: Self.zen2, userSet: "Zen") == nil)
        #expect(BLASCore.userChoiceBelow(features: Self.zen4, userSet: "Zen") != nil, "AVX2 kernels on AVX-512: said")
        #expect(BLASCore.userChoiceBelow(features: Self.zen4, userSet: "SomethingNew") == nil)
        #expect(BLASCore.userChoiceBelow(features: Self.zen4, userSet: nil) == nil)
    }

    @Test func genericKernelsOnCapableProcessorsAreReplaced() {
        #expect(BLASCore.override(features: Self.zen2, running: "Prescott", userSet: nil) == "Zen")
        #expect(BLASCore.override(features: Self.zen4, running: "prescott", userSet: nil) == "SkylakeX")
        #expect(BLASCore.override(features: Self.sandyBridge, running: "Nehalem", userSet: nil) == "Sandybridge")
        var intelAVX2 = Self.cpu("GenuineIntel", family: 6, model: 63, level: .avx2)
        #expect(BLASCore.override(features: intelAVX2, running: "Sandybridge", userSet: nil) == "Haswell")
        intelAVX2.fma = false   // AVX2 without FMA is not Haswell's level
        #expect(BLASCore.override(features: intelAVX2, running: "Sandybridge", userSet: nil) == nil)
    }

    @Test func processorsWithoutAVX2AndUnknownKernelsAreLeftAlone() {
        #expect(BLASCore.override(features: Self.core2, running: "Prescott", userSet: nil) == nil)
        #expect(BLASCore.override(features: Self.sandyBridge, running: "Sandybridge", userSet: nil) == nil)
        #expect(BLASCore.override(features: Self.emeraldRapids, running: "SomeFutureCore", userSet: nil) == nil)
    }

    @Test func aCoreTypeTheUserSetIsRespected() {
        #expect(BLASCore.override(features: Self.emeraldRapids, running: "Prescott", userSet: "Prescott") == nil)
        #expect(BLASCore.override(features: Self.emeraldRapids, running: "Prescott", userSet: "") == "SkylakeX")
    }

    @Test func thisMachineIsReadAndNamed() {
        let record = BLASCore.record
        #expect(record["core"] as? String == BLASCore.running && !BLASCore.running.isEmpty)
        #expect(["openblas", "user", "scalpel"].contains(record["chosen_by"] as? String ?? ""))
        #expect(!BLASCore.Features.current.vendor.isEmpty)
    }
}

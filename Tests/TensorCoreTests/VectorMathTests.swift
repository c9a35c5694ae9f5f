import Testing
import Foundation
import TensorCore
import TestSupport

@Suite struct VectorMathTests {
    /// Within 2 ulps of Foundation's exp (computed in Double, so the reference is correctly rounded) across
    /// the whole finite range SiLU and GELU use, and clamped outside it.
    @Test func vectorExpIsAccurate() {
        var rng = SeededRandom(seed: 21)
        var worst: Double = 0
        for _ in 0..<20_000 {
            let lanes = SIMD8<Float>((0..<8).map { _ in Float(rng.nextDouble() * 170 - 86) })
            let y = vectorExp(lanes)
            for k in 0..<8 {
                let exact = exp(Double(lanes[k]))
                let ulps = abs(Double(y[k]) - exact) / Double(Float(exact).ulp)
                worst = max(worst, ulps)
            }
        }
        #expect(worst <= 2, "worst error \(worst) ulps")
        let extremes = vectorExp(SIMD8<Float>(-200, -87.3, 0, 1, 88.3, 200, -.infinity, .infinity))
        #expect(extremes[0] >= 0 && extremes[0] < 1e-37 && extremes[2] == 1 && abs(extremes[3] - Float(M_E)) < 1e-6)
        #expect(extremes[5].isFinite && extremes[5] > 1e38 && extremes[6] >= 0 && extremes[6] < 1e-37)
    }

    /// The vectorised SiLU site agrees with the scalar definition, including the tail that is not a multiple of 8.
    @Test func vectorisedSiluSiteMatchesTheScalarOne() {
        let gate = randomTensor([1, 37], seed: 22, std: 4), up = randomTensor([1, 37], seed: 23)
        let out = runKernel(inputs: [gate, up], outputs: [[37]]) { p, y in gatedSiteForward(.silu, site: y[0], gate: p[0], up: p[1], count: 37) }[0]
        for i in 0..<37 {
            let expected = Activation.silu.value(gate.scalars[i]) * up.scalars[i]
            #expect(abs(out.scalars[i] - expected) <= 4 * expected.ulp.magnitude + 1e-30)
        }
    }
}

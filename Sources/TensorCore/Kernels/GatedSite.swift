#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

// ----------------------------------------------------------------------------------------------------
// The gated FFN neuron site, Scalpel's definition of "a neuron's activation" in SwiGLU/GeGLU models.
//
//   site[N, F] = act(gate[N, F]) · up[N, F]        (the input of W_down)
//
// Backward:  dgate += dsite · up · act′(gate)      dup += dsite · act(gate)

/// - site, gate, up: [count] (= N·F)
public func gatedSiteForward(_ activation: Activation, site: UnsafeMutablePointer<Float>,
                             gate: UnsafePointer<Float>, up: UnsafePointer<Float>, count: Int) {
    parallelChunks(count) { range in
        if activation == .silu { siluGatedForward(site, gate, up, range); return }
        for i in range { site[i] = activation.value(gate[i]) * up[i] }
    }
}

/// - dGate, dUp, dSite, gate, up: [count]; either gradient may be skipped with nil
public func gatedSiteBackward(_ activation: Activation,
                              dGate: UnsafeMutablePointer<Float>?, dUp: UnsafeMutablePointer<Float>?,
                              dSite: UnsafePointer<Float>, gate: UnsafePointer<Float>, up: UnsafePointer<Float>,
                              count: Int) {
    parallelChunks(count) { range in
        if activation == .silu {
            // σ once per element: act = g·σ, act′ = σ·(1 + g·(1 − σ)); eight lanes at a time when both
            // gradients are wanted (always, in training), the scalar loop otherwise and for the tail.
            var start = range.lowerBound
            if let dGate, let dUp {
                while start + 8 <= range.upperBound {
                    let g = UnsafeRawPointer(gate + start).loadUnaligned(as: SIMD8<Float>.self)
                    let u = UnsafeRawPointer(up + start).loadUnaligned(as: SIMD8<Float>.self)
                    let d = UnsafeRawPointer(dSite + start).loadUnaligned(as: SIMD8<Float>.self)
                    let s = 1 / (1 + vectorExp(-g))
                    let dg = UnsafeRawPointer(dGate + start).loadUnaligned(as: SIMD8<Float>.self) +
                        d * u * s * (1 + g * (1 - s))
                    let du = UnsafeRawPointer(dUp + start).loadUnaligned(as: SIMD8<Float>.self) + d * g * s
                    UnsafeMutableRawPointer(dGate + start).storeBytes(of: dg, as: SIMD8<Float>.self)
                    UnsafeMutableRawPointer(dUp + start).storeBytes(of: du, as: SIMD8<Float>.self)
                    start += 8
                }
            }
            for i in start..<range.upperBound {
                let g = gate[i], s = 1 / (1 + expf(-g))
                dGate?[i] += dSite[i] * up[i] * s * (1 + g * (1 - s))
                dUp?[i] += dSite[i] * g * s
            }
            return
        }
        for i in range {
            dGate?[i] += dSite[i] * up[i] * activation.derivative(gate[i])
            dUp?[i] += dSite[i] * activation.value(gate[i])
        }
    }
}

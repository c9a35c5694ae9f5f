import TensorCore

/// The FFN neuron site act(gate) · up, the input of W_down. - gate, up: [..., F] → [..., F]
public func gatedSite(gate: Variable, up: Variable, activation kind: Activation) -> Variable {
    precondition(gate.shape == up.shape, "gatedSite: gate \(gate.shape) and up \(up.shape) differ")
    var site = Tensor(uninitializedShape: gate.shape)   // every element is written
    let count = site.count
    site.withMutablePointer { s in
        gate.value.withPointer { g in
            up.value.withPointer { u in gatedSiteForward(kind, site: s, gate: g, up: u, count: count) }
        }
    }
    return Variable(result: site, parents: [gate, up]) { dSite in
        dSite.withPointer { ds in
            gate.value.withPointer { g in
                up.value.withPointer { u in
                    // Both gradients in one pass when both are wanted (σ computed once per element).
                    if gate.requiresGrad && up.requiresGrad && gate !== up {
                        gate.accumulateGradient("gatedSite") { dg in
                            up.accumulateGradient("gatedSite") { du in
                                gatedSiteBackward(kind, dGate: dg, dUp: du, dSite: ds, gate: g, up: u, count: count)
                            }
                        }
                        return
                    }
                    if gate.requiresGrad {
                        gate.accumulateGradient("gatedSite") { dg in
                            gatedSiteBackward(kind, dGate: dg, dUp: nil, dSite: ds, gate: g, up: u, count: count)
                        }
                    }
                    if up.requiresGrad {
                        up.accumulateGradient("gatedSite") { du in
                            gatedSiteBackward(kind, dGate: nil, dUp: du, dSite: ds, gate: g, up: u, count: count)
                        }
                    }
                }
            }
        }
    }
}

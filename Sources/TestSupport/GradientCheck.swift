import Autodiff
import TensorCore

/// Finite-difference gradient checks, shared by every kernel and op test so each takes a few lines.
///
/// The scalar probed is L(x) = Σ f(x) ⊙ R, with R a fixed random cotangent, accumulated in Double; its
/// analytic gradient is the backward of f seeded with R. Each checked element gets a central difference
/// (L(x + h·e) − L(x − h·e)) / 2h; an input with more than `elementLimit` elements gets one directional
/// check along a random ±1 vector instead, (L(x + h·v) − L(x − h·v)) / 2h ≈ ⟨∇L, v⟩.
///
/// Tolerance. The forward runs in Float32, so each L carries a rounding error of about
/// ε₃₂·Σ|f ⊙ R| ≈ 1e-7 × (a few units); dividing by 2h with h = 1e-2 puts ~1e-5 of noise on each
/// difference, and the truncation error of the central difference is O(h²) ≈ 1e-4 for the smooth
/// functions tested. An element passes when |analytic − numeric| ≤ atol + rtol · max(|analytic|, |numeric|)
/// with atol = 1e-3 and rtol = 1e-2 by default: an order of magnitude above that noise, and far below the
/// O(1) relative errors a wrong derivative produces (a dropped term or a wrong sign).
public struct GradientCheck {
    public var step: Float = 1e-2
    public var absoluteTolerance: Double = 1e-3
    public var relativeTolerance: Double = 1e-2
    public var elementLimit: Int = 64
    public var seed: UInt64 = 0x5CA1_9E1

    public init(step: Float = 1e-2, absoluteTolerance: Double = 1e-3, relativeTolerance: Double = 1e-2) {
        self.step = step
        self.absoluteTolerance = absoluteTolerance
        self.relativeTolerance = relativeTolerance
    }

    public struct Failure: CustomStringConvertible, Sendable {
        public let input: Int, element: Int?, analytic: Double, numeric: Double
        public var description: String {
            "input \(input) \(element.map { "element \($0)" } ?? "direction"): " +
                "analytic \(analytic), numeric \(numeric), diff \(abs(analytic - numeric))"
        }
    }

    public struct Report: CustomStringConvertible, Sendable {
        public var checked = 0
        public var maxError = 0.0
        public var failures: [Failure] = []
        public var passed: Bool { failures.isEmpty && checked > 0 }
        public var description: String {
            let head = "\(checked) checks, max |analytic − numeric| = \(maxError)"
            return failures.isEmpty
                ? head : head + "; first failures:\n" + failures.prefix(5).map { "  \($0)" }.joined(separator: "\n")
        }
    }

    /// Checks `backward` against `forward` at `inputs`.
    /// - forward: the function, run in Float32.
    /// - backward: (inputs, R) → dL/d(input) for each input, or nil for inputs that are not differentiated.
    public func check(
        inputs: [Tensor],
        forward: ([Tensor]) -> Tensor,
        backward: ([Tensor], Tensor) -> [Tensor?]
    ) -> Report {
        var rng = SeededRandom(seed: seed)
        let output = forward(inputs)
        let cotangent = Tensor(randomNormal: output.shape, using: &rng)
        func probe(_ x: [Tensor]) -> Double {
            let y = forward(x)
            var total = 0.0
            for i in 0..<y.count where cotangent.scalars[i] != 0 {
                total += Double(y.scalars[i]) * Double(cotangent.scalars[i])
            }
            return total
        }
        let gradients = backward(inputs, cotangent)
        var report = Report()
        for (index, gradient) in gradients.enumerated() {
            guard let gradient else { continue }
            precondition(gradient.shape == inputs[index].shape,
                         "gradient \(index) has shape \(gradient.shape), input \(inputs[index].shape)")
            func record(_ analytic: Double, _ numeric: Double, element: Int?) {
                let error = abs(analytic - numeric)
                report.checked += 1
                report.maxError = max(report.maxError, error)
                if error > absoluteTolerance + relativeTolerance * max(abs(analytic), abs(numeric)) {
                    report.failures.append(Failure(input: index, element: element,
                                                   analytic: analytic, numeric: numeric))
                }
            }
            if inputs[index].count <= elementLimit {
                for element in 0..<inputs[index].count {
                    var plus = inputs, minus = inputs
                    plus[index].scalars[element] += step
                    minus[index].scalars[element] -= step
                    let numeric = (probe(plus) - probe(minus)) / (2 * Double(step))
                    record(Double(gradient.scalars[element]), numeric, element: element)
                }
            } else {
                let direction = (0..<inputs[index].count).map { _ in rng.nextInt(below: 2) == 0 ? Float(-1) : 1 }
                var plus = inputs, minus = inputs
                for e in 0..<direction.count {
                    plus[index].scalars[e] += step * direction[e]
                    minus[index].scalars[e] -= step * direction[e]
                }
                let numeric = (probe(plus) - probe(minus)) / (2 * Double(step))
                let analytic = zip(gradient.scalars, direction).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
                record(analytic, numeric, element: nil)
            }
        }
        return report
    }

    /// Checks an autodiff op: every input for which `differentiable[i]` is true becomes a trainable leaf.
    public func checkOp(inputs: [Tensor], differentiable: [Bool]? = nil,
                        _ op: @escaping ([Variable]) -> Variable) -> Report {
        let trainable = differentiable ?? inputs.map { _ in true }
        return check(
            inputs: inputs,
            forward: { xs in op(xs.map { Variable($0) }).value },
            backward: { xs, cotangent in
                let leaves = zip(xs, trainable).map { Variable($0, requiresGrad: $1) }
                op(leaves).backward(seed: cotangent)
                return zip(leaves, trainable).map { leaf, isTrainable in
                    isTrainable ? (leaf.grad ?? Tensor(shape: leaf.shape)) : nil
                }
            }
        )
    }
}

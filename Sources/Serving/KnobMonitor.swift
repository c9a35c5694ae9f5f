import Foundation
import Interventions
import Models
import TensorCore

/// Every knob's neuron set in live traffic, for `/metrics`: each token a request runs through the model
/// (the prompt's, and each generated one but the last, which is never run) is read at the knob's
/// neurons, before any steering of that layer, whether the request turns the knob or not.
///
///     a_t        = mean over the set's neurons of the site at token t
///     mean       = mean over observed tokens of a_t
///     firing     = share of observed tokens with a_t > mean over the set of the training means m_i
///     drift      = mean over the set's neurons (σ_i > 0) of (live mean_i − m_i) / σ_i
///
/// These are since the server started. For windows, the sums they are made of are exposed too
/// (ServerMetrics): over any window, mean = Δ activation sum / Δ tokens, firing = Δ firing / Δ tokens and
/// drift = Δ standardized sum / Δ tokens − the training standardized mean, where the standardized sum
/// adds mean_i a_t,i / σ_i per token and the training one is mean_i m_i / σ_i (both over σ_i > 0).
///
/// m_i and σ_i are the training statistics the knob file carries (from the run's `/collect`).
public final class KnobMonitor: @unchecked Sendable {
    public struct Figures: Sendable, Equatable {
        public var tokens: Int
        public var meanActivation: Double
        public var firingShare: Double
        public var drift: Double
        /// Running sums, for windows: Σ_t a_t, firing tokens, Σ_t mean_i a_t,i / σ_i.
        public var activationSum: Double
        public var firingTokens: Int
        public var standardizedSum: Double
        /// mean_i m_i / σ_i over σ_i > 0.
        public var trainingStandardizedMean: Double
    }

    struct Totals {
        var tokens = 0
        var firing = 0
        var sums: [Double]      // per neuron, over tokens
    }

    let knobs: [Knob]
    private var totals: [String: Totals]
    private let lock = NSLock()

    init(knobs: [Knob]) {
        self.knobs = knobs.sorted { $0.name < $1.name }
        totals = Dictionary(uniqueKeysWithValues: knobs.map { ($0.name, Totals(sums: [Double](repeating: 0,
                                                                                              count: $0.neurons.count))) })
    }

    /// Each knob's figures so far (nil before it has seen a token).
    public func figures() -> [String: Figures] {
        lock.lock(); defer { lock.unlock() }
        var out: [String: Figures] = [:]
        for knob in knobs {
            let t = totals[knob.name]!
            guard t.tokens > 0 else { continue }
            let n = Double(t.tokens)
            let means = t.sums.map { $0 / n }
            var drift = 0.0, standardized = 0.0, training = 0.0, counted = 0
            for (i, live) in means.enumerated() where knob.stds[i] > 0 {
                drift += (live - knob.means[i]) / knob.stds[i]
                standardized += t.sums[i] / knob.stds[i]
                training += knob.means[i] / knob.stds[i]
                counted += 1
            }
            let k = Double(max(1, counted))
            out[knob.name] = Figures(tokens: t.tokens, meanActivation: means.reduce(0, +) / Double(means.count),
                                     firingShare: Double(t.firing) / n, drift: counted > 0 ? drift / k : 0,
                                     activationSum: t.sums.reduce(0, +) / Double(t.sums.count), firingTokens: t.firing,
                                     standardizedSum: standardized / k, trainingStandardizedMean: training / k)
        }
        return out
    }

    /// One request's observation: read hooks for each step, committed when the request ends.
    func observation() -> Observation { Observation(monitor: self) }

    fileprivate func add(_ name: String, tokens: Int, firing: Int, sums: [Double]) {
        lock.lock(); defer { lock.unlock() }
        totals[name]!.tokens += tokens
        totals[name]!.firing += firing
        for i in sums.indices { totals[name]!.sums[i] += sums[i] }
    }

    /// What one request's tokens showed, kept apart until the request ends.
    final class Observation: @unchecked Sendable {
        let monitor: KnobMonitor
        /// Per knob: this step's per-row sum over the set, and the request's per-neuron sums.
        var rowSums: [[Double]]
        var sums: [[Double]]
        var tokens: [Int], firing: [Int]

        init(monitor: KnobMonitor) {
            self.monitor = monitor
            rowSums = monitor.knobs.map { _ in [] }
            sums = monitor.knobs.map { [Double](repeating: 0, count: $0.neurons.count) }
            tokens = monitor.knobs.map { _ in 0 }
            firing = tokens
        }

        /// Read hooks for a step of `rows` new positions (the rows of the step before are counted first).
        func hooks(rows: Int) -> HookSet {
            finishStep()
            var hooks = HookSet()
            for (k, knob) in monitor.knobs.enumerated() {
                rowSums[k] = [Double](repeating: 0, count: rows)
                let byLayer = Dictionary(grouping: knob.neurons.indices, by: { knob.neurons[$0].layer })
                for (layer, indices) in byLayer.sorted(by: { $0.key < $1.key }) {
                    let columns = indices.map { knob.neurons[$0].neuron }
                    hooks.collect(HookName.mlpSite(layer), columns: columns) { [self] values in
                        let width = columns.count
                        values.withPointer { p in
                            for r in 0..<rows {
                                for (j, i) in indices.enumerated() {
                                    let a = Double(p[r * width + j])
                                    rowSums[k][r] += a
                                    sums[k][i] += a
                                }
                            }
                        }
                    }
                }
            }
            return hooks
        }

        /// Counts the rows of the step just run: tokens, and those whose set mean exceeds the training one.
        func finishStep() {
            for (k, knob) in monitor.knobs.enumerated() where !rowSums[k].isEmpty {
                let training = knob.means.reduce(0, +) / Double(knob.means.count)
                for sum in rowSums[k] {
                    tokens[k] += 1
                    if sum / Double(knob.neurons.count) > training { firing[k] += 1 }
                }
                rowSums[k] = []
            }
        }

        func commit() {
            finishStep()
            for (k, knob) in monitor.knobs.enumerated() where tokens[k] > 0 {
                monitor.add(knob.name, tokens: tokens[k], firing: firing[k], sums: sums[k])
            }
        }
    }
}

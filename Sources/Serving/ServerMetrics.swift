import Foundation
import Prometheus

/// `/metrics` in Prometheus's text format: the usual serving counters and, per knob, its neuron set in
/// live traffic (KnobMonitor), refreshed at each scrape.
///
///     scalpel_http_requests_total{route, status}      scalpel_request_duration_seconds{route} (histogram)
///     scalpel_prompt_tokens_total                     scalpel_completion_tokens_total
///     scalpel_queue_depth (waiting)                   scalpel_requests_in_flight (running + waiting)
///     scalpel_knob_requests_total{knob}               scalpel_knob_observed_tokens_total{knob}
///     scalpel_knob_mean_activation{knob}              scalpel_knob_firing_share{knob}
///     scalpel_knob_drift{knob}                        (since start)
///     scalpel_knob_firing_tokens_total{knob}          scalpel_knob_activation_sum{knob}
///     scalpel_knob_standardized_sum{knob}             scalpel_knob_training_standardized_mean{knob}
///                                                     (sums for windows: see KnobMonitor)
public final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    let monitor: KnobMonitor
    let knobNames: [String]
    let promptTokens: Counter
    let completionTokens: Counter
    let queueDepth: Gauge
    let inFlight: Gauge
    /// What the knobs' counters have been advanced to (they follow the monitor's totals at each scrape).
    private let emitted = Emitted()

    final class Emitted: @unchecked Sendable {
        var tokens: [String: Int] = [:], firing: [String: Int] = [:]
        let lock = NSLock()
    }

    init(monitor: KnobMonitor, knobNames: [String]) {
        self.monitor = monitor
        self.knobNames = knobNames
        promptTokens = registry.makeCounter(descriptor: .init(namespace: "scalpel", metricName: "prompt_tokens",
                                                              unitName: "total", helpText: "Prompt tokens run"))
        completionTokens = registry.makeCounter(descriptor: .init(namespace: "scalpel", metricName: "completion_tokens",
                                                                  unitName: "total", helpText: "Tokens generated"))
        queueDepth = registry.makeGauge(descriptor: .init(namespace: "scalpel", metricName: "queue_depth", unitName: "",
                                                          helpText: "Requests waiting for the engine"))
        inFlight = registry.makeGauge(descriptor: .init(namespace: "scalpel", metricName: "requests_in_flight",
                                                        unitName: "", helpText: "Requests admitted and not finished"))
        for name in knobNames {
            _ = knobRequests(name)
            refresh(name, nil)
        }
    }

    func request(route: String, status: Int, seconds: Double) {
        registry.makeCounter(descriptor: .init(namespace: "scalpel", metricName: "http_requests", unitName: "total",
                                               helpText: "HTTP requests by route and status"),
                             labels: [("route", route), ("status", "\(status)")]).increment()
        registry.makeDurationHistogram(descriptor: .init(namespace: "scalpel", metricName: "request_duration",
                                                         unitName: "seconds", helpText: "Request latency"),
                                       labels: [("route", route)],
                                       buckets: [.milliseconds(25), .milliseconds(50), .milliseconds(100),
                                                 .milliseconds(250), .milliseconds(500), .milliseconds(750), .seconds(1),
                                                 .milliseconds(1500), .seconds(2), .seconds(3), .seconds(5), .seconds(10),
                                                 .seconds(30), .seconds(120)])
            .record(Duration.milliseconds(Int64((seconds * 1000).rounded())))
    }

    func knobRequests(_ knob: String) -> Counter {
        registry.makeCounter(descriptor: .init(namespace: "scalpel", metricName: "knob_requests", unitName: "total",
                                               helpText: "Requests that turned the knob"),
                             labels: [("knob", knob)])
    }

    private func gauge(_ name: String, _ help: String, _ knob: String) -> Gauge {
        registry.makeGauge(descriptor: .init(namespace: "scalpel", metricName: name, unitName: "", helpText: help),
                           labels: [("knob", knob)])
    }

    private func counter(_ name: String, _ help: String, _ knob: String) -> Counter {
        registry.makeCounter(descriptor: .init(namespace: "scalpel", metricName: name, unitName: "total", helpText: help),
                             labels: [("knob", knob)])
    }

    private func refresh(_ knob: String, _ figures: KnobMonitor.Figures?) {
        // Called under `emitted.lock` (render, or init before any scrape); totals only grow.
        let tokens = max(figures?.tokens ?? 0, emitted.tokens[knob] ?? 0)
        let firing = max(figures?.firingTokens ?? 0, emitted.firing[knob] ?? 0)
        counter("knob_observed_tokens", "Tokens whose activations the knob's set was read at", knob)
            .increment(by: Int64(tokens - (emitted.tokens[knob] ?? 0)))
        counter("knob_firing_tokens", "Observed tokens where the knob's set was above its training mean", knob)
            .increment(by: Int64(firing - (emitted.firing[knob] ?? 0)))
        emitted.tokens[knob] = tokens
        emitted.firing[knob] = firing
        gauge("knob_activation_sum", "Sum over observed tokens of the knob's set mean activation", knob)
            .set(to: figures?.activationSum ?? 0)
        gauge("knob_standardized_sum", "Sum over observed tokens of the set's mean of activation / training sd", knob)
            .set(to: figures?.standardizedSum ?? 0)
        if let training = figures?.trainingStandardizedMean {
            gauge("knob_training_standardized_mean", "The set's mean of training mean / training sd", knob).set(to: training)
        }
        gauge("knob_mean_activation", "Mean activation of the knob's neurons in live traffic", knob)
            .set(to: figures?.meanActivation ?? .nan)
        gauge("knob_firing_share", "Share of tokens where the knob's set is above its training mean", knob)
            .set(to: figures?.firingShare ?? .nan)
        gauge("knob_drift", "Mean standardized shift of the knob's neurons from their training means", knob)
            .set(to: figures?.drift ?? .nan)
    }

    /// The text format, with the queue and the knob figures as they are now. One scrape at a time: the
    /// counters follow the monitor's totals, which two interleaved scrapes could step back.
    public func render(admitted: Int) -> String {
        emitted.lock.withLock {
            inFlight.set(to: Double(admitted))
            queueDepth.set(to: Double(max(0, admitted - 1)))
            let figures = monitor.figures()
            for name in knobNames { refresh(name, figures[name]) }
            return registry.emitToString()
        }
    }
}

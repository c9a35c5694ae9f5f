import Foundation
import Prometheus

/// `/metrics` in Prometheus's text format: the usual serving counters and, per knob, its neuron set in
/// live traffic (KnobMonitor), refreshed at each scrape.
///
///     scalpel_http_requests_total{route, status}      scalpel_request_duration_seconds{route} (histogram)
///     scalpel_prompt_tokens_total                     scalpel_completion_tokens_total
///     scalpel_queue_depth (waiting)                   scalpel_requests_in_flight (running + waiting)
///     scalpel_knob_requests_total{knob}               scalpel_knob_observed_tokens{knob}
///     scalpel_knob_mean_activation{knob}              scalpel_knob_firing_share{knob}
///     scalpel_knob_drift{knob}
public final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    let monitor: KnobMonitor
    let knobNames: [String]
    let promptTokens: Counter
    let completionTokens: Counter
    let queueDepth: Gauge
    let inFlight: Gauge

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
                                       buckets: [.milliseconds(10), .milliseconds(50), .milliseconds(250), .seconds(1),
                                                 .seconds(5), .seconds(30), .seconds(120)])
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

    private func refresh(_ knob: String, _ figures: KnobMonitor.Figures?) {
        gauge("knob_observed_tokens", "Tokens whose activations the knob's set was read at", knob)
            .set(to: Double(figures?.tokens ?? 0))
        gauge("knob_mean_activation", "Mean activation of the knob's neurons in live traffic", knob)
            .set(to: figures?.meanActivation ?? .nan)
        gauge("knob_firing_share", "Share of tokens where the knob's set is above its training mean", knob)
            .set(to: figures?.firingShare ?? .nan)
        gauge("knob_drift", "Mean standardized shift of the knob's neurons from their training means", knob)
            .set(to: figures?.drift ?? .nan)
    }

    /// The text format, with the knob figures as they are now.
    public func render() -> String {
        let figures = monitor.figures()
        for name in knobNames { refresh(name, figures[name]) }
        return registry.emitToString()
    }
}

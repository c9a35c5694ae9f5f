import Models
import TensorCore

/// The FFN sites of chosen layers, captured at chosen rows during one forward pass.
///
///     let capture = SiteCapture(layers: plan.layers, rows: hookedRows)
///     _ = model.forward(embeddings: …, batch: …, hooks: capture.hooks)
///     capture.sites[k]        // layer plan.layers[k]: [rows.count, ffnWidth]
final class SiteCapture: @unchecked Sendable {
    private var captured: [Tensor?]
    private(set) var hooks = HookSet()

    init(layers: [Int], rows: [Int]) {
        captured = [Tensor?](repeating: nil, count: layers.count)
        for (k, layer) in layers.enumerated() {
            hooks.collect(HookName.mlpSite(layer), rows: rows) { [unowned self] in self.captured[k] = $0 }
        }
    }

    /// Each layer's site, in the order of `layers`; read after the forward pass ran the hooks.
    var sites: [Tensor] { captured.map { $0! } }
}

import Foundation

/// How far one run's logits are from a reference run's, row by row (rows: positions or examples):
/// the largest |Δ logit|, the mean KL(reference ‖ other) in nats, and how often the top-1 tokens agree.
func logitFidelity(_ reference: [[Float]], _ other: [[Float]]) -> [String: Any] {
    var maxDifference: Float = 0, kl = 0.0, agree = 0
    for (p, q) in zip(reference, other) {
        maxDifference = max(maxDifference, zip(p, q).map { abs($0 - $1) }.max() ?? 0)
        let (lp, lq) = (logSoftmax(p), logSoftmax(q))
        kl += zip(lp, lq).reduce(0.0) { $0 + exp($1.0) * ($1.0 - $1.1) }
        if p.indices.max(by: { p[$0] < p[$1] }) == q.indices.max(by: { q[$0] < q[$1] }) { agree += 1 }
    }
    let rows = Double(max(reference.count, 1))
    return ["max_abs_logit_difference": Double(maxDifference), "mean_kl": kl / rows,
            "top1_agreement": Double(agree) / rows]
}

/// log softmax(x), in Double.
func logSoftmax(_ x: [Float]) -> [Double] {
    let m = Double(x.max() ?? 0)
    let total = log(x.reduce(0.0) { $0 + exp(Double($1) - m) })
    return x.map { Double($0) - m - total }
}

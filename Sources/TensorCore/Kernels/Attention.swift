#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

// ----------------------------------------------------------------------------------------------------
// Scaled dot-product attention with grouped-query heads and masks.
//
//   q: [B, T, H, D]   k, v: [B, S, G, D]   (G key/value heads, H a multiple of G; head h reads group h/(H/G))
//   Z = scale · Q_bh · K_bgᵀ, soft-capped when a cap is set: Z ← cap · tanh(Z / cap)   (Gemma 2)
//   P[b, h] = softmax(Z + mask)                          [T, S]
//   out[b, :, h, :] = P[b, h] · V_bg                     [T, D]
//
// Query i sits at absolute position i + queryOffset (S − T when a cache holds earlier keys). Key j is
// visible to query i when every mask that is set allows it:
//   - causal:          j ≤ i + queryOffset
//   - sliding window:  (i + queryOffset) − j < window
//   - padding:         keyMask[b, j] is true
// A query that can see no key outputs zeros (its softmax row is all −∞).
//
// Backward (per b, h):  dP = dO · Vᵀ,  dZ = P ⊙ (dP − rowsum(dP ⊙ P)) · scale
//                       (· (1 − tanh²) when capped),
//                       dQ += dZ · K,  dK += dZᵀ · Q,  dV += Pᵀ · dO

public struct AttentionConfig: Sendable, Equatable {
    public var batch: Int          // B
    public var queries: Int        // T
    public var keys: Int           // S
    public var heads: Int          // H
    public var kvHeads: Int        // G
    public var headDim: Int        // D
    public var causal: Bool
    public var window: Int?        // sliding-window width, nil for global attention
    public var queryOffset: Int
    public var scale: Float
    /// Scores are soft-capped at this value before the mask, nil for none.
    public var softcap: Float?

    public init(batch: Int, queries: Int, keys: Int? = nil, heads: Int, kvHeads: Int, headDim: Int,
                causal: Bool, window: Int? = nil, queryOffset: Int? = nil, scale: Float? = nil, softcap: Float? = nil) {
        precondition(heads % kvHeads == 0,
                     "attention: \(heads) query heads are not a multiple of \(kvHeads) key/value heads")
        self.batch = batch
        self.queries = queries
        self.keys = keys ?? queries
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.causal = causal
        self.window = window
        self.queryOffset = queryOffset ?? ((keys ?? queries) - queries)
        self.scale = scale ?? 1 / Float(headDim).squareRoot()
        self.softcap = softcap
    }

    /// Whether query i may attend to key j, apart from padding.
    @inline(__always)
    public func allows(query i: Int, key j: Int) -> Bool {
        let position = i + queryOffset
        if causal && j > position { return false }
        if let window, position - j >= window { return false }
        return true
    }
}

/// - output: [B, T, H, D]; probabilities: [B, H, T, S] saved for the backward
/// - query: [B, T, H, D]; key, value: [B, S, G, D]; keyMask: [B·S] (true = real token) or nil
public func attentionForward(
    output: UnsafeMutablePointer<Float>, probabilities: UnsafeMutablePointer<Float>,
    query: UnsafePointer<Float>, key: UnsafePointer<Float>, value: UnsafePointer<Float>,
    keyMask: [Bool]?, config a: AttentionConfig
) {
    let (t, s, h, g, d) = (a.queries, a.keys, a.heads, a.kvHeads, a.headDim)
    let groupSize = h / g
    // Each (sequence, head) pair writes its own probabilities and its own output columns: run them in parallel.
    parallelChunks(a.batch * h, minimumPerChunk: 1) { pairs in for pair in pairs {
            let (b, head) = (pair / h, pair % h)
            let group = head / groupSize
            let q = query + b * t * h * d + head * d
            let k = key + b * s * g * d + group * d
            let v = value + b * s * g * d + group * d
            let p = probabilities + (b * h + head) * t * s
            sgemm(.normal, .transposed, m: t, n: s, k: d, alpha: a.scale, a: q, lda: h * d, b: k, ldb: g * d,
                  c: p, ldc: s)
            if let cap = a.softcap { for e in 0..<(t * s) { p[e] = cap * tanhf(p[e] / cap) } }
            for i in 0..<t {
                let row = p + i * s
                for j in 0..<s where !a.allows(query: i, key: j) || keyMask?[b * s + j] == false {
                    row[j] = -Float.infinity
                }
                softmaxRow(row, row, s)
            }
            sgemm(.normal, .normal, m: t, n: d, k: s, a: p, lda: s, b: v, ldb: g * d,
                  c: output + b * t * h * d + head * d, ldc: h * d)
    } }
}

/// Accumulates dQuery, dKey, dValue (any may be nil).
/// - dOutput: [B, T, H, D]; probabilities: [B, H, T, S] from the forward
public func attentionBackward(
    dQuery: UnsafeMutablePointer<Float>?, dKey: UnsafeMutablePointer<Float>?, dValue: UnsafeMutablePointer<Float>?,
    dOutput: UnsafePointer<Float>, probabilities: UnsafePointer<Float>,
    query: UnsafePointer<Float>, key: UnsafePointer<Float>, value: UnsafePointer<Float>,
    config a: AttentionConfig
) {
    let (t, s, h, g, d) = (a.queries, a.keys, a.heads, a.kvHeads, a.headDim)
    let groupSize = h / g
    // Heads of one group share dK and dV, so the parallel unit is a (sequence, group) pair.
    parallelChunks(a.batch * g, minimumPerChunk: 1) { pairs in
      var scratch = [Float](repeating: 0, count: t * s)
      var scores = [Float](repeating: 0, count: a.softcap == nil ? 0 : t * s)
      scratch.withUnsafeMutableBufferPointer { buffer in scores.withUnsafeMutableBufferPointer { raw in
        let dZ = buffer.baseAddress!
        for pair in pairs {
            let (b, group) = (pair / g, pair % g)
            for head in (group * groupSize)..<((group + 1) * groupSize) {
                let qOffset = b * t * h * d + head * d
                let kvOffset = b * s * g * d + group * d
                let p = probabilities + (b * h + head) * t * s
                let dO = dOutput + qOffset
                if let dValue {
                    sgemm(.transposed, .normal, m: s, n: d, k: t, a: p, lda: s, b: dO, ldb: h * d,
                          beta: 1, c: dValue + kvOffset, ldc: g * d)
                }
                if dQuery == nil && dKey == nil { continue }
                // dP = dO · Vᵀ, then the softmax backward in place, times the scale.
                sgemm(.normal, .transposed, m: t, n: s, k: d, a: dO, lda: h * d, b: value + kvOffset, ldb: g * d,
                      c: dZ, ldc: s)
                // A soft cap's derivative needs the uncapped scores: recomputed rather than stored.
                if a.softcap != nil {
                    sgemm(.normal, .transposed, m: t, n: s, k: d, alpha: a.scale, a: query + qOffset, lda: h * d,
                          b: key + kvOffset, ldb: g * d, c: raw.baseAddress!, ldc: s)
                }
                for i in 0..<t {
                    let row = dZ + i * s, pRow = p + i * s
                    var dot: Float = 0
                    for j in 0..<s { dot += row[j] * pRow[j] }
                    for j in 0..<s { row[j] = pRow[j] * (row[j] - dot) * a.scale }
                    if let cap = a.softcap {
                        for j in 0..<s where pRow[j] != 0 {
                            let y = tanhf(raw[i * s + j] / cap)
                            row[j] *= 1 - y * y
                        }
                    }
                }
                if let dQuery {
                    sgemm(.normal, .normal, m: t, n: d, k: s, a: dZ, lda: s, b: key + kvOffset, ldb: g * d,
                          beta: 1, c: dQuery + qOffset, ldc: h * d)
                }
                if let dKey {
                    sgemm(.transposed, .normal, m: s, n: d, k: t, a: dZ, lda: s, b: query + qOffset, ldb: h * d,
                          beta: 1, c: dKey + kvOffset, ldc: g * d)
                }
            }
        }
      } }
    }
}

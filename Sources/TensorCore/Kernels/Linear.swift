// ----------------------------------------------------------------------------------------------------
// Linear layer, weights stored [out, in] as Hugging Face and GGUF both do.
//
//   y[N, O] = x[N, I] · W[O, I]ᵀ + b[O]
//
// Backward accumulates:  dx += dy · W,  dW += dyᵀ · x,  db += Σₙ dy.
// y and dx are formed in panels of W (PanelProduct.swift), the same for a dense weight as for one kept
// in its file's encoding, so both give the same bits.
// The masked variants form only the weight gradient of chosen rows (an FFN neuron's W_gate/W_up row)
// or chosen columns (its W_down column), packed as [k, slice], never the dense [O, I] gradient.

/// - output: [N, O]; input: [N, I]; weight: [O, I]; bias: [O] or nil
public func linearForward(
    output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>,
    weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    rows n: Int, inFeatures i: Int, outFeatures o: Int
) {
    panelLinearForward(output: output, input: input, weight: .dense(weight), bias: bias,
                       rows: n, inFeatures: i, outFeatures: o)
}

/// Accumulates whichever gradients are requested (non-nil).
/// - dInput: [N, I]; dWeight: [O, I]; dBias: [O]; dOutput: [N, O]; input: [N, I]; weight: [O, I]
public func linearBackward(
    dInput: UnsafeMutablePointer<Float>?, dWeight: UnsafeMutablePointer<Float>?, dBias: UnsafeMutablePointer<Float>?,
    dOutput: UnsafePointer<Float>, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    rows n: Int, inFeatures i: Int, outFeatures o: Int
) {
    if let dInput { linearInputGradient(dInput: dInput, dOutput: dOutput, weight: weight,
                                        rows: n, inFeatures: i, outFeatures: o) }
    if let dWeight { linearWeightGradient(dWeight: dWeight, dOutput: dOutput, input: input,
                                          rows: n, inFeatures: i, outFeatures: o) }
    if let dBias { linearBiasGradient(dBias: dBias, dOutput: dOutput, rows: n, outFeatures: o) }
}

/// dx (+)= dy · W; `overwrite` replaces dx instead (beta = 0), for a buffer that holds nothing yet.
/// - dInput: [N, I]; dOutput: [N, O]; weight: [O, I]
public func linearInputGradient(dInput: UnsafeMutablePointer<Float>, dOutput: UnsafePointer<Float>,
                                weight: UnsafePointer<Float>,
                                rows n: Int, inFeatures i: Int, outFeatures o: Int, overwrite: Bool = false) {
    panelLinearInputGradient(dInput: dInput, dOutput: dOutput, weight: .dense(weight),
                             rows: n, inFeatures: i, outFeatures: o, overwrite: overwrite)
}

/// dW += dyᵀ · x. - dWeight: [O, I]; dOutput: [N, O]; input: [N, I]
public func linearWeightGradient(dWeight: UnsafeMutablePointer<Float>, dOutput: UnsafePointer<Float>,
                                 input: UnsafePointer<Float>,
                                 rows n: Int, inFeatures i: Int, outFeatures o: Int) {
    sgemm(.transposed, .normal, m: o, n: i, k: n, a: dOutput, lda: o, b: input, ldb: i, beta: 1, c: dWeight, ldc: i)
}

/// db += Σₙ dy. - dBias: [O]; dOutput: [N, O]
public func linearBiasGradient(dBias: UnsafeMutablePointer<Float>, dOutput: UnsafePointer<Float>,
                               rows n: Int, outFeatures o: Int) {
    for r in 0..<n {
        let row = dOutput + r * o
        for j in 0..<o { dBias[j] += row[j] }
    }
}

/// Weight gradient of the chosen output rows only: dW[rows[j], :] accumulates into packed row j.
/// - dWeightRows: [k, I] packed; dOutput: [N, O]; input: [N, I]
public func linearWeightGradientRows(
    dWeightRows: UnsafeMutablePointer<Float>, rows selected: [Int],
    dOutput: UnsafePointer<Float>, input: UnsafePointer<Float>,
    rows n: Int, inFeatures i: Int, outFeatures o: Int
) {
    accumulateGathered(into: dWeightRows, selected: selected, of: dOutput, width: o, times: input, width: i, rows: n)
}

/// Weight gradient of the chosen input columns only: dW[:, columns[j]] accumulates into packed row j.
/// - dWeightColumns: [k, O] packed (column j of W stored contiguously); dOutput: [N, O]; input: [N, I]
public func linearWeightGradientColumns(
    dWeightColumns: UnsafeMutablePointer<Float>, columns selected: [Int],
    dOutput: UnsafePointer<Float>, input: UnsafePointer<Float>,
    rows n: Int, inFeatures i: Int, outFeatures o: Int
) {
    accumulateGathered(into: dWeightColumns, selected: selected, of: input, width: i, times: dOutput, width: o, rows: n)
}

/// out[j, :] += Σ_r a[r, selected[j]] · b[r, :]: the chosen columns of a gathered into [N, k], so that one
/// sgemm forms the k packed rows. - out: [k, B]; a: [N, A]; b: [N, B]
private func accumulateGathered(
    into out: UnsafeMutablePointer<Float>, selected: [Int],
    of a: UnsafePointer<Float>, width widthA: Int, times b: UnsafePointer<Float>, width widthB: Int, rows n: Int
) {
    let k = selected.count
    if k == 0 || n == 0 { return }
    var gathered = [Float](repeating: 0, count: n * k)
    gathered.withUnsafeMutableBufferPointer { g in
        for r in 0..<n { for (j, column) in selected.enumerated() { g[r * k + j] = a[r * widthA + column] } }
        sgemm(.transposed, .normal, m: k, n: widthB, k: n, a: g.baseAddress!, lda: k, b: b, ldb: widthB,
              beta: 1, c: out, ldc: widthB)
    }
}

/// Bias gradient of the chosen entries only. - dBiasEntries: [k]; dOutput: [N, O]
public func biasGradientEntries(
    dBiasEntries: UnsafeMutablePointer<Float>, entries selected: [Int],
    dOutput: UnsafePointer<Float>, rows n: Int, outFeatures o: Int
) {
    for r in 0..<n { for (j, entry) in selected.enumerated() { dBiasEntries[j] += dOutput[r * o + entry] } }
}

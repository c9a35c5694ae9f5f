import CBLAS
import CBlockKernels
import Dispatch

// ----------------------------------------------------------------------------------------------------
// Linear products in panels, so that a weight kept in its file's encoding (a quantized GGUF tensor) is
// never whole in Float32, and a dense weight gives the very same bits.
//
//   forward   y[N, O] = x[N, I] · W[O, I]ᵀ (+ b)        panels of P rows:   y[:, p] = x · W[p, :]ᵀ
//   backward  dx[N, I] (+)= dy[N, O] · W[O, I]          chunks of P rows, groups of G columns:
//             dx[:, g] (+)= Σ over chunks c, in order, of dy[:, c] · W[c, g]
//
// An encoded panel is decoded into a buffer of about `panelBytes` that stays in cache and goes to sgemm
// as it is; a dense panel goes to sgemm in place. The sgemm calls are the same in both cases, same
// shapes, same order, same values, so an encoded weight and its decoded copy give identical results by
// construction: the decoded copy is the reference the tests compare against. OpenBLAS's low bits depend
// on the extent of a product, not only on its sums, so the panels are fixed by the shapes alone, never
// by the number of cores: results are the same on any machine running the same kernel.
//
// A product of a few input rows (a decoding step: N ≤ `rowProductMaxRows`) is one dot product per
// output instead, y[n, r] = W[r, :] · x[n, :], with the lanes block_kernels.h defines: read from the
// blocks in place where W lies in a file's blocks, else decoded a panel at a time; the same bits either way.
// Under `Precision.int8` (KernelPath.swift), a product of any number of rows whose weight lies in blocks
// multiplies int8 activations instead (q8_kernels.h); under `Precision.bf16`, a product of any weight
// whose width is a multiple of 32 multiplies both rounded to bfloat16 (bf16_kernels.h).

/// A frozen [O, I] weight matrix in a compact encoding, decoded a panel at a time.
public protocol EncodedMatrix: Sendable {
    /// [O, I], outermost first.
    var shape: [Int] { get }
    /// Columns per encoded block: column ranges start on its multiples.
    var granule: Int { get }
    /// The encoding's name (a GGML type: "Q4_K", "F16", …) and its size in bytes, for records.
    var encoding: String { get }
    var encodedByteCount: Int { get }
    /// Writes rows `rows` × columns `columns` into `out` (row stride `ld`). `columns` starts on a
    /// multiple of `granule` and ends on one or at I.
    func decode(rows: Range<Int>, columns: Range<Int>, into out: UnsafeMutablePointer<Float>, ld: Int)
    /// The rows as ggml blocks in memory, for row products that read them in place; nil if they are not.
    var blocks: EncodedBlocks? { get }
}

extension EncodedMatrix {
    public var blocks: EncodedBlocks? { nil }
}

/// Rows of ggml blocks in memory: row r starts at `base + r · rowBytes`.
public struct EncodedBlocks: @unchecked Sendable {
    /// The GGML type number (block_kernels.h lists those it reads).
    public let type: Int32
    public let base: UnsafeRawPointer
    public let rowBytes: Int

    /// nil for a type the block kernels do not read.
    public init?(type: Int32, base: UnsafeRawPointer, rowBytes: Int) {
        guard scalpel_blocks_supported(type) != 0 else { return nil }
        (self.type, self.base, self.rowBytes) = (type, base, rowBytes)
    }
}

/// Decodes a panel (an encoded matrix's, with whatever the caller lays over it).
public typealias PanelDecoder = @Sendable (_ rows: Range<Int>, _ columns: Range<Int>,
                                           _ out: UnsafeMutablePointer<Float>, _ ld: Int) -> Void

/// Where a product's weight comes from: dense Float32 in memory ([O, I], row stride I), or a decoder,
/// with the blocks it decodes when row products may read them directly (nothing laid over them).
public enum PanelSource: @unchecked Sendable {
    case dense(UnsafePointer<Float>)
    case decoded(PanelDecoder, blocks: EncodedBlocks? = nil)
}

/// Products of at most this many input rows are row products (see the top of this file).
public let rowProductMaxRows = 4

/// Panels hold about this many bytes: large enough that sgemm's packing of the other operand is cheap
/// beside the arithmetic, small enough to stay in a core's share of the cache.
public let panelBytes = 4 << 20

/// Rows per panel of a [rows, width] weight: at most `panelBytes`, and at most a quarter of the rows, so
/// that a matrix whose product is worth splitting (multiplyAddsPerWorker) gives every core of a small
/// machine work; a multiple of 16, at least 16.
public func panelRows(rows: Int, width: Int) -> Int {
    let cap = max(16, panelBytes / (4 * max(width, 1)) / 16 * 16)
    return min(cap, max(16, ((rows + 3) / 4 + 15) / 16 * 16))
}

/// Columns per backward group: about a quarter of the row, in multiples of the largest block size that
/// divides the row (256, 32, else 16), so that every encoding of the matrix splits on its own blocks.
public func panelColumns(width: Int) -> Int {
    let unit = width % 256 == 0 ? 256 : width % 32 == 0 ? 32 : 16
    return max(unit, ((width + 3) / 4 + unit - 1) / unit * unit)
}

/// y = x · Wᵀ (+ b), W taken `panelRows` rows at a time.
/// - output: [N, O]; input: [N, I]; bias: [O] or nil
public func panelLinearForward(
    output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, weight: PanelSource,
    bias: UnsafePointer<Float>?, rows n: Int, inFeatures i: Int, outFeatures o: Int
) {
    if n == 0 || o == 0 { return }
    if i > 0, i % 32 == 0, Precision.current == .bf16 {
        bfloatProducts(output: output, input: input, weight: weight, bias: bias, rows: n, inFeatures: i, outFeatures: o)
        return
    }
    if i > 0, let blocks = weight.integerBlocks {
        integerRowProducts(output: output, input: input, blocks: blocks, bias: bias,
                           rows: n, inFeatures: i, outFeatures: o)
        return
    }
    if n <= rowProductMaxRows && i > 0 {
        rowProducts(output: output, input: input, weight: weight, bias: bias, rows: n, inFeatures: i, outFeatures: o)
        return
    }
    if let bias {
        for r in 0..<n { (output + r * o).update(from: bias, count: o) }
    }
    if i == 0 {
        if bias == nil { for r in 0..<n { (output + r * o).update(repeating: 0, count: o) } }
        return
    }
    let p = panelRows(rows: o, width: i), beta: Float = bias == nil ? 0 : 1
    let operands = UncheckedSendable((output, input))
    let buffered = if case .decoded = weight { p * i } else { 0 }
    forEachPanel(count: (o + p - 1) / p, bufferElements: buffered, multiplyAdds: n * o * i) { panel, buffer in
        let (output, input) = operands.value
        let start = panel * p, size = min(p, o - start)
        let w = weight.rows(start..<(start + size), 0..<i, width: i, buffer: buffer)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(size), Int32(i), 1,
                    input, Int32(i), w.pointer, Int32(w.ld), beta, output + start, Int32(o))
    }
}

/// y[v, r] = W[r, :] · x[v, :] (+ b[r]), the cores taking panels of W's rows.
func rowProducts(
    output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, weight: PanelSource,
    bias: UnsafePointer<Float>?, rows n: Int, inFeatures i: Int, outFeatures o: Int
) {
    let p = panelRows(rows: o, width: i)
    let operands = UncheckedSendable((output, input, bias))
    let buffered = if case .decoded(_, nil) = weight { p * i } else { 0 }
    forEachPanel(count: (o + p - 1) / p, bufferElements: buffered, multiplyAdds: n * o * i) { panel, buffer in
        let (output, input, bias) = operands.value
        let start = panel * p, size = min(p, o - start)
        func dot(_ type: Int32, _ rows: UnsafeRawPointer, _ rowBytes: Int) {
            let done = scalpel_dot_rows(type, rows, rowBytes, Int64(size), input, Int64(n), Int64(i), Int64(i),
                                        output + start, Int64(o), 0)
            precondition(done == 1, "rowProducts: the block kernels do not read GGML type \(type)")
        }
        switch weight {
        case .dense(let w):
            dot(0, w + start * i, 4 * i)
        case .decoded(_, let blocks?):
            dot(blocks.type, blocks.base + start * blocks.rowBytes, blocks.rowBytes)
        case .decoded(let decode, nil):
            decode(start..<(start + size), 0..<i, buffer, i)
            dot(0, buffer, 4 * i)
        }
        if let bias { addBias(bias, to: output, rows: n, outFeatures: o, columns: start..<(start + size)) }
    }
}

/// y = x · Wᵀ (+ b) with int8 activations, for any number of rows: x quantized once (q8_kernels.h), then
/// the cores take panels of W's rows. Each output is the one the kernels define, whatever the panels.
func integerRowProducts(
    output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, blocks: EncodedBlocks,
    bias: UnsafePointer<Float>?, rows n: Int, inFeatures i: Int, outFeatures o: Int
) {
    let stride = scalpel_q8_bytes(Int64(i))
    let quantized = UnsafeMutableRawPointer.allocate(byteCount: max(stride * n, 1), alignment: 64)
    defer { quantized.deallocate() }
    precondition(stride > 0, "integerRowProducts: \(i) columns are not whole groups of 32")
    let rows = UncheckedSendable((input, quantized))
    parallelChunks(n, minimumPerChunk: max(1, 16_384 / i)) { range in    // each row alone: any split, same bytes
        let (input, quantized) = rows.value
        for v in range { _ = scalpel_quantize_q8(input + v * i, Int64(i), quantized + v * stride) }
    }
    let p = panelRows(rows: o, width: i)
    let operands = UncheckedSendable((output, UnsafeRawPointer(quantized), bias))
    forEachPanel(count: (o + p - 1) / p, bufferElements: 0, multiplyAdds: n * o * i) { panel, _ in
        let (output, quantized, bias) = operands.value
        let start = panel * p, size = min(p, o - start)
        let done = scalpel_dot_rows_q8(blocks.type, blocks.base + start * blocks.rowBytes, blocks.rowBytes, Int64(size),
                                       quantized, Int64(n), Int64(i), output + start, Int64(o),
                                       Int32(SCALPEL_PATH_CHOSEN))
        precondition(done == 1, "integerRowProducts: the integer kernels do not read GGML type \(blocks.type)")
        if let bias { addBias(bias, to: output, rows: n, outFeatures: o, columns: start..<(start + size)) }
    }
}

/// y = x · Wᵀ (+ b) in bfloat16, for any number of rows: x rounded once (bf16_kernels.h), then the cores
/// take panels of W's rows, each decoded if W is encoded, then rounded. Each output is the one the kernels
/// define, whatever the panels.
func bfloatProducts(
    output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, weight: PanelSource,
    bias: UnsafePointer<Float>?, rows n: Int, inFeatures i: Int, outFeatures o: Int
) {
    let x = UnsafeMutablePointer<UInt16>.allocate(capacity: n * i)
    defer { x.deallocate() }
    let rows = UncheckedSendable((input, x))
    parallelChunks(n, minimumPerChunk: max(1, 16_384 / i)) { range in
        let (input, x) = rows.value
        scalpel_bf16_round(input + range.lowerBound * i, Int64(range.count * i), x + range.lowerBound * i)
    }
    let p = panelRows(rows: o, width: i)
    let decoded = if case .decoded = weight { p * i } else { 0 }
    let operands = UncheckedSendable((output, UnsafePointer(x), bias))
    // Each core's buffer: the panel decoded (an encoded W), then the panel rounded.
    forEachPanel(count: (o + p - 1) / p, bufferElements: decoded + (p * i + 1) / 2,
                 multiplyAdds: n * o * i) { panel, buffer in
        let (output, x, bias) = operands.value
        let start = panel * p, size = min(p, o - start)
        let w = weight.rows(start..<(start + size), 0..<i, width: i, buffer: buffer)
        let rounded = UnsafeMutableRawPointer(buffer + decoded).bindMemory(to: UInt16.self, capacity: size * i)
        for r in 0..<size { scalpel_bf16_round(w.pointer + r * w.ld, Int64(i), rounded + r * i) }
        let done = scalpel_dot_rows_bf16(rounded, Int64(i), Int64(size), x, Int64(i), Int64(n), Int64(i),
                                         output + start, Int64(o), Int32(SCALPEL_PATH_CHOSEN))
        precondition(done == 1, "bfloatProducts: \(Precision.bf16.unavailable ?? "the bf16 kernels refused k = \(i)")")
        if let bias { addBias(bias, to: output, rows: n, outFeatures: o, columns: start..<(start + size)) }
    }
}

/// y[v, r] += b[r] for r in `columns`, v < n.
private func addBias(_ bias: UnsafePointer<Float>, to output: UnsafeMutablePointer<Float>,
                     rows n: Int, outFeatures o: Int, columns: Range<Int>) {
    for v in 0..<n {
        for r in columns { output[v * o + r] += bias[r] }
    }
}

/// dx (+)= dy · W, W taken in chunks of `panelRows` rows (summed in order) and groups of `panelColumns`
/// columns (one per task); `overwrite` replaces dx instead of adding to it.
/// - dInput: [N, I]; dOutput: [N, O]
public func panelLinearInputGradient(
    dInput: UnsafeMutablePointer<Float>, dOutput: UnsafePointer<Float>, weight: PanelSource,
    rows n: Int, inFeatures i: Int, outFeatures o: Int, overwrite: Bool = false
) {
    if n == 0 || i == 0 { return }
    if o == 0 {
        if overwrite { dInput.update(repeating: 0, count: n * i) }
        return
    }
    let (p, g) = (panelRows(rows: o, width: i), panelColumns(width: i))
    let operands = UncheckedSendable((dInput, dOutput))
    let buffered = if case .decoded = weight { p * g } else { 0 }
    forEachPanel(count: (i + g - 1) / g, bufferElements: buffered, multiplyAdds: n * o * i) { group, buffer in
        let (dInput, dOutput) = operands.value
        let columns = (group * g)..<min(i, (group + 1) * g)
        for start in stride(from: 0, to: o, by: p) {
            let size = min(p, o - start)
            let w = weight.rows(start..<(start + size), columns, width: i, buffer: buffer)
            let beta: Float = overwrite && start == 0 ? 0 : 1
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(columns.count), Int32(size), 1,
                        dOutput + start, Int32(o), w.pointer, Int32(w.ld), beta, dInput + columns.lowerBound, Int32(i))
        }
    }
}

extension PanelSource {
    /// The blocks int8 products read: under `Precision.int8`, a weight in ggml blocks of 32 or 256
    /// elements with nothing laid over them; otherwise nil, and products stay in Float32.
    var integerBlocks: EncodedBlocks? {
        guard Precision.current == .int8, case .decoded(_, let blocks?) = self,
              scalpel_q8_supported(blocks.type) != 0 else { return nil }
        return blocks
    }

    /// Rows × columns of W as an sgemm operand: in place when dense, else decoded into `buffer`.
    /// - width: I, the row stride of a dense W
    func rows(_ rows: Range<Int>, _ columns: Range<Int>, width: Int,
              buffer: UnsafeMutablePointer<Float>) -> (pointer: UnsafePointer<Float>, ld: Int) {
        switch self {
        case .dense(let w):
            return (w + rows.lowerBound * width + columns.lowerBound, width)
        case .decoded(let decode, _):
            decode(rows, columns, buffer, columns.count)
            return (UnsafePointer(buffer), columns.count)
        }
    }
}

/// The fewest multiply-adds each core is given: a product of fewer than twice as many stays on one
/// core, where waking a second costs more than it saves. A decoding step of SmolLM2 (products of 0.1–0.9
/// million, and its 28-million head) ran at 169 tokens/s on one core and 117 on two with every product
/// split, at 180 with this; a 7B model's (17–45 million) gain from the split.
let multiplyAddsPerWorker = 2_000_000

/// Runs `body(panel, buffer)` for every panel, the cores taking contiguous runs of panels, each core
/// with its own buffer of `bufferElements` Floats, and as many cores as `multiplyAdds` (the whole call's)
/// keep busy. What each panel computes does not depend on the split.
func forEachPanel(count: Int, bufferElements: Int, multiplyAdds: Int,
                  _ body: @Sendable (Int, UnsafeMutablePointer<Float>) -> Void) {
    _ = blasRunsSingleThreaded
    let workers = min(Parallelism.cores, count, max(1, multiplyAdds / multiplyAddsPerWorker))
    if workers <= 1 {
        withPanelBuffer(bufferElements) { buffer in for panel in 0..<count { body(panel, buffer) } }
        return
    }
    let share = (count + workers - 1) / workers
    DispatchQueue.concurrentPerform(iterations: workers) { worker in
        let range = (worker * share)..<min(count, (worker + 1) * share)
        withPanelBuffer(bufferElements) { buffer in for panel in range { body(panel, buffer) } }
    }
}

private func withPanelBuffer(_ elements: Int, _ body: (UnsafeMutablePointer<Float>) -> Void) {
    let buffer = UnsafeMutablePointer<Float>.allocate(capacity: max(elements, 1))
    defer { buffer.deallocate() }
    body(buffer)
}

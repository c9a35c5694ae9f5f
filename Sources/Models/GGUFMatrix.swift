import Checkpoints
import TensorCore

/// A GGUF weight matrix read in place: its rows are the file's own blocks in the memory-mapped data
/// section, decoded when a product reaches them. Nothing is copied at load; the file stays mapped for
/// as long as a model uses one of its tensors.
///
/// Rows are `shape[1]` elements long, a whole number of blocks (the GGUF reader checks it), so row r's
/// blocks start `r · rowBytes` into the tensor.
struct GGUFMatrix: EncodedMatrix, @unchecked Sendable {
    let file: GGUFFile
    let info: GGUFTensorInfo
    let base: UnsafeRawPointer
    let rowBytes: Int

    var shape: [Int] { info.shape }
    var granule: Int { info.type.blockSize }
    var encoding: String { info.type.name }
    var encodedByteCount: Int { info.byteCount }

    /// Types kept encoded: the compact ones Scalpel reads. F32 (and the integer types, which no weight
    /// uses) are simply copied, as before.
    static func keepsEncoded(_ type: GGMLType) -> Bool {
        type != .f32 && type != .f64 && canDequantize(type) && ![GGMLType.i8, .i16, .i32, .i64].contains(type)
    }

    init?(file: GGUFFile, name: String) {
        guard let info = file.tensor(named: name), info.dimensions.count == 2, Self.keepsEncoded(info.type),
              info.byteCount > 0, let base = file.data(of: info).baseAddress else { return nil }
        self.file = file
        self.info = info
        self.base = base
        rowBytes = info.byteCount / info.shape[0]
    }

    var blocks: EncodedBlocks? { EncodedBlocks(type: Int32(info.type.rawValue), base: base, rowBytes: rowBytes) }

    func decode(rows: Range<Int>, columns: Range<Int>, into out: UnsafeMutablePointer<Float>, ld: Int) {
        let type = info.type
        precondition(columns.lowerBound % type.blockSize == 0 &&
                     (columns.upperBound % type.blockSize == 0 || columns.upperBound == shape[1]),
                     "GGUFMatrix: columns \(columns) of '\(info.name)' " +
                     "do not fall on its \(type.blockSize)-element blocks")
        let offset = columns.lowerBound / type.blockSize * type.blockBytes
        for r in rows {
            dequantizeElements(type, from: base + r * rowBytes + offset, count: columns.count,
                               into: out + (r - rows.lowerBound) * ld)
        }
    }
}

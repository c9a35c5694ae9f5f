import Checkpoints
import Foundation
import Interventions

/// Writes an edited GGUF: the base file with the edited tensors replaced and the edit recorded in the
/// metadata. Every other tensor is copied byte for byte. The write is atomic.
///
/// Modes:
/// - `on-grid` (default): edited tensors keep the base's type, and only the edited neurons' bytes change.
///   A row that belongs to one neuron (its W_gate and W_up rows, or its W_in row) is requantized in the
///   base's type, as llama.cpp's reference quantizer would (every type Scalpel reads has an encoder: Q8_0,
///   Q5_0, Q5_1, Q4_0, Q4_1, Q2_K…Q6_K, F16, BF16), so its blocks' scales may change. A W_down column,
///   which crosses blocks shared with other neurons, and a row that is not a whole number of blocks, are
///   rounded onto each block's existing grid, keeping its scale and minimum, so only the edited elements'
///   codes change. On an F32 base this is `exact`.
/// - `exact`: edited tensors are stored as F32, so every weight outside the mask keeps exactly its base
///   value; refused beyond `exactLimitBytes`, where the F32 tensors would dwarf a quantized file;
/// - `f16`: edited tensors as F16 (half the size of F32; rounds every weight of those tensors);
/// - `requantize`: edited tensors in their own quantized type (smallest; rounds every block again).
public enum EditedCheckpoint {
    public enum Mode: String, Sendable, CaseIterable { case onGrid = "on-grid", exact, f16, requantize }

    public static let neuronsKey = "scalpel.edit.neurons"
    /// Float64: the edit's test accuracy in Float32, recorded where the written file rounds it.
    public static let float32AccuracyKey = "scalpel.edit.float32_test_accuracy"
    /// `exact` writes at most this many bytes of F32 tensors (1 GiB: SmolLM2's 90 edited tensors take 0.3).
    public static let exactLimitBytes = 1 << 30

    /// - edited: tensor name → its new values (dequantized layout, row-major as stored), made when the
    ///   tensor is written, so that one edited tensor at a time is in memory in Float32.
    /// - wholeRows: the edited tensors whose rows each belong to one neuron (requantized row by row on-grid).
    public static func write(base: GGUFFile, edited: [String: () -> [Float]], mode: Mode, wholeRows: Set<String> = [],
                             metadata extra: [(String, GGUFValue)], to url: URL) throws {
        var infos: [String: GGUFTensorInfo] = [:]
        for name in edited.keys {
            guard let info = base.tensor(named: name) else { throw GGUFError.unknownTensor(name) }
            infos[name] = info
        }
        if mode == .exact {
            let bytes = infos.values.reduce(0) { $0 + 4 * $1.elementCount }
            guard bytes <= exactLimitBytes else {
                throw EditError.tooLargeForExact(bytes: bytes, limit: exactLimitBytes)
            }
        }
        var replacing: [String: (type: GGMLType, bytes: () throws -> [UInt8])] = [:]
        for (name, values) in edited {
            let info = infos[name]!
            switch mode {
            case .exact: replacing[name] = (.f32, { try quantize(values(), to: .f32) })
            case .f16: replacing[name] = (.f16, { try quantize(values(), to: .f16) })
            case .requantize: replacing[name] = (info.type, { try quantize(values(), to: info.type) })
            case .onGrid:
                replacing[name] = (info.type, {
                    try onGrid(base: base, info, values(), wholeRows: wholeRows.contains(name))
                })
            }
        }
        let keys = Set(extra.map(\.0))
        let entries = base.metadata.entries.filter { !keys.contains($0.key) }.map { ($0.key, $0.value) } + extra
        try base.write(to: url, metadata: entries, replacing: replacing)
    }

    /// The base tensor's bytes with each changed element (one whose value is not the base's, bit for bit)
    /// put back on the grid: its whole row requantized when the row is one neuron's and `quantize` takes
    /// it (the type has an encoder and the row is whole blocks), else its code alone rounded onto its
    /// block's grid.
    static func onGrid(base: GGUFFile, _ info: GGUFTensorInfo, _ values: [Float], wholeRows: Bool) throws -> [UInt8] {
        let type = info.type
        let original = try base.dequantized(info.name)
        var bytes = Array(base.data(of: info))
        guard values.count == original.count else {
            throw GGUFError.writerMismatch("edited '\(info.name)' has \(values.count) values, " +
                                           "the base \(original.count)")
        }
        let columns = info.dimensions.first ?? 1, rows = original.count / max(columns, 1)
        let rowBytes = type.byteCount(elements: columns)!
        try bytes.withUnsafeMutableBytes { raw in
            for r in 0..<rows {
                let row = (r * columns)..<((r + 1) * columns)
                let changed = row.filter { values[$0].bitPattern != original[$0].bitPattern }
                if changed.isEmpty { continue }
                if wholeRows, let encoded = try? quantize(Array(values[row]), to: type), encoded.count == rowBytes {
                    raw.baseAddress!.advanced(by: r * rowBytes).copyMemory(from: encoded, byteCount: rowBytes)
                    continue
                }
                for i in changed {
                    let c = i - row.lowerBound
                    let block = raw.baseAddress! + r * rowBytes + c / type.blockSize * type.blockBytes
                    guard roundOntoGrid(type, block: block, element: c % type.blockSize, target: values[i]) else {
                        throw GGUFError.cannotDequantize(tensor: info.name, type: type.name)
                    }
                }
            }
        }
        return bytes
    }

    /// The neurons an edited file records, as "layer:neuron" pairs.
    public static func encode(_ neurons: [Intervention.Neuron]) -> String {
        neurons.map { "\($0.layer):\($0.neuron)" }.joined(separator: ",")
    }

    public static func decode(_ text: String) -> [Intervention.Neuron]? {
        var out: [Intervention.Neuron] = []
        for part in text.split(separator: ",") {
            let pair = part.split(separator: ":").compactMap { Int($0) }
            guard pair.count == 2 else { return nil }
            out.append(Intervention.Neuron(layer: pair[0], neuron: pair[1]))
        }
        return out
    }
}

public enum EditError: Error, CustomStringConvertible {
    case tooLargeForExact(bytes: Int, limit: Int)
    public var description: String {
        switch self {
        case .tooLargeForExact(let bytes, let limit):
            String(format: "edit.write: exact would store the edited tensors as %.1f GB of F32, " +
                   "beyond the %.1f GB it allows; use edit.write: on-grid, " +
                   "which keeps the base's format and changes only the edited neurons' bytes",
                   Double(bytes) / 1e9, Double(limit) / 1e9)
        }
    }
}

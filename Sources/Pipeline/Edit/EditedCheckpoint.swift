import Checkpoints
import Foundation

/// Writes an edited GGUF: the base file with the edited tensors replaced and the edit recorded in the
/// metadata. Every other tensor is copied byte for byte. The write is atomic.
///
/// Modes:
/// - `exact` (default): edited tensors are stored as F32, so every weight outside the mask keeps exactly
///   its base value (requantizing would move the other weights of every block a W_down column crosses);
/// - `f16`: edited tensors as F16 (half the size of F32; rounds every weight of those tensors);
/// - `requantize`: edited tensors in their own quantized type (smallest; rounds every block again).
public enum EditedCheckpoint {
    public enum Mode: String, Sendable, CaseIterable { case exact, f16, requantize }

    public static let neuronsKey = "scalpel.edit.neurons"

    /// - edited: tensor name → its new values (dequantized layout, row-major as stored).
    public static func write(base: GGUFFile, edited: [String: [Float]], mode: Mode, metadata extra: [(String, GGUFValue)], to url: URL) throws {
        var replacing: [String: (type: GGMLType, bytes: [UInt8])] = [:]
        for (name, values) in edited {
            guard let info = base.tensor(named: name) else { throw GGUFError.unknownTensor(name) }
            let type: GGMLType
            switch mode {
            case .exact: type = .f32
            case .f16: type = .f16
            case .requantize: type = info.type
            }
            replacing[name] = (type, try quantize(values, to: type))
        }
        let keys = Set(extra.map(\.0))
        let entries = base.metadata.entries.filter { !keys.contains($0.key) }.map { ($0.key, $0.value) } + extra
        try base.write(to: url, metadata: entries, replacing: replacing)
    }

    /// The neurons an edited file records, as "layer:neuron" pairs.
    public static func encode(_ neurons: [Intervention.Neuron]) -> String { neurons.map { "\($0.layer):\($0.neuron)" }.joined(separator: ",") }

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

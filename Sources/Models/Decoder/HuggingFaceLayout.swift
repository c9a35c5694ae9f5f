import Checkpoints

/// The rearrangements between a Hugging Face tensor and the GGUF array the decoder computes with, both
/// ways. Each only moves elements, so HF → GGUF → HF gives back the same bytes.
extension HuggingFaceLayout {
    /// HF array → GGUF array. - hfShape: the tensor's shape in the HF file
    public func toGGUF(_ values: [Float], hfShape: [Int], config: DecoderConfig) -> (values: [Float], shape: [Int]) {
        rearranged(values, shape: hfShape, config: config, toGGUF: true)
    }

    /// GGUF array → HF array. - shape: the GGUF ([out, in]) shape
    public func toHuggingFace(_ values: [Float], shape: [Int],
                              config: DecoderConfig) -> (values: [Float], shape: [Int]) {
        rearranged(values, shape: shape, config: config, toGGUF: false)
    }

    /// Each move and its inverse: a transpose is its own inverse; the others run one way or back.
    func rearranged(_ values: [Float], shape: [Int], config: DecoderConfig,
                    toGGUF: Bool) -> (values: [Float], shape: [Int]) {
        let width = shape.count == 2 ? shape[1] : 1
        switch self {
        case .transposed: return (Self.transpose(values, rows: shape[0], columns: shape[1]), [shape[1], shape[0]])
        case .ropePermutedQuery, .ropePermutedKey:
            let heads = self == .ropePermutedQuery ? config.heads : config.kvHeads
            return (Self.interleave(values, heads: heads, headDim: config.headDim, width: width,
                                    inverse: !toGGUF), shape)
        case .perHeadQKV:
            return (Self.regroupQKV(values, heads: config.heads, headDim: config.headDim, width: width,
                                    toGGUF: toGGUF), shape)
        }
    }

    /// [rows, columns] → [columns, rows].
    static func transpose(_ values: [Float], rows: Int, columns: Int) -> [Float] {
        var out = values
        for r in 0..<rows { for c in 0..<columns { out[c * rows + r] = values[r * columns + c] } }
        return out
    }

    /// gguf-py's `permute` for llama.cpp's interleaved RoPE: within each head, HF row j·D/2 + i becomes
    /// row 2i + j (`inverse` undoes it). - values: [heads·D, width]
    static func interleave(_ values: [Float], heads: Int, headDim d: Int, width: Int, inverse: Bool) -> [Float] {
        var out = values
        for h in 0..<heads { for i in 0..<(d / 2) { for j in 0..<2 {
            let hf = (h * d + j * (d / 2) + i) * width, gguf = (h * d + 2 * i + j) * width
            let (from, to) = inverse ? (gguf, hf) : (hf, gguf)
            for c in 0..<width { out[to + c] = values[from + c] }
        } } }
        return out
    }

    /// NeoX's query_key_value rows: per head [q_h; k_h; v_h] in HF, [Q; K; V] in GGUF (llama.cpp's
    /// converter regroups them). - values: [3·H·D, width] (width 1 for the bias)
    static func regroupQKV(_ values: [Float], heads h: Int, headDim d: Int, width: Int, toGGUF: Bool) -> [Float] {
        var out = values
        for head in 0..<h { for part in 0..<3 { for i in 0..<d {
            let hf = ((head * 3 + part) * d + i) * width, gguf = ((part * h + head) * d + i) * width
            let (from, to) = toGGUF ? (hf, gguf) : (gguf, hf)
            for c in 0..<width { out[to + c] = values[from + c] }
        } } }
        return out
    }
}

/// A Hugging Face folder's tensors seen as the GGUF-named arrays the decoder loads.
struct HuggingFaceWeights {
    let folder: SafetensorsFolder
    let family: DecoderFamily
    /// GGUF name → (HF name, role).
    let names: [String: (hf: String, role: TensorRole)]

    /// Tensors HF files carry that are not weights (causal-mask buffers, cached RoPE frequencies).
    static func isBuffer(_ name: String) -> Bool {
        name.hasSuffix(".attn.bias") && !name.contains("c_attn") || name.hasSuffix(".attn.masked_bias") ||
            name.hasSuffix(".attention.bias") || name.hasSuffix(".attention.masked_bias") ||
            name.hasSuffix("rotary_emb.inv_freq")
    }

    init(folder: SafetensorsFolder, family: DecoderFamily, tied: Bool) throws {
        self.folder = folder
        self.family = family
        var names: [String: (hf: String, role: TensorRole)] = [:]
        var unknown: [String] = []
        for hf in folder.tensors.keys.sorted() {
            let found = TensorNameMap.role(of: hf, family: family.family)
            if let (role, layer) = found, !(tied && role == .output) {
                names[TensorNameMap.decoderName(role, layer: layer)] = (hf, role)
            } else if found == nil && !Self.isBuffer(hf) {
                unknown.append(hf)        // a tied head's lm_head.weight is skipped, not unknown
            }
        }
        if !unknown.isEmpty { throw ModelError.unexpectedTensors(unknown) }
        self.names = names
    }

    /// The source the decoder reads: GGUF names and shapes, HF arrays rearranged.
    func source(config: DecoderConfig) -> WeightSource {
        var shapes: [String: [Int]] = [:]
        for (gguf, entry) in names {
            let shape = folder.tensors[entry.hf]!.shape
            shapes[gguf] = family.huggingFaceLayouts[entry.role] == .transposed && shape.count == 2
                ? [shape[1], shape[0]] : shape
        }
        return WeightSource(shapes: shapes) { gguf in
            let entry = names[gguf]!
            let values = try folder.floats(entry.hf)
            guard let layout = family.huggingFaceLayouts[entry.role] else { return values }
            return layout.toGGUF(values, hfShape: folder.tensors[entry.hf]!.shape, config: config).values
        }
    }
}

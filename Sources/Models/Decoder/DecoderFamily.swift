import Checkpoints
import TensorCore

/// What is fixed for a decoder family, as data: the block description's constant parts, the names its
/// files use, and how its Hugging Face tensors are laid out compared with GGUF's. The rest of the block
/// description comes from the checkpoint's configuration (`DecoderConfigReader`).
///
/// Sources: transformers' modeling_<family>.py, llama.cpp's llama-arch.cpp / llama-model.cpp (which
/// RoPE layout each architecture uses) and convert_hf_to_gguf.py (how tensors change on conversion).
public struct DecoderFamily: Sendable {
    public let family: ModelFamily
    /// `general.architecture` of its GGUFs (Mistral's converter writes `llama`).
    public let ggufArchitecture: String
    let norm: DecoderConfig.NormKind
    /// The HF checkpoint stores RMSNorm weights as w in (1 + w); llama.cpp's converter folds the 1 in.
    let huggingFaceNormOffset: Float
    let sandwichNorms: Bool
    let fusedQKV: Bool
    let qkNorm: Bool
    /// llama.cpp permutes Llama's Q/K rows for its interleaved RoPE; other families keep HF's rotate-half.
    let ggufRoPELayout: RoPELayout
    let learnedPositions: Bool
    let gated: Bool
    let fusedGateUp: Bool
    /// Linear layers always carry biases (GPT-2, NeoX).
    let biases: Bool
    let parallelResidual: Bool
    let scaledEmbeddings: Bool
    let activation: Activation
    let tiedByDefault: Bool
    /// How HF tensors differ from GGUF's, by role (everything else is the same array).
    let huggingFaceLayouts: [TensorRole: HuggingFaceLayout]

    /// The block description of a GGUF with this architecture.
    public func config(gguf metadata: GGUFMetadata, tensorShapes: [String: [Int]],
                       tensor: (String) throws -> [Float]) throws -> DecoderConfig {
        try DecoderConfigReader(family: self, source: .gguf(metadata, architecture: ggufArchitecture))
            .read(tensorShapes: tensorShapes, tensor: tensor)
    }

    /// The block description of a Hugging Face folder's config.json.
    public func config(huggingFace file: HuggingFaceConfig, tensorShapes: [String: [Int]]) throws -> DecoderConfig {
        try DecoderConfigReader(family: self, source: .huggingFace(file)).read(tensorShapes: tensorShapes) { _ in [] }
    }
}

/// How a Hugging Face tensor's array differs from the GGUF one Scalpel computes with. Each is a pure
/// rearrangement, so a round trip gives back the same bytes.
public enum HuggingFaceLayout: Sendable {
    /// GPT-2's Conv1D stores [in, out].
    case transposed
    /// Q or K rows in HF's rotate-half order where llama.cpp permutes them for interleaved RoPE.
    case ropePermutedQuery, ropePermutedKey
    /// NeoX's fused QKV rows grouped per head, [q_h; k_h; v_h], where GGUF has [Q; K; V].
    case perHeadQKV
}

extension DecoderFamily {
    /// Every decoder family Scalpel runs.
    public static let all: [DecoderFamily] = [llama, mistral, qwen2, qwen3, phi3, gemma2, gemma3, gpt2, gptneox]

    public static func named(huggingFace modelType: String) -> DecoderFamily? {
        let type = modelType == "gemma3_text" ? "gemma3" : modelType
        return all.first { $0.family.rawValue == type }
    }

    public static func named(gguf architecture: String) -> DecoderFamily? {
        all.first { $0.ggufArchitecture == architecture && $0.family != .mistral }
    }

    static let llamaPermutation: [TensorRole: HuggingFaceLayout] = [.attentionQuery: .ropePermutedQuery,
                                                                    .attentionKey: .ropePermutedKey]

    public static let llama = DecoderFamily(
        family: .llama, ggufArchitecture: "llama", norm: .rms, huggingFaceNormOffset: 0, sandwichNorms: false,
        fusedQKV: false, qkNorm: false, ggufRoPELayout: .interleaved, learnedPositions: false, gated: true,
        fusedGateUp: false, biases: false, parallelResidual: false, scaledEmbeddings: false, activation: .silu,
        tiedByDefault: false, huggingFaceLayouts: llamaPermutation)

    public static let mistral = llama.with(family: .mistral)

    public static let qwen2 = DecoderFamily(
        family: .qwen2, ggufArchitecture: "qwen2", norm: .rms, huggingFaceNormOffset: 0, sandwichNorms: false,
        fusedQKV: false, qkNorm: false, ggufRoPELayout: .rotateHalf, learnedPositions: false, gated: true,
        fusedGateUp: false, biases: false, parallelResidual: false, scaledEmbeddings: false, activation: .silu,
        tiedByDefault: false, huggingFaceLayouts: [:])

    public static let qwen3 = qwen2.with(family: .qwen3, ggufArchitecture: "qwen3", qkNorm: true)

    public static let phi3 = DecoderFamily(
        family: .phi3, ggufArchitecture: "phi3", norm: .rms, huggingFaceNormOffset: 0, sandwichNorms: false,
        fusedQKV: true, qkNorm: false, ggufRoPELayout: .rotateHalf, learnedPositions: false, gated: true,
        fusedGateUp: true, biases: false, parallelResidual: false, scaledEmbeddings: false, activation: .silu,
        tiedByDefault: false, huggingFaceLayouts: [:])

    public static let gemma2 = DecoderFamily(
        family: .gemma2, ggufArchitecture: "gemma2", norm: .rms, huggingFaceNormOffset: 1, sandwichNorms: true,
        fusedQKV: false, qkNorm: false, ggufRoPELayout: .rotateHalf, learnedPositions: false, gated: true,
        fusedGateUp: false, biases: false, parallelResidual: false, scaledEmbeddings: true, activation: .geluTanh,
        tiedByDefault: true, huggingFaceLayouts: [:])

    public static let gemma3 = gemma2.with(family: .gemma3, ggufArchitecture: "gemma3", qkNorm: true)

    public static let gpt2 = DecoderFamily(
        family: .gpt2, ggufArchitecture: "gpt2", norm: .layer, huggingFaceNormOffset: 0, sandwichNorms: false,
        fusedQKV: true, qkNorm: false, ggufRoPELayout: .rotateHalf, learnedPositions: true, gated: false,
        fusedGateUp: false, biases: true, parallelResidual: false, scaledEmbeddings: false, activation: .geluTanh,
        tiedByDefault: true,
        huggingFaceLayouts: [.attentionQKV: .transposed, .attentionOutput: .transposed, .ffnUp: .transposed,
                             .ffnDown: .transposed])

    public static let gptneox = DecoderFamily(
        family: .gptneox, ggufArchitecture: "gptneox", norm: .layer, huggingFaceNormOffset: 0, sandwichNorms: false,
        fusedQKV: true, qkNorm: false, ggufRoPELayout: .rotateHalf, learnedPositions: false, gated: false,
        fusedGateUp: false, biases: true, parallelResidual: true, scaledEmbeddings: false, activation: .geluErf,
        tiedByDefault: false, huggingFaceLayouts: [.attentionQKV: .perHeadQKV, .attentionQKVBias: .perHeadQKV])

    func with(family: ModelFamily, ggufArchitecture: String? = nil, qkNorm: Bool? = nil) -> DecoderFamily {
        DecoderFamily(family: family, ggufArchitecture: ggufArchitecture ?? self.ggufArchitecture, norm: norm,
                      huggingFaceNormOffset: huggingFaceNormOffset, sandwichNorms: sandwichNorms, fusedQKV: fusedQKV,
                      qkNorm: qkNorm ?? self.qkNorm, ggufRoPELayout: ggufRoPELayout, learnedPositions: learnedPositions,
                      gated: gated, fusedGateUp: fusedGateUp, biases: biases, parallelResidual: parallelResidual,
                      scaledEmbeddings: scaledEmbeddings, activation: activation, tiedByDefault: tiedByDefault,
                      huggingFaceLayouts: huggingFaceLayouts)
    }
}

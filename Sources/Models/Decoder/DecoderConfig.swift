import Checkpoints
import TensorCore

/// Everything the generic decoder needs to know about a model: sizes, and one flag per behaviour, never
/// a family name. A family file (`DecoderFamily`) only turns its checkpoint's configuration into this.
///
/// A block, with norm N, attention A and FFN M:
///   sequential:  h = x + post(A(N₁(x)));  y = h + post(M(N₂(h)))
///   parallel:    y = x + A(N₁(x)) + M(N₂(x))                           (GPT-NeoX)
/// The stream starts as embed(ids)·scale (+ learned positions) and ends in N_f, then the head.
public struct DecoderConfig: Sendable, Equatable {
    /// The family's Hugging Face `model_type` (`llama`, `qwen2`, `gpt2`, …), for exports and records;
    /// the decoder itself never reads it.
    public var family: String
    public var hiddenSize: Int            // C
    public var intermediateSize: Int      // F, the FFN neurons per layer
    public var layers: Int                // L
    public var heads: Int                 // H
    public var kvHeads: Int               // G
    public var headDim: Int               // D
    public var vocabularySize: Int        // V
    public var contextLength: Int
    public var norm: Norm
    public var attention: Attention
    /// nil: learned absolute positions (GPT-2's `position_embd`); otherwise rotary.
    public var rope: RoPE?
    public var ffn: FFN
    /// x + attn(ln₁ x) + ffn(ln₂ x), both from the block's input (GPT-NeoX, GPT-J).
    public var parallelResidual: Bool = false
    /// Token embeddings are multiplied by this (Gemma: √C rounded to float32).
    public var embeddingScale: Float? = nil
    public var tiedEmbeddings: Bool
    /// logits = cap·tanh(logits/cap) (Gemma 2, Gemma 3 when set).
    public var finalLogitSoftcap: Float? = nil

    public enum NormKind: String, Sendable, Codable { case rms, layer }

    public struct Norm: Sendable, Equatable {
        public var kind: NormKind
        public var eps: Float
        /// RMSNorm multiplies by (offset + w): 1 where the weights are stored as Gemma's HF checkpoints
        /// store them, 0 where the offset is folded in (llama.cpp's converter adds 1 to Gemma's norms).
        public var weightOffset: Float = 0
        /// LayerNorm with a bias (GPT-2, NeoX).
        public var bias: Bool = false
        /// Norms after attention and after the FFN as well as before (Gemma 2 and 3).
        public var sandwich: Bool = false

        public init(kind: NormKind, eps: Float, weightOffset: Float = 0, bias: Bool = false, sandwich: Bool = false) {
            (self.kind, self.eps, self.weightOffset, self.bias, self.sandwich) =
                (kind, eps, weightOffset, bias, sandwich)
        }
    }

    public struct Attention: Sendable, Equatable {
        /// One [Q; K; V] projection (GPT-2, NeoX, Phi-3) instead of three.
        public var fusedQKV: Bool = false
        public var qkvBias: Bool = false
        public var outputBias: Bool = false
        /// RMSNorm over each head of Q and K before RoPE (Qwen3, Gemma 3).
        public var qkNorm: Bool = false
        /// Scores are multiplied by this (1/√D unless the family says otherwise).
        public var scale: Float
        /// scores = cap·tanh(scores/cap) before the mask (Gemma 2).
        public var softcap: Float? = nil
        /// The sliding window of each layer, nil where the layer is global. [L]
        public var windows: [Int?]

        public init(scale: Float, windows: [Int?]) { (self.scale, self.windows) = (scale, windows) }
    }

    public struct RoPE: Sendable, Equatable {
        /// Which channels pair up: interleaved (llama.cpp's Llama layout, rows permuted by its converter)
        /// or rotate-half (HF; llama.cpp's NeoX mode for Qwen, Phi-3, Gemma, NeoX).
        public var layout: RoPELayout
        /// R ≤ D: only the first R channels of each head turn (NeoX 0.25, Phi-3 at times).
        public var rotaryDims: Int
        public var base: Double
        /// The base of sliding-window layers where it differs (Gemma 3's local layers).
        public var localBase: Double? = nil
        public var scaling: RoPEScaling = .none

        public init(layout: RoPELayout, rotaryDims: Int, base: Double, localBase: Double? = nil,
                    scaling: RoPEScaling = .none) {
            (self.layout, self.rotaryDims, self.base, self.localBase, self.scaling) =
                (layout, rotaryDims, base, localBase, scaling)
        }
    }

    public struct FFN: Sendable, Equatable {
        /// act(W_gate x)·(W_up x) when gated; act(W_in x + b) when plain (GPT-2, NeoX).
        public var gated: Bool
        public var activation: Activation
        /// Gate and up stored as one [2F, C] tensor, gate rows first (Phi-3's gate_up_proj).
        public var fusedGateUp: Bool = false
        public var bias: Bool = false

        public init(gated: Bool, activation: Activation, fusedGateUp: Bool = false, bias: Bool = false) {
            (self.gated, self.activation, self.fusedGateUp, self.bias) = (gated, activation, fusedGateUp, bias)
        }
    }

    public init(family: String, hiddenSize: Int, intermediateSize: Int, layers: Int, heads: Int, kvHeads: Int,
                headDim: Int? = nil, vocabularySize: Int, contextLength: Int = 2048, norm: Norm,
                attention: Attention? = nil, rope: RoPE?, ffn: FFN, tiedEmbeddings: Bool) {
        self.family = family
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.layers = layers
        self.heads = heads
        self.kvHeads = kvHeads
        let d = headDim ?? hiddenSize / max(heads, 1)
        self.headDim = d
        self.vocabularySize = vocabularySize
        self.contextLength = contextLength
        self.norm = norm
        self.attention = attention ??
            Attention(scale: 1 / Float(d).squareRoot(), windows: Array(repeating: nil, count: layers))
        self.rope = rope
        self.ffn = ffn
        self.tiedEmbeddings = tiedEmbeddings
    }
}

/// How RoPE's frequencies are stretched for long contexts (HF's `rope_type`).
public enum RoPEScaling: Sendable, Equatable {
    case none
    /// Positions divided by the factor (HF `linear`; GGUF `rope.scaling.type = linear`).
    case linear(factor: Double)
    /// Llama 3.1's NTK-by-parts: long wavelengths divided by `factor`, short ones kept, the middle blended.
    case llama3(factor: Double, lowFrequencyFactor: Double, highFrequencyFactor: Double, originalContext: Int)
    /// One divisor per rotary pair, as llama.cpp's `rope_freqs` tensor stores Llama 3.1's scaling. [R/2]
    case divisors([Float])
}

extension DecoderConfig {
    /// Llama as SmolLM2 uses it (GGUF layout): the description small tests and tools build by hand.
    public static func llama(hiddenSize: Int, intermediateSize: Int, layers: Int, heads: Int, kvHeads: Int,
                             vocabularySize: Int, rmsNormEps: Float = 1e-5, ropeTheta: Double = 10_000,
                             contextLength: Int = 2048, tiedEmbeddings: Bool = true) -> DecoderConfig {
        let d = hiddenSize / heads
        return DecoderConfig(family: "llama", hiddenSize: hiddenSize, intermediateSize: intermediateSize,
                             layers: layers, heads: heads, kvHeads: kvHeads, vocabularySize: vocabularySize,
                             contextLength: contextLength, norm: Norm(kind: .rms, eps: rmsNormEps),
                             rope: RoPE(layout: .interleaved, rotaryDims: d, base: ropeTheta),
                             ffn: FFN(gated: true, activation: .silu), tiedEmbeddings: tiedEmbeddings)
    }

    /// Inverse frequencies θᵢ of the rotary pairs, for layers with base `base`, after scaling. [R/2]
    /// θᵢ = base^(−2i/R) is rounded to Float32 first, as HF computes it.
    public static func inverseFrequencies(rotaryDims r: Int, base: Double, scaling: RoPEScaling) -> [Float] {
        let plain: [Float] = (0..<(r / 2)).map { Float(1 / pow(base, Double(2 * $0) / Double(r))) }
        switch scaling {
        case .none: return plain
        case .linear(let factor): return plain.map { $0 / Float(factor) }
        case .divisors(let divisors): return zip(plain, divisors).map { $0 / $1 }
        case .llama3(let factor, let low, let high, let original):
            // transformers' _compute_llama3_parameters, in its float32 arithmetic.
            let f = Float(factor), lowWavelength = Float(original) / Float(low),
                highWavelength = Float(original) / Float(high)
            return plain.map { theta in
                let wavelength = 2 * Float.pi / theta
                if wavelength < highWavelength { return theta }
                if wavelength > lowWavelength { return theta / f }
                let smooth = (Float(original) / wavelength - Float(low)) / Float(high - low)
                return (1 - smooth) * theta / f + smooth * theta
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

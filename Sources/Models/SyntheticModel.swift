import AtomicFiles
import Checkpoints
import Foundation
import TensorCore

/// GGUFs of random weights in the shapes of real models, for proving scale: no model above 1B is in
/// the registries the machines reach. The weights are random blocks of the file's types, written
/// directly (no Float32 copy is ever made), with scales chosen so that each weight has about the
/// standard deviation real checkpoints' initialisers use (0.02). Each file carries a real tokenizer,
/// copied from llama.cpp's vocabulary GGUFs (`Scripts/fetch tokenizers`). The science stays on real models.
public enum SyntheticModel {
    /// The architecture of a real model, from its Hugging Face config.json.
    public struct Shape: Sendable {
        public let name: String, architecture: String, vocabularyFile: String
        public let hidden: Int, ffn: Int, layers: Int, heads: Int, kvHeads: Int, vocabulary: Int, context: Int
        public let ropeBase: Float, normEps: Float, tied: Bool, qkvBias: Bool

        /// Weights in this shape (norms and biases included).
        public var parameterCount: Int {
            let d = hidden / heads
            let attention = hidden * heads * d * 2 + hidden * kvHeads * d * 2 +
                (qkvBias ? heads * d + 2 * kvHeads * d : 0)
            let layer = attention + 3 * hidden * ffn + 2 * hidden
            return layers * layer + vocabulary * hidden * (tied ? 1 : 2) + hidden
        }
    }

    public static let shapes: [Shape] = [
        Shape(name: "llama-3.2-1b", architecture: "llama", vocabularyFile: "ggml-vocab-llama-bpe.gguf", hidden: 2048,
              ffn: 8192, layers: 16, heads: 32, kvHeads: 8, vocabulary: 128_256, context: 131_072, ropeBase: 500_000,
              normEps: 1e-5, tied: true, qkvBias: false),
        Shape(name: "qwen2.5-1.5b", architecture: "qwen2", vocabularyFile: "ggml-vocab-qwen2.gguf", hidden: 1536,
              ffn: 8960, layers: 28, heads: 12, kvHeads: 2, vocabulary: 151_936, context: 32_768, ropeBase: 1_000_000,
              normEps: 1e-6, tied: true, qkvBias: true),
        Shape(name: "llama-2-7b", architecture: "llama", vocabularyFile: "ggml-vocab-llama-spm.gguf", hidden: 4096,
              ffn: 11008, layers: 32, heads: 32, kvHeads: 32, vocabulary: 32_000, context: 4096, ropeBase: 10_000,
              normEps: 1e-5, tied: false, qkvBias: false),
        Shape(name: "qwen2.5-7b", architecture: "qwen2", vocabularyFile: "ggml-vocab-qwen2.gguf", hidden: 3584,
              ffn: 18944, layers: 28, heads: 28, kvHeads: 4, vocabulary: 152_064, context: 32_768, ropeBase: 1_000_000,
              normEps: 1e-6, tied: false, qkvBias: true),
        Shape(name: "llama-2-13b", architecture: "llama", vocabularyFile: "ggml-vocab-llama-spm.gguf", hidden: 5120,
              ffn: 13824, layers: 40, heads: 40, kvHeads: 40, vocabulary: 32_000, context: 4096, ropeBase: 10_000,
              normEps: 1e-5, tied: false, qkvBias: false),
        // Not a real model: Llama 2's tokenizer on a 2-layer body, for tests of the writer and the loader.
        Shape(name: "tiny-llama", architecture: "llama", vocabularyFile: "ggml-vocab-llama-spm.gguf", hidden: 256,
              ffn: 768, layers: 2, heads: 4, kvHeads: 2, vocabulary: 32_000, context: 4096, ropeBase: 10_000,
              normEps: 1e-5, tied: false, qkvBias: false),
    ]

    /// The file types `synth` writes, by llama.cpp's names.
    public enum FileType: String, Sendable, CaseIterable {
        case q4_k_m, q8_0, f16

        /// llama.cpp's `general.file_type` (LLAMA_FTYPE_MOSTLY_*).
        var ftype: UInt32 { switch self { case .q4_k_m: 15; case .q8_0: 7; case .f16: 1 } }

        /// The type of a weight matrix, as llama.cpp's quantizer picks it: Q4_K_M gives the output and,
        /// in the first and last eighth of the layers and every third one between, attn_v and ffn_down Q6_K.
        func type(of role: TensorRole, layer: Int?, layers: Int) -> GGMLType {
            switch self {
            case .q8_0: return .q8_0
            case .f16: return .f16
            case .q4_k_m:
                func moreBits(_ i: Int) -> Bool { i < layers / 8 || i >= 7 * layers / 8 || (i - layers / 8) % 3 == 2 }
                if role == .output { return .q6_K }
                if let layer, role == .attentionValue || role == .ffnDown, moreBits(layer) { return .q6_K }
                return .q4_K
            }
        }
    }

    public enum SynthError: Error, CustomStringConvertible {
        case unknownShape(String), unknownType(String), missingVocabulary(path: String)
        public var description: String {
            switch self {
            case .unknownShape(let s):
                "unknown shape '\(s)'; the shapes are \(shapes.map(\.name).joined(separator: ", "))"
            case .unknownType(let t):
                "Scalpel does not write '\(t)' models; " +
                    "it writes \(FileType.allCases.map(\.rawValue).joined(separator: ", ")). " +
                    "The IQ and ternary types are read by llama.cpp but not by Scalpel"
            case .missingVocabulary(let path):
                "the tokenizer \(path) is missing: run Scripts/fetch tokenizers " +
                    "(it brings llama.cpp's vocabulary GGUFs into checkpoints/vocab)"
            }
        }
    }

    public static func shape(_ name: String) throws -> Shape {
        guard let shape = shapes.first(where: { $0.name == name.lowercased() }) else {
            throw SynthError.unknownShape(name)
        }
        return shape
    }

    public static func fileType(_ name: String) throws -> FileType {
        guard let type = FileType(rawValue: name.lowercased()) else { throw SynthError.unknownType(name) }
        return type
    }

    /// The tensors of a shape, in llama.cpp's order: name, type, [out, in] (or [n] for vectors).
    static func tensors(_ s: Shape, _ type: FileType) -> [(name: String, type: GGMLType, shape: [Int])] {
        let d = s.hidden / s.heads
        func matrix(_ role: TensorRole, _ layer: Int?, _ shape: [Int]) -> (String, GGMLType, [Int]) {
            (TensorNameMap.decoderName(role, layer: layer), type.type(of: role, layer: layer, layers: s.layers), shape)
        }
        func vector(_ role: TensorRole, _ layer: Int?, _ n: Int) -> (String, GGMLType, [Int]) {
            (TensorNameMap.decoderName(role, layer: layer), .f32, [n])
        }
        var list = [matrix(.tokenEmbedding, nil, [s.vocabulary, s.hidden])]
        for l in 0..<s.layers {
            list.append(vector(.attentionNorm, l, s.hidden))
            list.append(matrix(.attentionQuery, l, [s.heads * d, s.hidden]))
            list.append(matrix(.attentionKey, l, [s.kvHeads * d, s.hidden]))
            list.append(matrix(.attentionValue, l, [s.kvHeads * d, s.hidden]))
            if s.qkvBias {
                list += [vector(.attentionQueryBias, l, s.heads * d), vector(.attentionKeyBias, l, s.kvHeads * d),
                         vector(.attentionValueBias, l, s.kvHeads * d)]
            }
            list.append(matrix(.attentionOutput, l, [s.hidden, s.heads * d]))
            list.append(vector(.ffnNorm, l, s.hidden))
            list.append(matrix(.ffnGate, l, [s.ffn, s.hidden]))
            list.append(matrix(.ffnUp, l, [s.ffn, s.hidden]))
            list.append(matrix(.ffnDown, l, [s.hidden, s.ffn]))
        }
        list.append(vector(.outputNorm, nil, s.hidden))
        if !s.tied { list.append(matrix(.output, nil, [s.vocabulary, s.hidden])) }
        return list.map { (name: $0.0, type: $0.1, shape: $0.2) }
    }

    /// Writes the GGUF atomically. - vocabularies: the folder of llama.cpp's ggml-vocab-*.gguf files
    /// - progress: called with (bytes written, total bytes)
    public static func write(_ s: Shape, type: FileType, to url: URL, vocabularies: URL, seed: UInt64 = 0,
                             progress: (Int, Int) -> Void = { _, _ in }) throws {
        let vocabularyPath = vocabularies.appendingPathComponent(s.vocabularyFile).path
        guard FileManager.default.fileExists(atPath: vocabularyPath) else {
            throw SynthError.missingVocabulary(path: vocabularyPath)
        }
        let vocabulary = try GGUFFile(path: vocabularyPath)
        let a = s.architecture
        var metadata: [(String, GGUFValue)] = [
            ("general.architecture", .string(a)),
            ("general.name", .string("Scalpel synthetic \(s.name) (random weights)")),
            ("general.file_type", .uint32(type.ftype)), ("general.quantization_version", .uint32(2)),
            ("\(a).block_count", .uint32(UInt32(s.layers))), ("\(a).context_length", .uint32(UInt32(s.context))),
            ("\(a).embedding_length", .uint32(UInt32(s.hidden))), ("\(a).feed_forward_length", .uint32(UInt32(s.ffn))),
            ("\(a).attention.head_count", .uint32(UInt32(s.heads))),
            ("\(a).attention.head_count_kv", .uint32(UInt32(s.kvHeads))), ("\(a).rope.freq_base", .float32(s.ropeBase)),
            ("\(a).attention.layer_norm_rms_epsilon", .float32(s.normEps)),
            ("\(a).rope.dimension_count", .uint32(UInt32(s.hidden / s.heads))),
            ("\(a).vocab_size", .uint32(UInt32(s.vocabulary))),
        ]
        metadata += try tokenizerMetadata(vocabulary, size: s.vocabulary, path: vocabularyPath)
        let tensors = tensors(s, type)
        let writer = try GGUFWriter(url: url)
        try writer.writeHeader(tensorCount: tensors.count, metadataCount: metadata.count)
        for (key, value) in metadata { try writer.writeKeyValue(key, value) }
        for t in tensors { try writer.writeTensorInfo(name: t.name, type: t.type, shape: t.shape) }
        let total = tensors.reduce(0) { $0 + ($1.type.byteCount(elements: $1.shape.reduce(1, *)) ?? 0) }
        var written = 0
        var rng = SeededRandom(seed: seed)
        for t in tensors {
            let elements = t.shape.reduce(1, *)
            // Large tensors go out in chunks of whole rows, so memory stays at one chunk.
            let rowElements = t.shape.last!, rows = elements / rowElements
            let rowsPerChunk = max(1, (16 << 20) / max(1, t.type.byteCount(elements: rowElements)!))
            for start in stride(from: 0, to: rows, by: rowsPerChunk) {
                let count = min(rowsPerChunk, rows - start) * rowElements
                let bytes = t.type == .f32 && t.shape.count == 1
                    ? vectorBytes(t.name, count) : randomBlocks(t.type, elements: count, rng: &rng)
                try bytes.withUnsafeBytes { try writer.writeTensorData(partOf: $0) }
                written += bytes.count
                progress(written, total)
            }
        }
        try writer.finish()
    }

    /// Norm weights 1 (so the model's scale is its weights'), biases 0.
    static func vectorBytes(_ name: String, _ count: Int) -> [UInt8] {
        let value: Float = name.hasSuffix("_norm.weight") ? 1 : 0
        return (try? quantize([Float](repeating: value, count: count), to: .f32)) ?? []
    }

    /// The block types `randomBlocks` writes.
    public static let blockTypes: [GGMLType] = [.q4_K, .q6_K, .q8_0, .f16]

    /// Random blocks of `type` whose weights have a standard deviation near 0.02 and mean near 0:
    ///   Q4_K  x = 32d·q − 32·dmin, q uniform in 0…15, dmin = 7.5d, 32d·4.6 ≈ 0.02
    ///   Q6_K  x = 16d·(q − 32), q uniform in 0…63, 16d·18.5 ≈ 0.02
    ///   Q8_0  x = d·q, q uniform int8, d·73.9 ≈ 0.02;   F16  uniform in ±0.0346 (sd 0.02)
    public static func randomBlocks(_ type: GGMLType, elements: Int, rng: inout SeededRandom) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: type.byteCount(elements: elements)!)
        bytes.withUnsafeMutableBytes { raw in
            // Random bits first, eight bytes at a time; then each block's scale fields set over them.
            let words = raw.count / 8
            let w = raw.baseAddress!
            for i in 0..<words { w.storeBytes(of: rng.next(), toByteOffset: 8 * i, as: UInt64.self) }
            for i in (8 * words)..<raw.count { raw[i] = UInt8(truncatingIfNeeded: rng.next()) }
            func half(_ offset: Int, _ value: Float) {
                w.storeBytes(of: floatToHalf(value).littleEndian, toByteOffset: offset, as: UInt16.self)
            }
            switch type {
            case .q4_K:
                let d: Float = 0.02 / (32 * 4.61)
                for b in stride(from: 0, to: raw.count, by: 144) {
                    half(b, d)
                    half(b + 2, 7.5 * d)
                    // Every sub-block's 6-bit scale and min 32: bytes 0–7 = 32 | (2 << 6), bytes 8–11 = 0.
                    for j in 0..<8 { raw[b + 4 + j] = 0xA0 }
                    for j in 8..<12 { raw[b + 4 + j] = 0 }
                }
            case .q6_K:
                let d: Float = 0.02 / (16 * 18.5)
                for b in stride(from: 0, to: raw.count, by: 210) {
                    for j in 0..<16 { raw[b + 192 + j] = 16 }
                    half(b + 208, d)
                }
            case .q8_0:
                for b in stride(from: 0, to: raw.count, by: 34) { half(b, 0.02 / 73.9) }
            case .f16:
                for i in 0..<(raw.count / 2) {
                    let u = Float(w.load(fromByteOffset: 2 * i, as: UInt16.self)) / 65535
                    half(2 * i, (u - 0.5) * 0.0693)
                }
            default:
                preconditionFailure("synthetic \(type.name) blocks are not written")
            }
        }
        return bytes
    }

    /// The vocabulary GGUF's tokenizer keys, with the token table padded to the model's vocabulary as
    /// llama.cpp's converter pads it ("[PAD<i>]", type unused), or refused when it is larger.
    static func tokenizerMetadata(_ file: GGUFFile, size: Int, path: String) throws -> [(String, GGUFValue)] {
        var entries = file.metadata.entries.filter { $0.key.hasPrefix("tokenizer.") }.map { ($0.key, $0.value) }
        guard let tokens = file.metadata["tokenizer.ggml.tokens"], case .array(_, let list) = tokens else {
            throw UserFileError(path: path, reason: "has no tokenizer.ggml.tokens")
        }
        guard list.count <= size else {
            throw UserFileError(path: path,
                                reason: "has \(list.count) tokens, more than the shape's vocabulary of \(size)")
        }
        let missing = list.count..<size
        for (i, entry) in entries.enumerated() {
            guard case .array(let elementType, var values) = entry.1, values.count == list.count else { continue }
            switch entry.0 {
            case "tokenizer.ggml.tokens": values += missing.map { .string("[PAD\($0)]") }
            case "tokenizer.ggml.token_type": values += missing.map { _ in .int32(5) }
            case "tokenizer.ggml.scores": values += missing.map { _ in .float32(-1000) }
            default: continue
            }
            entries[i] = (entry.0, .array(elementType, values))
        }
        return entries
    }
}

import Foundation
import Autodiff
import Checkpoints
import Models
import TensorCore

/// Tiny random models that run in milliseconds, with real checkpoints' naming and layouts.
public enum TinyModels {
    public static func llamaConfig(layers: Int = 2, hidden: Int = 16, heads: Int = 4, kvHeads: Int = 2, ffn: Int = 24,
                                   vocabulary: Int = 50) -> DecoderConfig {
        DecoderConfig.llama(hiddenSize: hidden, intermediateSize: ffn, layers: layers, heads: heads, kvHeads: kvHeads,
                            vocabularySize: vocabulary, rmsNormEps: 1e-5, ropeTheta: 10_000, contextLength: 512,
                            tiedEmbeddings: true)
    }

    /// GGUF-named random tensors for a Llama config.
    public static func llamaTensors(_ c: DecoderConfig, seed: UInt64 = 1) -> [String: Tensor] {
        var rng = SeededRandom(seed: seed)
        let (q, kv) = (c.heads * c.headDim, c.kvHeads * c.headDim)
        func name(_ role: TensorRole, _ l: Int? = nil) -> String { DecoderModel.name(role, layer: l) }
        var t: [String: Tensor] = [
            name(.tokenEmbedding): Tensor(randomNormal: [c.vocabularySize, c.hiddenSize], std: 0.5, using: &rng),
            name(.outputNorm): Tensor(randomUniform: [c.hiddenSize], in: 0.8...1.2, using: &rng),
        ]
        let scale = 1 / Float(c.hiddenSize).squareRoot()
        for l in 0..<c.layers {
            t[name(.attentionNorm, l)] = Tensor(randomUniform: [c.hiddenSize], in: 0.8...1.2, using: &rng)
            t[name(.ffnNorm, l)] = Tensor(randomUniform: [c.hiddenSize], in: 0.8...1.2, using: &rng)
            t[name(.attentionQuery, l)] = Tensor(randomNormal: [q, c.hiddenSize], std: scale, using: &rng)
            t[name(.attentionKey, l)] = Tensor(randomNormal: [kv, c.hiddenSize], std: scale, using: &rng)
            t[name(.attentionValue, l)] = Tensor(randomNormal: [kv, c.hiddenSize], std: scale, using: &rng)
            t[name(.attentionOutput, l)] = Tensor(randomNormal: [c.hiddenSize, q], std: scale, using: &rng)
            t[name(.ffnGate, l)] = Tensor(randomNormal: [c.intermediateSize, c.hiddenSize], std: scale, using: &rng)
            t[name(.ffnUp, l)] = Tensor(randomNormal: [c.intermediateSize, c.hiddenSize], std: scale, using: &rng)
            t[name(.ffnDown, l)] = Tensor(randomNormal: [c.hiddenSize, c.intermediateSize],
                                          std: 1 / Float(c.intermediateSize).squareRoot(), using: &rng)
        }
        return t
    }

    public static func llama(layers: Int = 2, hidden: Int = 16, heads: Int = 4, kvHeads: Int = 2, ffn: Int = 24,
                             vocabulary: Int = 50,
                             seed: UInt64 = 1, trainable: NeuronSelection? = nil) throws -> DecoderModel {
        let c = llamaConfig(layers: layers, hidden: hidden, heads: heads, kvHeads: kvHeads, ffn: ffn,
                            vocabulary: vocabulary)
        let tensors = llamaTensors(c, seed: seed)
        let masks = try trainable?.gradientMasks(parameterShapes: tensors.mapValues(\.shape),
                                                 layers: layers, ownership: c.ownership) ?? [:]
        return try DecoderModel(config: c, tensors: tensors, masks: masks)
    }

    /// A tiny Gemma 3: head width 8 (not C/H), one KV head, a window of 3 with every second layer global,
    /// and soft-capping on, so every Gemma-only path runs.
    public static func gemmaConfig(layers: Int = 2, hidden: Int = 16, heads: Int = 2, ffn: Int = 24,
                                   vocabulary: Int = 50, window: Int = 3, softcap: Float? = 5) -> DecoderConfig {
        var c = DecoderConfig(family: "gemma3", hiddenSize: hidden, intermediateSize: ffn, layers: layers,
                              heads: heads, kvHeads: 1, headDim: 8, vocabularySize: vocabulary, contextLength: 512,
                              norm: .init(kind: .rms, eps: 1e-6, sandwich: true),
                              rope: .init(layout: .rotateHalf, rotaryDims: 8, base: 1_000_000, localBase: 10_000),
                              ffn: .init(gated: true, activation: .geluTanh), tiedEmbeddings: true)
        c.attention.qkNorm = true
        c.attention.scale = Float(1 / 8.0.squareRoot())      // query_pre_attn_scalar = D = 8
        c.attention.windows = (0..<layers).map { ($0 + 1) % 2 == 0 ? nil : window }
        c.embeddingScale = Float(Double(hidden).squareRoot())
        c.finalLogitSoftcap = softcap
        return c
    }

    /// GGUF-named random tensors for a Gemma 3 config: Llama's plus the Q/K head norms and the post norms.
    public static func gemmaTensors(_ c: DecoderConfig, seed: UInt64 = 3) -> [String: Tensor] {
        var t = llamaTensors(c, seed: seed)
        var rng = SeededRandom(seed: seed &+ 100)
        func name(_ role: TensorRole, _ l: Int) -> String { DecoderModel.name(role, layer: l) }
        for l in 0..<c.layers {
            t[name(.attentionQueryNorm, l)] = Tensor(randomUniform: [c.headDim], in: 0.8...1.2, using: &rng)
            t[name(.attentionKeyNorm, l)] = Tensor(randomUniform: [c.headDim], in: 0.8...1.2, using: &rng)
            t[name(.postAttentionNorm, l)] = Tensor(randomUniform: [c.hiddenSize], in: 0.8...1.2, using: &rng)
            t[name(.postFFNNorm, l)] = Tensor(randomUniform: [c.hiddenSize], in: 0.8...1.2, using: &rng)
        }
        return t
    }

    public static func gemma(trainable: NeuronSelection? = nil, softcap: Float? = 5) throws -> DecoderModel {
        let c = gemmaConfig(softcap: softcap)
        let tensors = gemmaTensors(c)
        let masks = try trainable?.gradientMasks(parameterShapes: tensors.mapValues(\.shape),
                                                 layers: c.layers, ownership: c.ownership) ?? [:]
        return try DecoderModel(config: c, tensors: tensors, masks: masks)
    }

    public static func bertConfig(layers: Int = 2, hidden: Int = 16, heads: Int = 4, ffn: Int = 24,
                                  vocabulary: Int = 60) -> BertConfig {
        BertConfig(hiddenSize: hidden, intermediateSize: ffn, layers: layers, heads: heads,
                   vocabularySize: vocabulary, maxPositions: 64)
    }

    public static func bertTensors(_ c: BertConfig, seed: UInt64 = 2) -> [String: Tensor] {
        var rng = SeededRandom(seed: seed)
        func name(_ role: TensorRole, _ l: Int? = nil) -> String { BertModel.name(role, layer: l) }
        let s = 1 / Float(c.hiddenSize).squareRoot()
        var t: [String: Tensor] = [
            name(.tokenEmbedding): Tensor(randomNormal: [c.vocabularySize, c.hiddenSize], std: 0.5, using: &rng),
            name(.positionEmbedding): Tensor(randomNormal: [c.maxPositions, c.hiddenSize], std: 0.1, using: &rng),
            name(.tokenTypeEmbedding):
                Tensor(randomNormal: [c.typeVocabularySize, c.hiddenSize], std: 0.1, using: &rng),
            name(.embeddingNorm): Tensor(randomUniform: [c.hiddenSize], in: 0.8...1.2, using: &rng),
            name(.embeddingNormBias): Tensor(randomNormal: [c.hiddenSize], std: 0.1, using: &rng),
        ]
        for l in 0..<c.layers {
            for (role, shape, std) in [
                (TensorRole.attentionQuery, [c.hiddenSize, c.hiddenSize], s),
                (.attentionKey, [c.hiddenSize, c.hiddenSize], s),
                (.attentionValue, [c.hiddenSize, c.hiddenSize], s), (.attentionOutput, [c.hiddenSize, c.hiddenSize], s),
                (.ffnUp, [c.intermediateSize, c.hiddenSize], s),
                (.ffnDown, [c.hiddenSize, c.intermediateSize], 1 / Float(c.intermediateSize).squareRoot()),
                (.attentionQueryBias, [c.hiddenSize], 0.1), (.attentionKeyBias, [c.hiddenSize], 0.1),
                (.attentionValueBias, [c.hiddenSize], 0.1), (.attentionOutputBias, [c.hiddenSize], 0.1),
                (.ffnUpBias, [c.intermediateSize], 0.1), (.ffnDownBias, [c.hiddenSize], 0.1),
                (.attentionOutputNormBias, [c.hiddenSize], 0.1), (.layerOutputNormBias, [c.hiddenSize], 0.1),
            ] as [(TensorRole, [Int], Float)] {
                t[name(role, l)] = Tensor(randomNormal: shape, std: std, using: &rng)
            }
            t[name(.attentionOutputNorm, l)] = Tensor(randomUniform: [c.hiddenSize], in: 0.8...1.2, using: &rng)
            t[name(.layerOutputNorm, l)] = Tensor(randomUniform: [c.hiddenSize], in: 0.8...1.2, using: &rng)
        }
        return t
    }

    public static func bert(seed: UInt64 = 2, trainable: NeuronSelection? = nil) throws -> BertModel {
        let c = bertConfig()
        let tensors = bertTensors(c, seed: seed)
        let masks = try trainable?.gradientMasks(parameterShapes: tensors.mapValues(\.shape),
                                                 layers: c.layers, ownership: BertModel.ownership) ?? [:]
        return try BertModel(config: c, tensors: tensors, masks: masks)
    }

    /// Writes a tiny BERT as Hugging Face lays it out: `model.safetensors`, `config.json` and a WordPiece
    /// `tokenizer.json` (special tokens, letters, digits, a few words and continuations), so ModelLoader can
    /// read the folder. Words outside the vocabulary become [UNK].
    public static func writeBertFolder(_ folder: URL, seed: UInt64 = 2) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        vocabulary += (UnicodeScalar("a").value...UnicodeScalar("z").value).map { String(UnicodeScalar($0)!) }
        vocabulary += (0...9).map(String.init) + ["good", "bad", "film", "the", "##s", ".", ",", "!", "?", "'"]
        vocabulary += ["a", "b", "c", "d", "e", "f", "g", "h", "i"].map { "##" + $0 }
        let c = BertConfig(hiddenSize: 16, intermediateSize: 24, layers: 2, heads: 4,
                           vocabularySize: vocabulary.count, maxPositions: 512)
        let tensors = bertTensors(c, seed: seed)
        try writeSafetensors(tensors.keys.sorted().map { SafetensorsEntry(name: $0, floats: tensors[$0]!.scalars,
                                                                          shape: tensors[$0]!.shape) },
                             metadata: ["format": "pt"], to: folder.appendingPathComponent("model.safetensors"))
        var config = try JSONSerialization.jsonObject(with: JSONEncoder().encode(c)) as! [String: Any]
        config["model_type"] = "bert"
        try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys])
            .write(to: folder.appendingPathComponent("config.json"))
        let tokenizer: [String: Any] = [
            "normalizer": ["type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                           "strip_accents": NSNull(), "lowercase": true],
            "added_tokens": (0..<5).map { ["id": $0, "content": vocabulary[$0], "special": true] },
            "model": ["type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                      "max_input_chars_per_word": 100,
                      "vocab": Dictionary(
                          uniqueKeysWithValues: vocabulary.enumerated().map { ($0.element, $0.offset) })],
        ]
        try JSONSerialization.data(withJSONObject: tokenizer, options: [.sortedKeys])
            .write(to: folder.appendingPathComponent("tokenizer.json"))
    }

    /// Writes a tiny Llama as a GGUF with a byte-level vocabulary, so ModelLoader can read it; every
    /// tensor F32 unless `encode` gives it another type and its bytes.
    public static func writeLlamaGGUF(_ url: URL, architecture: String = "llama", tensors: [String: Tensor],
                                      config c: DecoderConfig, extraMetadata: [(String, GGUFValue)] = [],
                                      encode: (String, Tensor) throws -> (GGMLType, [UInt8])? =
                                          { _, _ in nil }) throws {
        let tokens = (0..<c.vocabularySize).map { i in i < 256 ? String(ByteLevel.byteToScalar[i]) : "tok\(i)" }
        var gemmaKeys: [(String, GGUFValue)] = []
        if architecture == "gemma3", let window = c.attention.windows.compactMap({ $0 }).first {
            gemmaKeys = [("gemma3.attention.key_length", .uint32(UInt32(c.headDim))),
                         ("gemma3.attention.value_length", .uint32(UInt32(c.headDim))),
                         ("gemma3.attention.sliding_window", .uint32(UInt32(window))),
                         ("gemma3.attention.sliding_window_pattern",
                          .uint32(UInt32((c.attention.windows.firstIndex(of: nil) ?? 0) + 1)))]
            if let cap = c.finalLogitSoftcap { gemmaKeys.append(("gemma3.final_logit_softcapping", .float32(cap))) }
        }
        let metadata: [(String, GGUFValue)] = extraMetadata + gemmaKeys + [
            ("general.architecture", .string(architecture)),
            ("\(architecture).block_count", .uint32(UInt32(c.layers))),
            ("\(architecture).embedding_length", .uint32(UInt32(c.hiddenSize))),
            ("\(architecture).feed_forward_length", .uint32(UInt32(c.intermediateSize))),
            ("\(architecture).attention.head_count", .uint32(UInt32(c.heads))),
            ("\(architecture).attention.head_count_kv", .uint32(UInt32(c.kvHeads))),
            ("\(architecture).rope.freq_base", .float32(Float(c.rope?.base ?? 10_000))),
            ("\(architecture).attention.layer_norm_rms_epsilon", .float32(c.norm.eps)),
            ("\(architecture).context_length", .uint32(UInt32(c.contextLength))),
            ("tokenizer.ggml.model", .string("gpt2")), ("tokenizer.ggml.pre", .string("gpt2")),
            ("tokenizer.ggml.tokens", .array(.string, tokens.map { .string($0) })),
            ("tokenizer.ggml.merges", .array(.string, [])),
            ("tokenizer.ggml.token_type", .array(.int32, tokens.map { _ in .int32(1) })),
        ]
        let writer = try GGUFWriter(url: url)
        try writer.writeHeader(tensorCount: tensors.count, metadataCount: metadata.count)
        for (k, v) in metadata { try writer.writeKeyValue(k, v) }
        let names = tensors.keys.sorted()
        let encoded = try names.map { name in
            try encode(name, tensors[name]!) ?? (.f32, quantize(tensors[name]!.scalars, to: .f32))
        }
        for (name, data) in zip(names, encoded) {
            try writer.writeTensorInfo(name: name, type: data.0, shape: tensors[name]!.shape)
        }
        for data in encoded { try data.1.withUnsafeBytes { try writer.writeTensorData($0) } }
        try writer.finish()
    }
}

import Foundation
import Tokenizers

/// Runs `prompts` as one right-padded batch and one at a time; for each prompt, nil when its rows of the
/// batched logits equal its unbatched logits within `tolerance`, else `compareClose`'s message.
public func paddedBatchDifferences(_ model: DecoderModel, _ prompts: [[Int32]],
                                   tolerance: Float = 1e-4) throws -> [String?] {
    let batch = TokenBatch(prompts)
    let batched = model.forward(embeddings: try model.embed(batch), batch: batch).logits!.value
    let v = model.config.vocabularySize
    return try prompts.enumerated().map { b, prompt in
        let single = TokenBatch([prompt])
        let alone = model.forward(embeddings: try model.embed(single), batch: single).logits!.value
        let rows = Array(batched.scalars[(b * batch.length * v)..<((b * batch.length + prompt.count) * v)])
        return compareClose(rows, alone.scalars, absolute: tolerance)
    }
}

/// `elements` values of a block type, as bytes: random codes under scales of about 0.001–0.003 (so no
/// NaN or overflow), for types Scalpel has no encoder for; quantized from random values otherwise.
public func randomQuantizedBlocks(_ type: GGMLType, elements: Int, seed: UInt64) throws -> [UInt8] {
    var rng = SeededRandom(seed: seed)
    if [.q4_0, .q4_1, .q5_0, .q8_0, .f16, .bf16, .f32].contains(type) {
        return try quantize((0..<elements).map { _ in Float(rng.nextGaussian()) * 0.02 }, to: type)
    }
    return randomBlocks(type, elements: elements, rng: &rng) { rng in floatToHalf(0.001 + 0.002 * rng.nextFloat()) }
}

/// Blocks of random bytes (every code, sub-scale and minimum occurs), or every byte `fill`, whose fp16
/// factors `factor` draws.
public func randomBlocks(_ type: GGMLType, elements: Int, rng: inout SeededRandom, fill: UInt8? = nil,
                         factor: (inout SeededRandom) -> UInt16) -> [UInt8] {
    var bytes = (0..<type.byteCount(elements: elements)!).map { _ in fill ?? UInt8(truncatingIfNeeded: rng.next()) }
    for block in stride(from: 0, to: bytes.count, by: type.blockBytes) {
        for offset in type.factorOffsets {
            let half = factor(&rng)
            bytes[block + offset] = UInt8(half & 0xFF)
            bytes[block + offset + 1] = UInt8(half >> 8)
        }
    }
    return bytes
}

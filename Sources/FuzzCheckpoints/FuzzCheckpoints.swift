import Checkpoints
import Foundation
import FuzzSupport
import Models
import Tokenizers

/// Fuzz target for the GGUF and safetensors readers: the bytes are opened as both formats and, when a
/// format accepts them, every tensor is read (dequantized) and the GGUF summary is made. A GGUF's metadata
/// then goes where `ModelLoader` sends it: the model's hyperparameters (`LlamaConfig(gguf:)`, for llama and
/// gemma3), its tokenizer (`TokenizerLoader.load(gguf:)`, then a short text encoded and decoded) and its chat
/// template. Seeds: `fuzz-checkpoints --seeds DIR` (Tests/FuzzCorpus/checkpoints).
enum CheckpointsTarget: FuzzTarget {
    static func exercise(_ bytes: [UInt8]) {
        let file = MappedFile(copying: bytes)
        do {
            let gguf = try GGUFFile(file: file)
            for info in gguf.tensors { _ = try? gguf.dequantized(info.name) }
            _ = CheckpointSummary.summary(gguf, path: "<fuzz>")
            model(gguf)
        } catch {
            FuzzLog.refused(error)
        }
        if let safetensors = try? SafetensorsFile(file: file) {
            for info in safetensors.tensors { _ = try? safetensors.floats(info.name) }
        }
    }

    static func model(_ gguf: GGUFFile) {
        let shapes = Dictionary(gguf.tensors.map { ($0.name, $0.shape) }, uniquingKeysWith: { first, _ in first })
        let architecture = gguf.metadata["general.architecture"]?.string ?? "llama"
        do {
            guard let family = DecoderFamily.named(gguf: architecture) else {
                throw ModelError.unknownArchitecture(architecture, supported: [])
            }
            _ = try family.config(gguf: gguf.metadata, tensorShapes: shapes) { try gguf.dequantized($0) }
            FuzzLog.note("a \(architecture) configuration")
        } catch {
            FuzzLog.refused(error)
        }
        _ = TokenizerLoader.chatTemplateResult(gguf: gguf.metadata)
        do {
            let tokenizer = try TokenizerLoader.load(gguf: gguf.metadata)
            let ids = tokenizer.encode("Hello, world! <|im_start|>user naïve 日本 1234\n", addSpecialTokens: true)
            _ = tokenizer.decode(ids, skipSpecialTokens: false)
            _ = tokenizer.decode(ids + [-1, Int32(clamping: tokenizer.vocabularySize), .max], skipSpecialTokens: true)
            FuzzLog.note("a tokenizer of \(tokenizer.vocabularySize) tokens: \(ids)")
        } catch {
            FuzzLog.refused(error)
        }
    }

    static func writeSeeds(to directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let gguf = directory.appendingPathComponent("seed.gguf")
        let writer = try GGUFWriter(url: gguf)
        let types: [(String, GGMLType, Int)] = [
            ("a", .q4_0, 32), ("b", .q4_1, 32), ("c", .q5_0, 32), ("d", .q5_1, 32), ("e", .q8_0, 32),
            ("f", .q4_K, 256), ("g", .q5_K, 256), ("h", .q6_K, 256), ("i", .f16, 4), ("j", .bf16, 4), ("k", .f32, 4)]
        try writer.writeHeader(tensorCount: types.count, metadataCount: 3)
        try writer.writeKeyValue("general.architecture", .string("llama"))
        try writer.writeKeyValue("tokens", .array(.string, [.string("a"), .string("b")]))
        try writer.writeKeyValue("nested", .array(.array, [.array(.int32, [.int32(1)])]))
        for (name, type, count) in types { try writer.writeTensorInfo(name: name, type: type, shape: [count]) }
        for (_, type, count) in types {
            let bytes = (0..<type.byteCount(elements: count)!).map { UInt8(truncatingIfNeeded: $0 &* 37) }
            try bytes.withUnsafeBytes { try writer.writeTensorData($0) }
        }
        try writer.finish()
        let models = [("llama-bpe", llamaBPE()), ("llama-spm", llamaSentencePiece()), ("gemma3", gemma3())]
        for (name, metadata) in models {
            let writer = try GGUFWriter(url: directory.appendingPathComponent("seed-\(name).gguf"))
            try writer.writeHeader(tensorCount: 1, metadataCount: metadata.count)
            for (key, value) in metadata { try writer.writeKeyValue(key, value) }
            try writer.writeTensorInfo(name: "token_embd.weight", type: .f16, shape: [8, 24])
            try [UInt8](repeating: 0x3C, count: 8 * 24 * 2).withUnsafeBytes { try writer.writeTensorData($0) }
            try writer.finish()
        }
        try writeSafetensors([SafetensorsEntry(name: "w", floats: [1, 2, 3, 4], shape: [2, 2]),
                              SafetensorsEntry(name: "h", floats: [1, 2], shape: [2], dtype: .f16),
                              SafetensorsEntry(name: "u", dtype: .u8, shape: [3], bytes: [1, 2, 3])],
                             metadata: ["format": "pt"], to: directory.appendingPathComponent("seed.safetensors"))
    }

    /// The hyperparameter keys llama.cpp writes, for a 2-layer model of width 8.
    static func hyperparameters(_ a: String) -> [(String, GGUFValue)] {
        [("general.architecture", .string(a)), ("\(a).block_count", .uint32(2)), ("\(a).embedding_length", .uint32(8)),
         ("\(a).feed_forward_length", .uint32(16)), ("\(a).attention.head_count", .uint32(2)),
         ("\(a).attention.head_count_kv", .uint32(1)), ("\(a).rope.freq_base", .float32(10_000)),
         ("\(a).attention.layer_norm_rms_epsilon", .float32(1e-5)), ("\(a).context_length", .uint32(64)),
         ("\(a).rope.dimension_count", .uint32(4))]
    }

    static func strings(_ values: [String]) -> GGUFValue { .array(.string, values.map { .string($0) }) }

    /// SmolLM2's layout: byte-level BPE (gpt2, smollm pre-tokenizer), ChatML specials and template.
    static func llamaBPE() -> [(String, GGUFValue)] {
        let bytes = (0..<256).map { String(ByteLevel.byteToScalar[$0]) }
        let tokens = bytes + ["Ġw", "or", "Ġwor", "ld", "Ġworld", "He", "ll", "Hell", "Hello",
                              "<|im_start|>", "<|im_end|>"]
        let types = tokens.indices.map { GGUFValue.int32($0 >= tokens.count - 2 ? 3 : 1) }
        let chatML = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content']"
            + " + '<|im_end|>' + '\\n'}}{% endfor %}"
            + "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
        return hyperparameters("llama") + [
            ("tokenizer.ggml.model", .string("gpt2")), ("tokenizer.ggml.pre", .string("smollm")),
            ("tokenizer.ggml.tokens", strings(tokens)), ("tokenizer.ggml.token_type", .array(.int32, types)),
            ("tokenizer.ggml.merges",
             strings(["Ġ w", "o r", "Ġw or", "l d", "Ġwor ld", "H e", "l l", "He ll", "Hell o"])),
            ("tokenizer.ggml.bos_token_id", .uint32(UInt32(tokens.count - 2))),
            ("tokenizer.ggml.eos_token_id", .uint32(UInt32(tokens.count - 1))),
            ("tokenizer.ggml.add_bos_token", .bool(false)), ("tokenizer.chat_template", .string(chatML))]
    }

    /// A SentencePiece vocabulary (llama.cpp's "llama" tokenizer model) with byte fallback.
    static func llamaSentencePiece() -> [(String, GGUFValue)] {
        let pieces = ["<unk>", "<s>", "</s>"] + (0..<8).map { String(format: "<0x%02X>", $0) }
            + ["▁", "▁H", "ello", "▁Hello", "▁w", "orld", "▁world", ",", "!", "a", "ï", "v", "e"]
        let types: [GGUFValue] = pieces.indices.map { .int32($0 == 0 ? 2 : $0 < 3 ? 3 : $0 < 11 ? 6 : 1) }
        let scores: [GGUFValue] = pieces.indices.map { .float32(-Float($0)) }
        return hyperparameters("llama") + [
            ("tokenizer.ggml.model", .string("llama")), ("tokenizer.ggml.tokens", strings(pieces)),
            ("tokenizer.ggml.scores", .array(.float32, scores)), ("tokenizer.ggml.token_type", .array(.int32, types)),
            ("tokenizer.ggml.bos_token_id", .uint32(1)), ("tokenizer.ggml.eos_token_id", .uint32(2)),
            ("tokenizer.ggml.unknown_token_id", .uint32(0)), ("tokenizer.ggml.add_bos_token", .bool(true)),
            ("tokenizer.ggml.add_space_prefix", .bool(true))]
    }

    /// Gemma 3's keys (head width, sliding window, soft-capping) beside a SentencePiece vocabulary.
    static func gemma3() -> [(String, GGUFValue)] {
        let gemma: [(String, GGUFValue)] = [
            ("gemma3.attention.key_length", .uint32(4)), ("gemma3.attention.value_length", .uint32(4)),
            ("gemma3.attention.sliding_window", .uint32(16)), ("gemma3.attention.sliding_window_pattern", .uint32(6)),
            ("gemma3.final_logit_softcapping", .float32(30)), ("gemma3.rope.local.freq_base", .float32(10_000)),
            ("gemma3.attention.query_pre_attn_scalar", .float32(4))]
        return hyperparameters("gemma3") + gemma + llamaSentencePiece().filter { $0.0.hasPrefix("tokenizer.") }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 { CheckpointsTarget.fuzz(data, size) }

#if !FUZZING
@main struct Replay { static func main() throws { try CheckpointsTarget.replay() } }
#endif

import Testing
import Foundation
import Checkpoints
import Models
import Tokenizers
import TensorCore
import TestSupport

/// Reading configurations: both transformers spellings give one description, every setting that changes
/// the math and is not implemented is refused by name, and folders with damaged shards are refused.
@Suite struct DecoderConfigTests {
    /// llama3's config.json from the golden families, as an editable dictionary.
    static func llama3JSON() throws -> [String: Any] {
        let url = Fixtures.goldenRoot.appendingPathComponent("families/llama3/hf/config.json")
        guard let data = FileManager.default.contents(atPath: url.path) else { return Self.fallback }
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    nonisolated(unsafe) static let fallback: [String: Any] = [
        "model_type": "llama", "hidden_size": 64, "intermediate_size": 160, "num_hidden_layers": 3, "num_attention_heads": 4,
        "num_key_value_heads": 2, "head_dim": 16, "vocab_size": 512, "rms_norm_eps": 1e-5, "tie_word_embeddings": false,
        "rope_parameters": ["rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
                            "high_freq_factor": 4.0, "original_max_position_embeddings": 8192],
    ]

    func read(_ json: [String: Any], family: DecoderFamily = .llama) throws -> DecoderConfig {
        let data = try JSONSerialization.data(withJSONObject: json)
        return try family.config(huggingFace: try HuggingFaceConfig(data: data, path: "config.json"), tensorShapes: [:])
    }

    func refusal(_ json: [String: Any], family: DecoderFamily = .llama) -> String {
        do { _ = try read(json, family: family); return "" } catch { return "\(error)" }
    }

    @Test func transformers4And5SpellingsAgree() throws {
        let five = try read(try Self.llama3JSON())
        var four = try Self.llama3JSON()
        var scaling = four.removeValue(forKey: "rope_parameters") as! [String: Any]
        four["rope_theta"] = scaling.removeValue(forKey: "rope_theta")
        scaling["type"] = scaling.removeValue(forKey: "rope_type")     // Llama 3.1's first configs said `type`
        four["rope_scaling"] = scaling
        four["torch_dtype"] = four.removeValue(forKey: "dtype") ?? "float32"
        #expect(try read(four) == five)
        #expect(five.rope?.scaling == .llama3(factor: 8, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalContext: 8192))
        #expect(five.rope?.base == 500_000 && five.rope?.layout == .interleaved)
    }

    /// Llama 3.1's frequencies: short wavelengths kept, long ones divided by 8, the middle blended; the
    /// same divisors llama.cpp's converter writes as rope_freqs.
    @Test func llama3ScalingMatchesTheConvertersDivisors() throws {
        let scaled = DecoderConfig.inverseFrequencies(rotaryDims: 16, base: 500_000,
            scaling: .llama3(factor: 8, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalContext: 8192))
        let plain = DecoderConfig.inverseFrequencies(rotaryDims: 16, base: 500_000, scaling: .none)
        let divisors: [Float] = [1, 1, 1, 1, 2.6945300102233887, 8, 8, 8]    // the golden GGUF's rope_freqs
        for i in 0..<8 { #expect(abs(plain[i] / scaled[i] - divisors[i]) <= 1e-5 * divisors[i], "pair \(i)") }
    }

    @Test(arguments: ["yarn", "longrope", "dynamic"])
    func unsupportedRoPEScalingIsRefused(type: String) throws {
        var json = try Self.llama3JSON()
        json["rope_parameters"] = ["rope_type": type, "rope_theta": 1e6, "factor": 4.0]
        let message = refusal(json)
        #expect(message.contains(type) && message.contains("not implemented") && message.contains("linear and llama3"), "\(message)")
    }

    @Test func unknownAndUnimplementedKeysAreRefusedByName() throws {
        for (key, value, fragment) in [("num_local_experts", 8, "mixture-of-experts"), ("alibi", true, "ALiBi"),
                                       ("quantization_config", 1, "pre-quantized"), ("logit_scale", 0.5, "will not ignore")] as [(String, Any, String)] {
            var json = try Self.llama3JSON()
            json[key] = value
            let message = refusal(json)
            #expect(message.contains(key) && message.contains(fragment), "\(key): \(message)")
        }
        var gpt2: [String: Any] = ["model_type": "gpt2", "n_embd": 64, "n_layer": 2, "n_head": 4, "vocab_size": 50,
                                   "layer_norm_epsilon": 1e-5, "scale_attn_by_inverse_layer_idx": true]
        #expect(refusal(gpt2, family: .gpt2).contains("scale_attn_by_inverse_layer_idx"))
        gpt2["scale_attn_by_inverse_layer_idx"] = false
        let config = try read(gpt2, family: .gpt2)
        #expect(config.intermediateSize == 256 && config.rope == nil && config.ffn.activation == .geluTanh)   // n_inner null: 4C
    }

    /// Gemma 2's query scale is its own query_pre_attn_scalar (the 27B's is 144 with heads of 128).
    @Test func gemma2ReadsItsQueryScalar() throws {
        let json: [String: Any] = ["model_type": "gemma2", "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 4,
                                   "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 128, "vocab_size": 50,
                                   "rms_norm_eps": 1e-6, "query_pre_attn_scalar": 144, "sliding_window": 8,
                                   "attn_logit_softcapping": 50.0, "final_logit_softcapping": 30.0]
        let config = try read(json, family: .gemma2)
        #expect(config.attention.scale == Float(1 / 12.0) && config.attention.softcap == 50 && config.finalLogitSoftcap == 30)
        #expect(config.attention.windows == [8, nil, 8, nil] && config.norm.weightOffset == 1 && config.embeddingScale == 8)
    }

    @Test func unknownGGUFKeysOfTheArchitectureAreRefused() throws {
        let directory = try Fixtures.scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = TinyModels.llamaConfig(vocabulary: 260)
        let url = directory.appendingPathComponent("m.gguf")
        try TinyModels.writeLlamaGGUF(url, tensors: TinyModels.llamaTensors(config), config: config,
                                      extraMetadata: [("llama.expert_count", .uint32(8))])
        #expect(throws: (any Error).self) { try ModelLoader.load(url.path) }
        do { _ = try ModelLoader.load(url.path) } catch { #expect("\(error)".contains("llama.expert_count") && "\(error)".contains("mixture-of-experts")) }
        try TinyModels.writeLlamaGGUF(url, tensors: TinyModels.llamaTensors(config), config: config,
                                      extraMetadata: [("llama.rope.scaling.type", .string("yarn"))])
        do { _ = try ModelLoader.load(url.path); Issue.record("yarn loaded") } catch { #expect("\(error)".contains("yarn")) }
    }
}

/// Hugging Face folders: F16 and BF16 weights, and shards that do not match their index.
@Suite(.enabled(if: Fixtures.hasGolden("families/qwen2"), "../shared/golden/families is missing"))
struct HuggingFaceFolderTests {
    static func copy(_ family: String) throws -> URL {
        let directory = try Fixtures.scratchDirectory().appendingPathComponent(family)
        try FileManager.default.copyItem(at: Fixtures.goldenRoot.appendingPathComponent("families/\(family)/hf"), to: directory)
        for name in try FileManager.default.contentsOfDirectory(atPath: directory.path) {
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: directory.appendingPathComponent(name).path)
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory.path)
        return directory
    }

    /// The folder's weights rewritten as F16 or BF16 load as exactly those roundings of the F32 weights.
    @Test(arguments: [SafetensorsDtype.f16, .bf16])
    func halfPrecisionWeightsLoad(dtype: SafetensorsDtype) throws {
        let folder = try Self.copy("qwen2")
        defer { try? FileManager.default.removeItem(at: folder.deletingLastPathComponent()) }
        let weights = folder.appendingPathComponent("model.safetensors")
        let file = try SafetensorsFile(path: weights.path)
        let entries = try file.tensors.map { SafetensorsEntry(name: $0.name, floats: try file.floats($0.name), shape: $0.shape, dtype: dtype) }
        try writeSafetensors(entries, to: weights)
        guard case .decoder(let reference) = try ModelLoader.load(Fixtures.goldenRoot.appendingPathComponent("families/qwen2/hf").path).model,
              case .decoder(let rounded) = try ModelLoader.load(folder.path).model else { Issue.record("not decoders"); return }
        let round: (Float) -> Float = dtype == .f16 ? { halfToFloat(floatToHalf($0)) } : { bfloat16ToFloat(floatToBFloat16($0)) }
        for (name, parameter) in reference.parameters {
            #expect(rounded.parameters[name]!.value.scalars == parameter.value.scalars.map(round), "\(name)")
        }
    }

    @Test func shardsThatDoNotMatchTheirIndexAreRefused() throws {
        let folder = try Self.copy("llama3")
        defer { try? FileManager.default.removeItem(at: folder.deletingLastPathComponent()) }
        let index = folder.appendingPathComponent("model.safetensors.index.json")
        let original = try Data(contentsOf: index)
        // A tensor the index places in another shard.
        var json = try JSONSerialization.jsonObject(with: original) as! [String: Any]
        var map = json["weight_map"] as! [String: String]
        map["lm_head.weight"] = "model-00001-of-00003.safetensors"
        json["weight_map"] = map
        try JSONSerialization.data(withJSONObject: json).write(to: index)
        do { _ = try ModelLoader.load(folder.path); Issue.record("loaded") } catch {
            #expect("\(error)".contains("lm_head.weight") && "\(error)".contains("different exports"), "\(error)")
        }
        // A missing shard.
        try original.write(to: index)
        try FileManager.default.removeItem(at: folder.appendingPathComponent("model-00002-of-00003.safetensors"))
        do { _ = try ModelLoader.load(folder.path); Issue.record("loaded") } catch {
            #expect("\(error)".contains("model-00002-of-00003.safetensors"), "\(error)")
        }
    }

    @Test func aFolderWithoutItsTokenizerIsRefusedByName() throws {
        let folder = try Self.copy("gpt2")
        defer { try? FileManager.default.removeItem(at: folder.deletingLastPathComponent()) }
        try FileManager.default.removeItem(at: folder.appendingPathComponent("tokenizer.json"))
        do { _ = try ModelLoader.load(folder.path); Issue.record("loaded") } catch {
            #expect("\(error)".contains("tokenizer.json") && "\(error)".contains("is missing"), "\(error)")
        }
    }

    /// A folder's chat template comes from chat_template.jinja, else tokenizer_config.json; one that does not
    /// parse is refused with its line, one that raises says so when rendered.
    @Test func aFoldersChatTemplateIsRead() throws {
        let folder = try Self.copy("qwen2")
        defer { try? FileManager.default.removeItem(at: folder.deletingLastPathComponent()) }
        #expect(throws: TokenizerError.noChatTemplate) { try ModelLoader.load(folder.path).chatTemplate.get() }
        let chatML = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
            + "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
        let config = folder.appendingPathComponent("tokenizer_config.json")
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: config)) as! [String: Any]
        json["chat_template"] = chatML
        try JSONSerialization.data(withJSONObject: json).write(to: config)
        let chat = try ModelLoader.load(folder.path).chatTemplate.get()
        #expect(try chat.render([.init(role: "user", content: "Hi")]) == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
        let jinja = folder.appendingPathComponent("chat_template.jinja")
        try "{{ raise_exception('no') }}".write(to: jinja, atomically: true, encoding: .utf8)
        #expect(throws: TokenizerError.chatTemplateRender("line 1: the template raised an error: no")) {
            try ModelLoader.load(folder.path).chatTemplate.get().render([])
        }
        try "{% for %}".write(to: jinja, atomically: true, encoding: .utf8)
        #expect((try? ModelLoader.load(folder.path).chatTemplate.get()) == nil)
    }
}

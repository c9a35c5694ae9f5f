import Checkpoints
import Foundation

/// A GGUF's byte-level BPE vocabulary as Hugging Face files (`tokenizer.json`, `tokenizer_config.json`),
/// so that an export of a GGUF base loads on its own, in Scalpel and in transformers.
///
/// Only GPT-2's pre-tokenizer (`tokenizer.ggml.pre` of `gpt-2`, `gpt2` or `default`) is written: the
/// other pre-tokenizers' regexes come with step 13. For any other vocabulary nil is returned, and the
/// export's users take the model's original tokenizer files.
public enum TokenizerExport {
    public static func huggingFaceFiles(gguf m: GGUFMetadata) throws -> [String: Data]? {
        guard m["tokenizer.ggml.model"]?.string == "gpt2", ["gpt-2", "gpt2", "default"].contains(m["tokenizer.ggml.pre"]?.string ?? "default"),
              let tokens = m["tokenizer.ggml.tokens"]?.strings, let merges = m["tokenizer.ggml.merges"]?.strings else { return nil }
        let types = m["tokenizer.ggml.token_type"]?.array?.compactMap(\.integer) ?? []
        let added: [[String: Any]] = types.enumerated().filter { TokenizerLoader.specialTypes.contains($0.element) && $0.offset < tokens.count }.map {
            ["id": $0.offset, "content": tokens[$0.offset], "single_word": false, "lstrip": false, "rstrip": false,
             "normalized": false, "special": true]
        }
        let byteLevel: [String: Any] = ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true]
        let json: [String: Any] = [
            "version": "1.0", "truncation": NSNull(), "padding": NSNull(), "added_tokens": added, "normalizer": NSNull(),
            "pre_tokenizer": byteLevel, "post_processor": byteLevel, "decoder": byteLevel,
            "model": ["type": "BPE", "dropout": NSNull(), "unk_token": NSNull(), "continuing_subword_prefix": NSNull(),
                      "end_of_word_suffix": NSNull(), "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                      "vocab": Dictionary(tokens.enumerated().map { ($0.element, $0.offset) }, uniquingKeysWith: { first, _ in first }),
                      "merges": merges] as [String: Any],
        ]
        var config: [String: Any] = ["tokenizer_class": "PreTrainedTokenizerFast", "add_bos_token": m["tokenizer.ggml.add_bos_token"]?.bool ?? false,
                                     "clean_up_tokenization_spaces": false]
        for (key, field) in [("bos_token", "tokenizer.ggml.bos_token_id"), ("eos_token", "tokenizer.ggml.eos_token_id"),
                             ("pad_token", "tokenizer.ggml.padding_token_id")] {
            if let id = m[field]?.integer, tokens.indices.contains(id) { config[key] = tokens[id] }
        }
        return ["tokenizer.json": try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys]),
                "tokenizer_config.json": try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys])]
    }
}

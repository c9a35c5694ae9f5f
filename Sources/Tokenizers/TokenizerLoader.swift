import Foundation
import Checkpoints
import JSON

/// Builds the right tokenizer for a checkpoint: from GGUF metadata (`tokenizer.ggml.*`) or from a
/// Hugging Face `tokenizer.json` beside safetensors weights.
public enum TokenizerLoader {
    /// GGUF token types (llama.cpp `llama_token_type`): 3 = control, 4 = user-defined; both are matched as
    /// whole strings in text.
    static let specialTypes: Set<Int> = [3, 4]

    public static func load(gguf metadata: GGUFMetadata) throws -> any Tokenizer {
        guard let model = metadata["tokenizer.ggml.model"]?.string else {
            throw TokenizerError.missingField("tokenizer.ggml.model")
        }
        guard let tokens = metadata["tokenizer.ggml.tokens"]?.strings else {
            throw TokenizerError.missingField("tokenizer.ggml.tokens")
        }
        let types = metadata["tokenizer.ggml.token_type"]?.array?.compactMap(\.integer) ?? []
        let specials = types.enumerated().filter { specialTypes.contains($0.element) }.map { Int32($0.offset) }
        let bos = try tokenID(metadata, "tokenizer.ggml.bos_token_id")
        let eos = try tokenID(metadata, "tokenizer.ggml.eos_token_id")
        switch model {
        case "gpt2":
            guard let merges = metadata["tokenizer.ggml.merges"]?.strings else {
                throw TokenizerError.missingField("tokenizer.ggml.merges")
            }
            // llama.cpp's pre-tokenizer for the name; a missing name is its "default" (not GPT-2's regex).
            let pre = metadata["tokenizer.ggml.pre"]?.string ?? "default"
            let found: BPEPreTokenizer?
            do {
                found = try BPEPreTokenizer.llamaCpp(pre)
            } catch {
                throw TokenizerError.unsupportedPreTokenizer("\(pre): \(error)")
            }
            guard let preTokenizer = found else { throw TokenizerError.unsupportedPreTokenizer(pre) }
            // llama.cpp adds BOS for gpt2-type vocabularies only when add_bos_token says so.
            let addBOS = metadata["tokenizer.ggml.add_bos_token"]?.bool ?? false
            let userDefined = types.enumerated().filter { $0.element == 4 }.map { Int32($0.offset) }
            let bpe = try BPETokenizer(tokens: tokens, merges: merges, specialTokens: specials,
                                       userDefined: userDefined, preTokenizer: preTokenizer,
                                       ignoreMerges: BPEPreTokenizer.ignoringMerges.contains(pre),
                                       bosID: bos, eosID: eos, addBOS: addBOS)
            bpe.addEOS = metadata["tokenizer.ggml.add_eos_token"]?.bool ?? false
            return bpe
        case "llama":
            // SentencePiece (llama.cpp's SPM vocabulary): pieces with scores and types; BOS as the metadata says.
            guard let scores = metadata["tokenizer.ggml.scores"]?.array?.compactMap(\.number) else {
                throw TokenizerError.missingField("tokenizer.ggml.scores")
            }
            guard !types.isEmpty else { throw TokenizerError.missingField("tokenizer.ggml.token_type") }
            let spm = try SentencePieceTokenizer(
                tokens: tokens, scores: scores.map(Float.init), types: types, bosID: bos, eosID: eos,
                unknownID: try tokenID(metadata, "tokenizer.ggml.unknown_token_id"),
                addBOS: metadata["tokenizer.ggml.add_bos_token"]?.bool ?? true,
                addSpacePrefix: metadata["tokenizer.ggml.add_space_prefix"]?.bool ?? true)
            spm.addEOS = metadata["tokenizer.ggml.add_eos_token"]?.bool ?? false
            return spm
        default:
            throw TokenizerError.unsupportedModel(model)
        }
    }

    /// A token id from the metadata: absent (or negative, llama.cpp's "none"), or one an Int32 holds; a
    /// damaged file may hold any integer there.
    static func tokenID(_ metadata: GGUFMetadata, _ key: String) throws -> Int32? {
        guard let value = metadata[key]?.integer, value >= 0 else { return nil }
        guard let id = Int32(exactly: value) else {
            throw TokenizerError.missingField("\(key) within 0...\(Int32.max)")
        }
        return id
    }

    /// The chat template of a GGUF, with the text of its BOS and EOS tokens.
    public static func chatTemplate(gguf metadata: GGUFMetadata) throws(TokenizerError) -> ChatTemplate {
        guard let text = metadata["tokenizer.chat_template"]?.string else { throw TokenizerError.noChatTemplate }
        func tokenText(_ key: String) -> String {
            guard let id = try? tokenID(metadata, key),
                  case .array(_, let tokens)? = metadata["tokenizer.ggml.tokens"], Int(id) < tokens.count else {
                return ""
            }
            return tokens[Int(id)].string ?? ""
        }
        return try ChatTemplate(source: text, bosToken: tokenText("tokenizer.ggml.bos_token_id"),
                                eosToken: tokenText("tokenizer.ggml.eos_token_id"))
    }

    /// A tokenizer.json: WordPiece (BERT), byte-level BPE or SentencePiece-style BPE (decoders), with
    /// the folder's tokenizer_config.json for BOS and EOS.
    public static func load(tokenizerJSON url: URL) throws -> any Tokenizer {
        let data = try Data(contentsOf: url)
        let json = try data.withUnsafeBytes { try StrictJSONParser.parse($0, rejectDuplicateKeys: false) }
        guard case .string("BPE")? = json["model"]?["type"] else { return try WordPieceTokenizer(tokenizerJSON: data) }
        let configURL = url.deletingLastPathComponent().appendingPathComponent("tokenizer_config.json")
        let config = try FileManager.default.contents(atPath: configURL.path).map { config in
            try config.withUnsafeBytes { try StrictJSONParser.parse($0, rejectDuplicateKeys: false) }
        }
        if SentencePieceTokenizer.isSentencePieceStyle(json) {
            return try SentencePieceTokenizer(tokenizerJSON: json, config: config)
        }
        return try BPETokenizer(tokenizerJSON: json, config: config)
    }

    /// Any checkpoint path: a GGUF file, a safetensors file with tokenizer.json beside it, or its folder.
    /// The chat template is kept as a result, so that `--chat` can report why it is unusable (no template,
    /// or one Scalpel does not know) instead of silently doing without.
    public static func load(
        checkpoint path: String
    ) throws -> (tokenizer: any Tokenizer, chat: Result<ChatTemplate, TokenizerError>) {
        let (file, mapped, format) = try CheckpointFormat.open(path)
        if format == .gguf {
            let gguf = try GGUFFile(file: mapped)
            return (try load(gguf: gguf.metadata), chatTemplateResult(gguf: gguf.metadata))
        }
        let json = URL(fileURLWithPath: file).deletingLastPathComponent().appendingPathComponent("tokenizer.json")
        guard FileManager.default.fileExists(atPath: json.path) else {
            throw TokenizerError.missingField("tokenizer.json beside \(file)")
        }
        return (try load(tokenizerJSON: json), .failure(.noChatTemplate))
    }

    /// The chat template of a Hugging Face folder, recognised: `chat_template.jinja`, else
    /// tokenizer_config.json's `chat_template` (a string; a list of named templates takes "default").
    public static func chatTemplateResult(folder: String) -> Result<ChatTemplate, TokenizerError> {
        let url = URL(fileURLWithPath: folder)
        let config = FileManager.default.contents(atPath: url.appendingPathComponent("tokenizer_config.json").path)
            .flatMap { data in
                try? data.withUnsafeBytes { try StrictJSONParser.parse($0, rejectDuplicateKeys: false) }
            }
        var text: String?
        if let data = FileManager.default.contents(atPath: url.appendingPathComponent("chat_template.jinja").path) {
            text = String(decoding: data, as: UTF8.self)
        } else if let json = config {
            switch json["chat_template"] {
            case .string(let template)?: text = template
            case .array(let named)?:
                for entry in named where entry["name"] == .string("default") {
                    if case .string(let t)? = entry["template"] { text = t }
                }
            default: break
            }
        }
        guard let text else { return .failure(.noChatTemplate) }
        return Result { () throws(TokenizerError) in
            try ChatTemplate(source: text, bosToken: AddedTokens.configured(config, "bos_token") ?? "",
                             eosToken: AddedTokens.configured(config, "eos_token") ?? "")
        }
    }

    /// The recognised chat template of a GGUF, or why there is none.
    public static func chatTemplateResult(gguf metadata: GGUFMetadata) -> Result<ChatTemplate, TokenizerError> {
        Result { () throws(TokenizerError) in try chatTemplate(gguf: metadata) }
    }
}

/// Text ↔ token ids. One protocol for every tokenizer family: byte-level BPE (GPT-2, SmolLM2),
/// WordPiece (BERT), and SentencePiece (Gemma, step 11).
public protocol Tokenizer: Sendable {
    /// Number of token ids (the embedding table's rows).
    var vocabularySize: Int { get }

    /// Token ids for `parts`, joined. With `addSpecialTokens`, the model's own framing is added: [CLS] …
    /// [SEP] for BERT, BOS where the model's metadata asks for it. Special-token text (for example
    /// "<|im_start|>") is matched as the special token only in the parts that parse it.
    func encode(_ parts: [TextPart], addSpecialTokens: Bool) -> [Int32]

    /// Text for `ids`. Special tokens are rendered as their text unless `skipSpecialTokens`.
    func decode(_ ids: [Int32], skipSpecialTokens: Bool) -> String

    /// The vocabulary string of one id, as stored (e.g. "Ġworld", "##ing"); nil if out of range.
    func token(_ id: Int32) -> String?

    /// The id of a vocabulary string, if it is one.
    func id(of token: String) -> Int32?

    /// Ids that are control/special tokens (never produced from ordinary text).
    var specialTokenIDs: Set<Int32> { get }

    /// The BOS id that `encode(_:addSpecialTokens: true)` puts first, if the model's metadata asks for one.
    var leadingBOS: Int32? { get }

    /// The end-of-sequence id, where the vocabulary has one (generation stops there).
    var endOfSequence: Int32? { get }

    /// The id that conditions a whole sentence's first token when the sentence is scored by its
    /// log-probability: BOS if the vocabulary names one, else EOS (lm-evaluation-harness's rule).
    var sentenceStart: Int32? { get }
}

extension Tokenizer {
    public var leadingBOS: Int32? { nil }
    public var endOfSequence: Int32? { nil }
    public var sentenceStart: Int32? { nil }

    /// Ids for scoring `text` as a whole sentence: with the model's own special tokens and, when those
    /// put nothing before the text, `sentenceStart`, so that every token of the text, the first one
    /// included, gets a log-probability. (CrowS-Pairs sentences often differ in their first word.)
    public func encodeSentence(_ text: String) -> [Int32] { encodeSentence([TextPart(text, parsesSpecial: true)]) }

    /// `encodeSentence` of a filled template: the template parsed, its filling not.
    public func encodeSentence(_ parts: [TextPart]) -> [Int32] {
        let ids = encode(parts, addSpecialTokens: true)
        guard leadingBOS == nil, let start = sentenceStart else { return ids }
        return [start] + ids
    }

    /// How many ids `encodeSentence` puts before the text: 1 for BOS or the start token, else 0.
    public var sentencePrefixLength: Int { (leadingBOS ?? sentenceStart) == nil ? 0 : 1 }

    /// Token ids for one text. - parseSpecial: whether special-token text in it becomes its token (false:
    ///   it is ordinary text, as in data that must not forge a turn).
    public func encode(_ text: String, addSpecialTokens: Bool, parseSpecial: Bool) -> [Int32] {
        encode([TextPart(text, parsesSpecial: parseSpecial)], addSpecialTokens: addSpecialTokens)
    }

    /// Token ids for text Scalpel wrote: special-token text in it is parsed.
    public func encode(_ text: String, addSpecialTokens: Bool) -> [Int32] {
        encode(text, addSpecialTokens: addSpecialTokens, parseSpecial: true)
    }

    /// Token ids for data: special-token text in it is ordinary text.
    public func encodeData(_ text: String, addSpecialTokens: Bool) -> [Int32] {
        encode(text, addSpecialTokens: addSpecialTokens, parseSpecial: false)
    }

    public func encode(_ text: String) -> [Int32] { encode(text, addSpecialTokens: true) }
    public func decode(_ ids: [Int32]) -> String { decode(ids, skipSpecialTokens: false) }
}

/// Why a tokenizer could not be built from a checkpoint's vocabulary.
public enum TokenizerError: Error, Equatable, CustomStringConvertible {
    case missingField(String)
    case unsupportedModel(String)
    case unsupportedPreTokenizer(String)
    /// A tokenizer.json component or flag value the SentencePiece reader does not implement, named.
    case unsupportedComponent(String)
    case badMerge(index: Int, text: String)
    case unknownToken(String)
    case chatTemplate(String)
    case chatTemplateRender(String)
    case noChatTemplate

    public var description: String {
        switch self {
        case .missingField(let field):
            return "the tokenizer data has no '\(field)'; the checkpoint is incomplete or not a language model."
        case .unsupportedModel(let name): return "tokenizer model '\(name)' is not supported " +
            "(Scalpel knows gpt2 byte-level BPE, BERT WordPiece and SentencePiece)."
        case .unsupportedPreTokenizer(let name): return "pre-tokenizer '\(name)' is not supported " +
            "(known: \(BPEPreTokenizer.knownNames.joined(separator: ", "))). " +
            "Tokens would not match the reference, so Scalpel stops here."
        case .unsupportedComponent(let name):
            return "tokenizer.json's \(name) is not implemented for SentencePiece-style BPE (known: normalizers " +
                "Prepend(\"▁\") and Replace(\" \", \"▁\"), pre-tokenizer Metaspace, decoders Replace, " +
                "ByteFallback, Fuse, Strip and Metaspace, TemplateProcessing, added tokens' lstrip and rstrip). " +
                "Tokens would not match the reference, so Scalpel stops here; load the model's GGUF instead."
        case .badMerge(let index, let text):
            return "merge \(index) ('\(text)') is not two tokens separated by one space."
        case .unknownToken(let token): return "token '\(token)' is not in the vocabulary."
        case .chatTemplate(let error): return "the model's chat template cannot be used: \(error)"
        case .chatTemplateRender(let error): return "the chat template did not render this conversation: \(error)"
        case .noChatTemplate:
            return "the model has no chat template (tokenizer.chat_template); use the plain text instead of --chat."
        }
    }
}

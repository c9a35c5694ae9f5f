/// How byte-level BPE cuts text into pieces before merging: GPT-2's regex, written out as a scanner
/// (`GPT2PreTokenizer`, SmolLM2's digit-isolating variant too), or a list of regexes applied one after
/// another, each splitting every piece the previous ones made (llama.cpp's `regex_exprs`; a tokenizer.json
/// `Sequence` of `Split`s).
///
/// The regex lists of the common families run as scanners instead (`scanning(_:unicodeFolding:)`): the
/// same pieces, several times faster.
public enum BPEPreTokenizer: Sendable {
    case gpt2(GPT2PreTokenizer)
    case llama3(Llama3PreTokenizer)
    case regexes([SplitRegex])

    /// The Llama 3 and Qwen2 patterns, as llama.cpp spells them and as a tokenizer.json does.
    static let llama3Patterns: [String: Int] = {
        let tail = "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
        let contractions = ["(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])", "(?i:'s|'t|'re|'ve|'m|'ll|'d)"]
        var patterns: [String: Int] = [:]
        for c in contractions {
            patterns[c + tail] = 3
            patterns[c + tail.replacingOccurrences(of: "\\p{N}{1,3}", with: "\\p{N}")] = 1
        }
        return patterns
    }()

    /// The pre-tokenizer for regexes applied in order: a scanner where one gives the same pieces.
    static func scanning(_ patterns: [String], unicodeFolding: Bool) throws(SplitRegex.Unsupported) -> BPEPreTokenizer {
        let gpt2Pattern = BPETokenizer.gpt2Pattern
        if patterns == [gpt2Pattern] { return .gpt2(GPT2PreTokenizer(isolateDigits: false)) }
        if patterns == ["\\p{N}", gpt2Pattern] { return .gpt2(GPT2PreTokenizer(isolateDigits: true)) }
        if patterns.count == 1, let digits = llama3Patterns[patterns[0]] {
            return .llama3(Llama3PreTokenizer(maxDigits: digits, unicodeFolding: unicodeFolding))
        }
        var regexes: [SplitRegex] = []
        for pattern in patterns { regexes.append(try SplitRegex(pattern)) }
        return .regexes(regexes)
    }

    /// llama.cpp's pre-tokenizer names (`tokenizer.ggml.pre`) and the regexes each applies, in order
    /// (llama-vocab.cpp, `llm_tokenizer_bpe`). A name not listed is an error, never another rule.
    static let llamaCppPatterns: [String: [String]] = {
        let contractions = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
        let gpt2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
        let llama3 = contractions + "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
        let qwen2 = contractions + "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
        // DeepSeek's classes, with every non-ASCII scalar escaped: canonical equivalents must not be normalized.
        let deepseekLLM = ["[\u{D}\u{A}]", "\\s?[A-Za-z\u{B5}\u{C0}-\u{D6}\u{D8}-\u{F6}\u{F8}-\u{1BA}\u{1BC}-\u{1BF}\u{1C4}-\u{293}\u{295}-\u{2AF}\u{370}-\u{373}\u{376}\u{377}\u{37B}-\u{37D}\u{37F}\u{386}\u{388}-\u{38A}\u{38C}\u{38E}-\u{3A1}\u{3A3}-\u{3F5}\u{3F7}-\u{481}\u{48A}-\u{52F}\u{531}-\u{556}\u{10A0}-\u{10C5}\u{13A0}-\u{13F5}\u{13F8}-\u{13FD}\u{1C90}-\u{1CBA}\u{1CBD}-\u{1CBF}\u{1D00}-\u{1D2B}\u{1D6B}-\u{1D77}\u{1D79}-\u{1D9A}\u{1E00}-\u{1F15}\u{1F18}-\u{1F1D}\u{1F20}-\u{1F45}\u{1F48}-\u{1F4D}\u{1F50}-\u{1F57}\u{1F59}\u{1F5B}\u{1F5D}\u{1F5F}-\u{1F7D}\u{1F80}-\u{1FB4}\u{1FB6}-\u{1FBC}\u{1FBE}\u{1FC2}-\u{1FC4}\u{1FC6}-\u{1FCC}\u{1FD0}-\u{1FD3}\u{1FD6}-\u{1FDB}\u{1FE0}-\u{1FEC}\u{1FF2}-\u{1FF4}\u{1FF6}-\u{1FFC}\u{2102}\u{2107}\u{210A}-\u{2113}\u{2115}\u{2119}-\u{211D}\u{2124}\u{2126}\u{2128}\u{212A}-\u{212D}\u{212F}-\u{2134}\u{2139}\u{213C}-\u{213F}\u{2145}-\u{2149}\u{214E}\u{2183}\u{2184}\u{2C00}-\u{2C7B}\u{2C7E}-\u{2CE4}\u{2CEB}-\u{2CEE}\u{2CF2}\u{2CF3}\u{A640}-\u{A66D}\u{A680}-\u{A69B}\u{A722}-\u{A76F}\u{A771}-\u{A787}\u{A78B}-\u{A78E}\u{AB70}-\u{ABBF}\u{FB00}-\u{FB06}\u{FB13}-\u{FB17}\u{FF21}-\u{FF3A}\u{FF41}-\u{FF5A}\u{10400}-\u{1044F}\u{104B0}-\u{104D3}\u{104D8}-\u{104FB}\u{10C80}-\u{10CB2}\u{10CC0}-\u{10CF2}\u{118A0}-\u{118DF}\u{1E900}-\u{1E943}]+", "\\s?[!-/:-~\u{FF01}-\u{FF0F}\u{FF1A}-\u{FF5E}\u{2018}-\u{201F}\u{3000}-\u{3002}]+", "\\s+$", "[\u{4E00}-\u{9FA5}\u{800}-\u{4E00}\u{AC00}-\u{D7FF}]+", "\\p{N}+"]
        let deepseekCoder = ["[\u{D}\u{A}]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[\u{4E00}-\u{9FA5}\u{800}-\u{4E00}\u{AC00}-\u{D7FF}]+", "\\p{N}"]
        return [
            "llama-bpe": [llama3], "llama3": [llama3], "dbrx": [llama3], "smaug-bpe": [llama3],
            "qwen2": [qwen2], "stablelm2": [qwen2], "hunyuan": [qwen2],
            "deepseek-llm": deepseekLLM, "deepseek-coder": deepseekCoder,
            "falcon": ["[\\p{P}\\$\\+<=>\\^~\\|`]+", gpt2, "[0-9][0-9][0-9]"],
            "starcoder": ["\\p{N}", gpt2], "refact": ["\\p{N}", gpt2], "command-r": ["\\p{N}", gpt2],
            "codeshell": ["\\p{N}", gpt2], "exaone": ["\\p{N}", gpt2], "minerva-7b": ["\\p{N}", gpt2],
            "mpt": [gpt2], "olmo": [gpt2], "jais": [gpt2], "trillion": [gpt2],
            "default": ["[\\p{P}\\$\\+<=>\\^~\\|]+", gpt2, "\\p{N}+", "[0-9][0-9][0-9]"],
        ]
    }()

    /// The pre-tokenizer a GGUF names; nil for a name Scalpel does not implement.
    static func llamaCpp(_ name: String) throws -> BPEPreTokenizer? {
        switch name {
        case "gpt2", "gpt-2": return .gpt2(GPT2PreTokenizer(isolateDigits: false))
        case "smollm": return .gpt2(GPT2PreTokenizer(isolateDigits: true))
        default: return try llamaCppPatterns[name].map { try scanning($0, unicodeFolding: false) }
        }
    }

    /// llama.cpp's LLAMA3 pre-type also ignores merges for a piece that is a token (HF's `ignore_merges`).
    static let ignoringMerges: Set<String> = ["llama-bpe", "llama3", "llama-v3", "dbrx", "smaug-bpe"]

    static var knownNames: [String] { (["gpt2", "gpt-2", "smollm"] + llamaCppPatterns.keys).sorted() }

    /// The pieces of `text`.
    public func split(_ text: String) -> [Substring] {
        switch self {
        case .gpt2(let scanner): return scanner.split(text)
        case .llama3(let scanner): return scanner.split(text)
        case .regexes(let patterns):
            let scalars = Array(text.unicodeScalars)
            var pieces = [0..<scalars.count]
            for pattern in patterns {
                var next: [Range<Int>] = []
                for piece in pieces { pattern.split(scalars, piece, into: &next) }
                pieces = next
            }
            let indices = GPT2PreTokenizer.scalarBoundaries(text, count: scalars.count)
            return pieces.map { text[indices[$0.lowerBound]..<indices[$0.upperBound]] }
        }
    }
}

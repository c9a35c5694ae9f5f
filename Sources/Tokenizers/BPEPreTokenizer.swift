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
    package static let llama3Patterns: [String: Int] = {
        let tail = "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|" +
            "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
        let contractions = ["(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])", "(?i:'s|'t|'re|'ve|'m|'ll|'d)"]
        var patterns: [String: Int] = [:]
        for c in contractions {
            patterns[c + tail] = 3
            patterns[c + tail.replacingOccurrences(of: "\\p{N}{1,3}", with: "\\p{N}")] = 1
        }
        return patterns
    }()

    /// The pre-tokenizer for regexes applied in order: a scanner where one gives the same pieces.
    package static func scanning(_ patterns: [String],
                                 unicodeFolding: Bool) throws(SplitRegex.Unsupported) -> BPEPreTokenizer {
        // llama.cpp spells GPT-2's regex without the final `|\s+`: the one character it matches is left
        // unmatched there, and an unmatched character is a piece of its own, so the pieces are the same.
        let gpt2 = BPETokenizer.gpt2Pattern, gpt2Short = String(gpt2.dropLast(4))
        if patterns == [gpt2] || patterns == [gpt2Short] { return .gpt2(GPT2PreTokenizer(isolateDigits: false)) }
        if patterns == ["\\p{N}", gpt2] || patterns == ["\\p{N}", gpt2Short] {
            return .gpt2(GPT2PreTokenizer(isolateDigits: true))
        }
        if patterns.count == 1, let digits = llama3Patterns[patterns[0]] {
            return .llama3(Llama3PreTokenizer(maxDigits: digits, unicodeFolding: unicodeFolding))
        }
        var regexes: [SplitRegex] = []
        for pattern in patterns { regexes.append(try SplitRegex(pattern)) }
        return .regexes(regexes)
    }

    /// llama.cpp's pre-tokenizer names (`tokenizer.ggml.pre`) and the regexes each applies, in order:
    /// every BPE pre-tokenizer of llama-vocab.cpp (`llm_tokenizer_bpe`) in llama-cpp-python 0.3.36's
    /// llama.cpp, as data. A name not listed is an error, never another rule; so is a listed one whose
    /// regex uses what `SplitRegex` does not implement (it says which construct).
    package static let llamaCppPatterns: [String: [String]] = {
        let groups: [([String], [String])] = [
        (["a.x-4.0", "exaone4", "gigachat", "gpt-2", "jina-de", "jina-es", "jina-v1-en", "jina-v2-code", "jina-v2-de",
            "jina-v2-es", "mellum", "modern-bert", "phi-2", "roberta-bpe"], [
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"]),
        (["afmoe"], [
            "\\p{AFMoE_digits}",
            "[\u{4E00}-\u{9FFF}\u{3400}-\u{4DBF}\u{8C48}-\u{FAFF}\u{3040}-\u{309F}\u{30A0}-\u{30FF}\u{FF65}-\u{FF9F}" +
                "\u{2F00}-\u{2FDF}\u{E40}-\u{E7F}\u{E80}-\u{EFF}\u{1780}-\u{17FF}\u{1000}-\u{109F}\u{AA60}-\u{AA7F}" +
                "\u{A9E0}-\u{A9FF}\u{AC00}-\u{D7AF}\u{1100}-\u{11FF}]+",
            "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+|" +
                " ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"]),
        (["bailingmoe", "bailingmoe2", "llada-moe"], [
            "'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}|" +
                " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+"]),
        (["bloom"], [" ?[^(\\s|.,!?\u{2026}\u{3002}\u{FF0C}\u{3001}\u{964}\u{6D4}\u{60C})]+"]),
        (["chameleon"], ["'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"]),
        (["chatglm-bpe", "glm4", "glm5"], [
            "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}|" +
                " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"]),
        (["codeshell"], ["\\p{N}", "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"]),
        (["cohere2moe", "tiny_aya"], [
            "\\d{1,3}(?=(?:\\d{3})*\\b)",
            """
                [^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?:'[sS]|\
                '[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\
                [^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?:'[sS]|\
                '[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\
                \\s*[\\r\\n]+|\\s+(?!\\S)|\\s+
                """]),
        (["command-r"], ["\\p{N}", "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"]),
        (["dbrx"], [
            "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}|" +
                " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"]),
        (["deepseek-coder"], [
            "[\u{D}\u{A}]",
            "\\s?\\p{L}+",
            "\\s?\\p{P}+",
            "[\u{4E00}-\u{9FA5}\u{800}-\u{4E00}\u{AC00}-\u{D7FF}]+",
            "\\p{N}"]),
        (["deepseek-llm"], [
            "[\u{D}\u{A}]",
            """
                \\s?[A-Za-z\u{B5}\u{C0}-\u{D6}\u{D8}-\u{F6}\u{F8}-\u{1BA}\u{1BC}-\u{1BF}\u{1C4}-\u{293}\u{295}-\u{2AF}\
                \u{370}-\u{373}\u{376}\u{377}\u{37B}-\u{37D}\u{37F}\u{386}\u{388}-\u{38A}\u{38C}\u{38E}-\u{3A1}\
                \u{3A3}-\u{3F5}\u{3F7}-\u{481}\u{48A}-\u{52F}\u{531}-\u{556}\u{10A0}-\u{10C5}\u{13A0}-\u{13F5}\
                \u{13F8}-\u{13FD}\u{1C90}-\u{1CBA}\u{1CBD}-\u{1CBF}\u{1D00}-\u{1D2B}\u{1D6B}-\u{1D77}\u{1D79}-\u{1D9A}\
                \u{1E00}-\u{1F15}\u{1F18}-\u{1F1D}\u{1F20}-\u{1F45}\u{1F48}-\u{1F4D}\u{1F50}-\u{1F57}\u{1F59}\u{1F5B}\
                \u{1F5D}\u{1F5F}-\u{1F7D}\u{1F80}-\u{1FB4}\u{1FB6}-\u{1FBC}\u{1FBE}\u{1FC2}-\u{1FC4}\u{1FC6}-\u{1FCC}\
                \u{1FD0}-\u{1FD3}\u{1FD6}-\u{1FDB}\u{1FE0}-\u{1FEC}\u{1FF2}-\u{1FF4}\u{1FF6}-\u{1FFC}\u{2102}\u{2107}\
                \u{210A}-\u{2113}\u{2115}\u{2119}-\u{211D}\u{2124}\u{2126}\u{2128}\u{212A}-\u{212D}\u{212F}-\u{2134}\
                \u{2139}\u{213C}-\u{213F}\u{2145}-\u{2149}\u{214E}\u{2183}\u{2184}\u{2C00}-\u{2C7B}\u{2C7E}-\u{2CE4}\
                \u{2CEB}-\u{2CEE}\u{2CF2}\u{2CF3}\u{A640}-\u{A66D}\u{A680}-\u{A69B}\u{A722}-\u{A76F}\u{A771}-\u{A787}\
                \u{A78B}-\u{A78E}\u{AB70}-\u{ABBF}\u{FB00}-\u{FB06}\u{FB13}-\u{FB17}\u{FF21}-\u{FF3A}\u{FF41}-\u{FF5A}\
                \u{10400}-\u{1044F}\u{104B0}-\u{104D3}\u{104D8}-\u{104FB}\u{10C80}-\u{10CB2}\u{10CC0}-\u{10CF2}\
                \u{118A0}-\u{118DF}\u{1E900}-\u{1E943}]+
                """,
            "\\s?[!-/:-~\u{FF01}-\u{FF0F}\u{FF1A}-\u{FF5E}\u{2018}-\u{201F}\u{3000}-\u{3002}]+",
            "\\s+$",
            "[\u{4E00}-\u{9FA5}\u{800}-\u{4E00}\u{AC00}-\u{D7FF}]+",
            "\\p{N}+"]),
        (["deepseek-r1-qwen", "f2llmv2", "kormo", "megrez", "qwen2"], [
            "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}|" +
                " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"]),
        (["deepseek-v3"], [
            "\\p{N}{1,3}",
            "[\u{4E00}-\u{9FA5}\u{3040}-\u{309F}\u{30A0}-\u{30FF}]+",
            "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\u{D}\u{A}\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+|" +
                " ?[\\p{P}\\p{S}]+[\u{D}\u{A}]*|\\s*[\u{D}\u{A}]+|\\s+(?!\\S)|\\s+"]),
        (["exaone"], ["\\p{N}", "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"]),
        (["exaone-moe"], [
            "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|" +
                "[^\\r\\n\\p{L}\\p{N}]?(?:\\p{L}\\p{M}*(?: \\p{L}\\p{M}*)*)+|\\p{N}|" +
                " ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]?|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+"]),
        (["falcon"], [
            "[\\p{P}\\$\\+<=>\\^~\\|`]+",
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
            "[0-9][0-9][0-9]"]),
        (["falcon-h1", "falcon3", "jina-v5-nano", "lfm2", "llama-bpe", "llama-v3", "llama3", "midm-2.0", "pixtral"], [
            "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}|" +
                " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"]),
        (["gemma4", "granite-embed-multi-311m"], ["[^\\n]+|[\\n]+"]),
        (["gpt-4o", "kanana2", "llama4", "talkie"], [
            """
                [^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|\
                '[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*(?:'[sS]|\
                '[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\
                \\s*[\\r\\n]+|\\s+(?!\\S)|\\s+
                """]),
        (["gpt3-finnish"], [" ?[^(\\s|.,!?\u{2026}\u{3002}\u{FF0C}\u{3001}\u{964}\u{6D4}\u{60C})]+"]),
        (["granite-docling"], ["'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"]),
        (["granite-embed-multi-97m"], [
            """
                [^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}\\p{M}])([^a-z]))*((?=[\\p{L}\\p{M}])([^A-Z]))+(?:'[sS]|'[tT]|\
                '[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\
                [^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}\\p{M}])([^a-z]))+((?=[\\p{L}\\p{M}])([^A-Z]))*(?:'[sS]|'[tT]|\
                '[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\
                \\s+(?!\\S)|\\s+
                """]),
        (["grok-2"], [
            "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}|" +
                " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"]),
        (["hunyuan"], [
            "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}|" +
                " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"]),
        (["hunyuan-dense"], [
            "\\p{N}{1,3}",
            "[\u{4E00}-\u{9FA5}\u{3040}-\u{309F}\u{30A0}-\u{30FF}]+",
            "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\u{D}\u{A}\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+|" +
                " ?[\\p{P}\\p{S}]+[\u{D}\u{A}]*|\\s*[\u{D}\u{A}]+|\\s+(?!\\S)|\\s+"]),
        (["hy_v4"], [
            "\\p{N}{1,3}",
            "[\u{4E00}-\u{9FA5}\u{3040}-\u{309F}\u{30A0}-\u{30FF}]+",
            "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\u{D}\u{A}\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+|" +
                " ?[\\p{P}\\p{S}]+[\u{D}\u{A}]*|\\s*[\u{D}\u{A}]+|\\s+(?!\\S)|\\s+"]),
        (["jais"], ["'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"]),
        (["jais-2"], [
            "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}|" +
                " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s{512}(?!\\S)|\\s{256}(?!\\S)|\\s{128}(?!\\S)|" +
                "\\s{64}(?!\\S)|\\s{32}(?!\\S)|\\s{16}(?!\\S)|\\s{8}(?!\\S)|\\s{4}(?!\\S)|\\s{1,2}(?!\\S)|\\s{1}"]),
        (["joyai-llm"], [
            "\\p{N}{1,3}",
            "[\u{4E00}-\u{9FA5}\u{3040}-\u{309F}\u{30A0}-\u{30FF}]+",
            "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\u{D}\u{A}\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+|" +
                " ?[\\p{P}\\p{S}]+[\u{D}\u{A}]*|\\s*[\u{D}\u{A}]+|\\s+(?!\\S)|\\s+"]),
        (["kimi-k2"], ["\\p{Han}+"]),
        (["laguna"], [
            "[^\\n]+|[\\n]+",
            "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}|" +
                " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"]),
        (["mellum2"], ["\\p{N}", "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"]),
        (["minerva-7b"], ["\\p{N}", "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"]),
        (["minicpm5"], [
            "\\p{N}{1,3}",
            "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}+|" +
                " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"]),
        (["minimax-m2"], [
            """
                [^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|\
                '[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*(?:'[sS]|\
                '[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\
                \\s*[\\r\\n]+|\\s+(?!\\S)|\\s+
                """]),
        (["mpt"], ["'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"]),
        (["olmo"], ["'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"]),
        (["poro-chat"], [" ?[^(\\s|.,!?\u{2026}\u{3002}\u{FF0C}\u{3001}\u{964}\u{6D4}\u{60C})]+"]),
        (["qwen35"], [
            "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}|" +
                " ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"]),
        (["refact"], ["\\p{N}", "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"]),
        (["sarvam-moe"], ["[^\\n]+|[\\n]+"]),
        (["seed-coder"], [
            "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}|" +
                " ?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"]),
        (["smaug-bpe"], [
            "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}|" +
                " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"]),
        (["smollm"], ["\\p{N}", "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"]),
        (["solar-open"], [
            "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}|" +
                " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"]),
        (["spark2_5"], [
            "\\p{N}{1,3}",
            "[\u{4E00}-\u{9FA5}\u{3040}-\u{309F}\u{30A0}-\u{30FF}]+",
            "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\u{D}\u{A}\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+|" +
                " ?[\\p{P}\\p{S}]+|[\u{D}\u{A}]|\\s+(?!\\S)|\\s+",
            "\\p{N}"]),
        (["stablelm2"], [
            "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}|" +
                " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"]),
        (["starcoder"], ["\\p{N}", "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"]),
        (["superbpe"], ["\\p{N}+", "(?=(\\d{3})+(?!\\d))"]),
        (["tekken"], [
            "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|" +
                "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*|\\p{N}|" +
                " ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"]),
        (["trillion"], ["'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"]),
        (["ufakzeka"], [
            "[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"]),
        (["viking"], [" ?[^(\\s|.,!?\u{2026}\u{3002}\u{FF0C}\u{3001}\u{964}\u{6D4}\u{60C})]+", "\\p{N}"]),
        (["whitespace"], ["\\S+"]),
        (["youtu"], [
            "[\u{AC00}-\u{D7A3}\u{3131}-\u{318E}]+|" +
                "[\u{FF01}\u{2026}\u{201C}\u{201D}\u{2018}\u{2019}\u{2014}\u{FF1A}\u{FF1B}\u{FF0C}\u{3001}-\u{303F}" +
                "\u{FE30}-\u{FE4F}]+|[\u{3105}-\u{312F}]+|[\u{4E00}-\u{9FA5}\u{3040}-\u{309F}\u{30A0}-\u{30FF}]+",
            """
                [^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?:'[sS]|\
                '[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\
                [^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?:'[sS]|\
                '[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\
                \\s+(?!\\S)|\\s+
                """]),
            (["default"], ["[\\p{P}\\$\\+<=>\\^~\\|]+", BPETokenizer.gpt2Pattern, "\\p{N}+", "[0-9][0-9][0-9]"]),
        ]
        var table: [String: [String]] = [:]
        for (names, patterns) in groups { for name in names { table[name] = patterns } }
        return table
    }()

    /// Names whose vocabulary is SentencePiece-style BPE: llama.cpp replaces spaces with "▁" before
    /// splitting (`escape_whitespaces`), which Scalpel's byte-level BPE does not do; refused by name.
    static let escapingWhitespace: Set<String> = ["gemma4", "granite-embed-multi-311m", "sarvam-moe"]

    /// The pre-tokenizer a GGUF names; nil for a name Scalpel does not implement.
    package static func llamaCpp(_ name: String) throws -> BPEPreTokenizer? {
        switch name {
        case "gpt2", "gpt-2": return .gpt2(GPT2PreTokenizer(isolateDigits: false))
        case "smollm": return .gpt2(GPT2PreTokenizer(isolateDigits: true))
        default:
            guard !escapingWhitespace.contains(name) else { return nil }
            return try llamaCppPatterns[name].map { try scanning($0, unicodeFolding: false) }
        }
    }

    /// The names for which llama.cpp ignores merges for a piece that is a token (HF's `ignore_merges`).
    static let ignoringMerges: Set<String> = ["falcon-h1", "falcon3", "glm4", "glm5", "granite-embed-multi-97m",
                                              "jina-v5-nano", "lfm2", "llama-bpe", "llama-v3", "llama3", "midm-2.0",
                                              "minicpm5", "pixtral", "tekken", "youtu"]

    static var knownNames: [String] {
        (["gpt2", "gpt-2", "smollm"] + llamaCppPatterns.keys.filter { !escapingWhitespace.contains($0) }).sorted()
    }

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

import Testing
import Tokenizers

/// The GPT-2 split, case by case, worked out from the regex's alternatives by hand.
@Suite struct PreTokenizerTests {
    static let cases: [(String, [String], Bool)] = [
        ("Hello world", ["Hello", " world"], false),
        ("a  b", ["a", " ", " b"], false),
        ("x\n\ny", ["x", "\n", "\n", "y"], false),
        ("end  ", ["end", "  "], false),
        ("it's I'M", ["it", "'s", " I", "'", "M"], false),
        ("we'll've're'd't'm", ["we", "'ll", "'ve", "'re", "'d", "'t", "'m"], false),
        (" 123 abc", [" 123", " abc"], false),
        (" 123 abc", [" ", "1", "2", "3", " abc"], true),
        ("x=-1", ["x", "=-", "1"], true),
        ("!!  ??", ["!!", " ", " ??"], false),
        ("\u{00A0}a", ["\u{00A0}", "a"], false),
        ("naïve", ["naïve"], false),
        ("", [], false),
    ]

    @Test(arguments: 0..<cases.count)
    func split(_ index: Int) {
        let (text, expected, digits) = Self.cases[index]
        #expect(GPT2PreTokenizer(isolateDigits: digits).split(text).map(String.init) == expected)
    }

    @Test func byteLevelTableIsABijectionWithTheKnownAnchors() {
        #expect(Set(ByteLevel.byteToScalar).count == 256)
        #expect(ByteLevel.byteToScalar[32] == "\u{0120}" && ByteLevel.byteToScalar[10] == "\u{010A}" && ByteLevel.byteToScalar[65] == "A")
        let bytes = (0...255).map(UInt8.init)
        #expect(ByteLevel.decode(ByteLevel.encode(bytes)) == bytes)
    }

    @Test func specialTokensAreSplitLongestFirst() {
        let splitter = SpecialTokenSplitter(["<a>": 1, "<a><b>": 2, "[X]": 3])
        #expect(splitter.split("x<a><b>y<a>[X]") == [.text("x"), .special(2), .text("y"), .special(1), .special(3)])
        #expect(splitter.split("") == [])
    }

    @Test func bertNormalizerFollowsItsSteps() {
        let n = BertNormalizer()
        #expect(n.normalize("Héllo\tWORLD\u{0007}") == "hello world")
        #expect(n.normalize("中文") == " 中  文 ")
        #expect(bertPreTokenize("don't stop!") == ["don", "'", "t", "stop", "!"])
    }

    @Test func unknownChatTemplatesAreRefusedByName() {
        #expect(throws: TokenizerError.self) { try ChatTemplate.recognise("{% for m in messages %}[INST] {{ m.content }} [/INST]{% endfor %}") }
        let chat = ChatTemplate.chatML(defaultSystem: "Be brief.")
        #expect(chat.render([.init(role: "user", content: "Hi")]) == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
        #expect(chat.render([.init(role: "system", content: "S"), .init(role: "user", content: "Hi")], addGenerationPrompt: false)
                == "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n")
    }
}

@Suite struct ChatTemplateLoadingTests {
    /// An unknown or missing template is reported as such, never replaced by a default.
    @Test func unknownAndMissingTemplatesSayWhy() {
        let unknown = GGUFMetadata([("tokenizer.chat_template", .string("{{ bos_token }}[INST] {{ messages[0]['content'] }} [/INST]"))])
        guard case .failure(.unknownChatTemplate(let excerpt)) = TokenizerLoader.chatTemplateResult(gguf: unknown) else {
            Issue.record("an unknown template was accepted")
            return
        }
        #expect(excerpt.contains("[INST]"))
        #expect(TokenizerLoader.chatTemplateResult(gguf: GGUFMetadata([])) == .failure(.noChatTemplate))
    }
}

import Checkpoints

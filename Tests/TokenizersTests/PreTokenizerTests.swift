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

    /// A template Scalpel cannot run is refused with the construct and its line, never approximated.
    @Test func templatesThatCannotRunAreRefusedByConstruct() throws {
        #expect(throws: TokenizerError.chatTemplate("line 2: the template uses the '{% include %}' statement, which Scalpel's Jinja interpreter does not implement; render it with a template that avoids it, or report the construct.")) {
            try ChatTemplate(source: "{{ bos_token }}\n{% include 'other.jinja' %}")
        }
        let chatML = """
        {% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nBe brief.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}
        """
        let chat = try ChatTemplate(source: chatML)
        #expect(try chat.render([.init(role: "user", content: "Hi")]) == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
        #expect(try chat.render([.init(role: "system", content: "S"), .init(role: "user", content: "Hi")], addGenerationPrompt: false)
                == "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n")
    }

    /// The messages are data: their special-token text stays text, the template's own is parsed.
    @Test func renderedMessagesAreDataAndTheScaffoldIsNot() throws {
        let chat = try ChatTemplate(source: "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content | trim }}<|im_end|>\n{% endfor %}")
        let parts = try chat.renderParts([.init(role: "user", content: "  hi <|im_end|> there ")], addGenerationPrompt: false)
        #expect(parts == [TextPart("<|im_start|>", parsesSpecial: true), TextPart("user", parsesSpecial: false),
                          TextPart("\n", parsesSpecial: true), TextPart("hi <|im_end|> there", parsesSpecial: false),
                          TextPart("<|im_end|>\n", parsesSpecial: true)])
        #expect(try chat.renderParts([.init(role: "user", content: "x")], parseContent: true).allSatisfy(\.parsesSpecial))
    }

    /// A template that raises (Gemma 2 refuses a system turn) is an error with the template's message.
    @Test func aRaisingTemplateReportsItsMessage() throws {
        let chat = try ChatTemplate(source: "{% if messages[0].role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}")
        #expect(throws: TokenizerError.chatTemplateRender("line 1: the template raised an error: System role not supported")) {
            try chat.render([.init(role: "system", content: "S")])
        }
    }
}

@Suite struct ChatTemplateLoadingTests {
    /// A broken or missing template is reported as such, never replaced by a default; a GGUF's template
    /// sees the text of the file's BOS and EOS tokens.
    @Test func brokenAndMissingTemplatesSayWhyAndTokensComeFromTheFile() throws {
        let broken = GGUFMetadata([("tokenizer.chat_template", .string("{{ bos_token }}[INST] {{ messages[0]['content'] }"))])
        guard case .failure(.chatTemplate(let message)) = TokenizerLoader.chatTemplateResult(gguf: broken) else {
            Issue.record("a broken template was accepted")
            return
        }
        #expect(message.contains("line 1"))
        #expect(TokenizerLoader.chatTemplateResult(gguf: GGUFMetadata([])) == .failure(.noChatTemplate))
        let tokens = GGUFValue.array(.string, [.string("<unk>"), .string("<s>"), .string("</s>")])
        let metadata = GGUFMetadata([("tokenizer.chat_template", .string("{{ bos_token }}{{ messages[0].content }}{{ eos_token }}")),
                                     ("tokenizer.ggml.tokens", tokens), ("tokenizer.ggml.bos_token_id", .uint32(1)),
                                     ("tokenizer.ggml.eos_token_id", .uint32(2))])
        let chat = try TokenizerLoader.chatTemplateResult(gguf: metadata).get()
        #expect(try chat.render([.init(role: "user", content: "Hi")]) == "<s>Hi</s>")
    }
}

import Checkpoints

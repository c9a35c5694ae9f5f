/// Chat templates Scalpel can apply faithfully, recognised from the model's Jinja template text.
///
/// Rendering arbitrary Jinja is out of scope, and guessing is worse than refusing: a template that is
/// not recognised is an error that quotes its beginning (`TokenizerError.unknownChatTemplate`).
public enum ChatTemplate: Sendable, Equatable {
    /// ChatML (`<|im_start|>role\ncontent<|im_end|>\n`), with the default system message the template
    /// inserts when the conversation does not start with one (SmolLM2, Qwen).
    case chatML(defaultSystem: String?)
    /// Gemma's `<start_of_turn>user\n…<end_of_turn>\n`, with the model role called "model".
    case gemma

    public struct Message: Sendable, Equatable {
        public var role: String
        public var content: String
        public init(role: String, content: String) { self.role = role; self.content = content }
    }

    /// Recognises the template text of a GGUF's `tokenizer.chat_template` (or tokenizer_config.json).
    public static func recognise(_ template: String) throws(TokenizerError) -> ChatTemplate {
        // Templates write a newline inside string literals either as a real newline or as "\n"; compare
        // in the escaped form, and ignore the spaces around Jinja operators.
        let escaped = template.replacingOccurrences(of: "\n", with: "\\n")
        let compact = escaped.filter { $0 != " " && $0 != "\t" }
        if compact.contains("'<|im_start|>'+message['role']+'\\n'+message['content']+'<|im_end|>'+'\\n'") {
            // The default system message sits between "<|im_start|>system\n" and "<|im_end|>" in a literal.
            if let start = escaped.range(of: "'<|im_start|>system\\n"),
               let end = escaped.range(of: "<|im_end|>", range: start.upperBound..<escaped.endIndex) {
                let message = String(escaped[start.upperBound..<end.lowerBound]).replacingOccurrences(of: "\\n", with: "\n")
                return .chatML(defaultSystem: message)
            }
            return .chatML(defaultSystem: nil)
        }
        if compact.contains("<start_of_turn>") && compact.contains("<end_of_turn>") { return .gemma }
        throw .unknownChatTemplate(excerpt: String(template.prefix(160)))
    }

    /// The prompt text for `messages`, ending with the assistant's turn opened when `addGenerationPrompt`.
    public func render(_ messages: [Message], addGenerationPrompt: Bool = true) -> String {
        renderParts(messages, addGenerationPrompt: addGenerationPrompt).map(\.text).joined()
    }

    /// The same text in parts: the template's own text parses special tokens, the messages' contents
    /// (data) do not, so that a message cannot forge a turn. `parseContent` opts in.
    public func renderParts(_ messages: [Message], addGenerationPrompt: Bool = true, parseContent: Bool = false) -> [TextPart] {
        var parts: [TextPart] = []
        func scaffold(_ text: String) { parts.append(TextPart(text, parsesSpecial: true)) }
        func content(_ text: String) { parts.append(TextPart(text, parsesSpecial: parseContent)) }
        switch self {
        case .chatML(let defaultSystem):
            if let defaultSystem, messages.first?.role != "system" {
                scaffold("<|im_start|>system\n\(defaultSystem)<|im_end|>\n")
            }
            for message in messages {
                scaffold("<|im_start|>\(message.role)\n")
                content(message.content)
                scaffold("<|im_end|>\n")
            }
            if addGenerationPrompt { scaffold("<|im_start|>assistant\n") }
        case .gemma:
            // Gemma folds a system message into the first user turn.
            scaffold("<bos>")
            var pendingSystem: String?
            for message in messages {
                if message.role == "system" { pendingSystem = message.content; continue }
                let role = message.role == "assistant" ? "model" : message.role
                scaffold("<start_of_turn>\(role)\n")
                if let system = pendingSystem { content(system); scaffold("\n\n") }
                content(message.content)
                pendingSystem = nil
                scaffold("<end_of_turn>\n")
            }
            if addGenerationPrompt { scaffold("<start_of_turn>model\n") }
        }
        return parts
    }
}

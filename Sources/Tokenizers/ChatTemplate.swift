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
        switch self {
        case .chatML(let defaultSystem):
            var text = ""
            if let defaultSystem, messages.first?.role != "system" {
                text += "<|im_start|>system\n\(defaultSystem)<|im_end|>\n"
            }
            for message in messages { text += "<|im_start|>\(message.role)\n\(message.content)<|im_end|>\n" }
            if addGenerationPrompt { text += "<|im_start|>assistant\n" }
            return text
        case .gemma:
            // Gemma folds a system message into the first user turn.
            var text = "<bos>"
            var pendingSystem: String?
            for message in messages {
                if message.role == "system" { pendingSystem = message.content; continue }
                let role = message.role == "assistant" ? "model" : message.role
                let content = (pendingSystem.map { $0 + "\n\n" } ?? "") + message.content
                pendingSystem = nil
                text += "<start_of_turn>\(role)\n\(content)<end_of_turn>\n"
            }
            if addGenerationPrompt { text += "<start_of_turn>model\n" }
            return text
        }
    }
}

import Foundation
import Jinja

/// A model's chat template: its Jinja text, rendered as Hugging Face's `apply_chat_template` renders
/// it (see the Jinja module), with the model's BOS and EOS token text.
///
/// The rendering comes back in parts: the template's own text parses special tokens, the messages
/// (data) do not, so that a message cannot forge a turn.
public struct ChatTemplate: Sendable, Equatable {
    public let source: String
    public var bosToken: String
    public var eosToken: String
    private let template: Template

    public struct Message: Sendable, Equatable {
        public var role: String
        public var content: String
        public init(role: String, content: String) { self.role = role; self.content = content }
    }

    /// Parses `source`; a syntax error or an unsupported statement is reported with its line.
    public init(source: String, bosToken: String = "", eosToken: String = "") throws(TokenizerError) {
        self.source = source
        self.bosToken = bosToken
        self.eosToken = eosToken
        do { template = try Template(source) } catch { throw TokenizerError.chatTemplate("\(error)") }
    }

    public static func == (a: ChatTemplate, b: ChatTemplate) -> Bool {
        a.source == b.source && a.bosToken == b.bosToken && a.eosToken == b.eosToken
    }

    /// The prompt text for `messages`, ending with the assistant's turn opened when `addGenerationPrompt`.
    public func render(_ messages: [Message], addGenerationPrompt: Bool = true, date: Date = Date()) throws -> String {
        try renderParts(messages, addGenerationPrompt: addGenerationPrompt, date: date).map(\.text).joined()
    }

    /// The rendering in parts; `parseContent` lets the messages' special-token text be parsed too.
    public func renderParts(_ messages: [Message], addGenerationPrompt: Bool = true, parseContent: Bool = false,
                            date: Date = Date()) throws -> [TextPart] {
        let list = Jinja.Value.list(messages.map { message in
            .dict(Dict([("role", .string(message.role, isData: true)),
                        ("content", .string(message.content, isData: true))]))
        })
        return try renderParts(messages: list, addGenerationPrompt: addGenerationPrompt,
                               parseContent: parseContent, date: date)
    }

    /// Renders messages given as JSON values (`[{role, content, …}]`, every string marked as data).
    public func renderParts(messages: Jinja.Value, addGenerationPrompt: Bool, parseContent: Bool = false,
                            date: Date = Date()) throws -> [TextPart] {
        let context = Dict([
            ("messages", ChatTemplate.prepared(messages)),
            ("add_generation_prompt", .bool(addGenerationPrompt)),
            ("bos_token", .string(bosToken)),
            ("eos_token", .string(eosToken)),
            // transformers passes both, as none, when the caller has none.
            ("tools", .none),
            ("documents", .none),
        ])
        let text: Text
        do {
            text = try template.render(context, now: date)
        } catch {
            throw TokenizerError.chatTemplateRender("\(error)")
        }
        return text.runs.map { TextPart($0.text, parsesSpecial: !$0.isData || parseContent) }
    }

    /// The messages as transformers' `apply_chat_template` hands them to the template: keys whose value
    /// is null dropped (templates handle a missing key, not a "None"), and a message's reasoning
    /// (`reasoning_content`, `thinking` or `reasoning`) copied to `thinking` (first) and
    /// `reasoning_content` (last), the names templates read.
    static func prepared(_ messages: Jinja.Value) -> Jinja.Value {
        guard case .list(let items) = messages else { return messages }
        return .list(items.map { item in
            guard case .dict(let given) = item else { return item }
            var message = Dict()
            for pair in given.pairs {
                if case .none = pair.value { continue }
                message[pair.key] = pair.value
            }
            let fields = ["reasoning_content", "thinking", "reasoning"]
            guard let reasoning = fields.lazy.compactMap({ message[$0] }).first else { return .dict(message) }
            var aliased = Dict([("thinking", reasoning)])
            for pair in message.pairs { aliased[pair.key] = pair.value }
            aliased["reasoning_content"] = reasoning
            return .dict(aliased)
        })
    }

    /// The special token the template writes to end an assistant's turn (`<|im_end|>`, `<|eot_id|>`,
    /// `<end_of_turn>`, …): the first one after an assistant message's content. Generation stops there.
    public func turnEnd(_ tokenizer: any Tokenizer) -> Int32? {
        let marker = "\u{E000}reply\u{E000}"  // private-use scalars no template writes
        let conversation = [Message(role: "user", content: "Hi"), Message(role: "assistant", content: marker)]
        guard let text = try? render(conversation, addGenerationPrompt: false),
              let range = text.range(of: marker) else { return nil }
        let after = tokenizer.encode(String(text[range.upperBound...]), addSpecialTokens: false, parseSpecial: true)
        return after.first { tokenizer.specialTokenIDs.contains($0) }
    }
}

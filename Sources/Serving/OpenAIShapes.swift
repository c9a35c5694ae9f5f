import Foundation
import Hummingbird
import JSON
import OpenAIRequests

/// The JSON OpenAI's clients read: completions, chat completions, and their streamed chunks. Scalpel's
/// additions live under "scalpel": the knobs applied, the token ids, and with `compare` the unsteered
/// completion.
enum OpenAIShapes {
    static func completion(_ c: ServingEngine.Completion, unsteered: ServingEngine.Completion?,
                           request: CompletionRequest, chat: Bool, model: String, id: String, created: Int) -> String {
        let choice = chat ?
            "{\"index\": 0, \"message\": {\"role\": \"assistant\", \"content\": \(jsonString(c.text))}, " +
                "\"finish_reason\": \(jsonString(c.finishReason))}" :
            "{\"index\": 0, \"text\": \(jsonString(c.text)), \"logprobs\": null, " +
                "\"finish_reason\": \(jsonString(c.finishReason))}"
        var scalpel = "\"knobs\": \(knobs(request.knobs)), \"ids\": \(ids(c.ids))"
        if let u = unsteered {
            scalpel += ", \"unsteered\": {\"text\": \(jsonString(u.text)), \"ids\": \(ids(u.ids)), " +
                "\"finish_reason\": \(jsonString(u.finishReason))}"
        }
        return "{\"id\": \(jsonString(id)), \"object\": \(jsonString(chat ? "chat.completion" : "text_completion")), " +
            "\"created\": \(created), \"model\": \(jsonString(model)), \"choices\": [\(choice)], " +
            "\"usage\": \(usage(c)), \"scalpel\": {\(scalpel)}}"
    }

    /// One streamed chunk: the assistant's role (chat's first), a piece of text, or the finish.
    static func chunk(id: String, created: Int, model: String, chat: Bool, role: Bool = false, text: String? = nil,
                      finish: String? = nil) -> String {
        let reason = finish.map(jsonString) ?? "null"
        let choice: String
        if chat {
            let delta = role ? "{\"role\": \"assistant\", \"content\": \"\"}" : text.map { "{\"content\": \(jsonString($0))}" } ?? "{}"
            choice = "{\"index\": 0, \"delta\": \(delta), \"finish_reason\": \(reason)}"
        } else {
            choice = "{\"index\": 0, \"text\": \(jsonString(text ?? "")), \"logprobs\": null, \"finish_reason\": \(reason)}"
        }
        return "{\"id\": \(jsonString(id)), \"object\": \(jsonString(chat ? "chat.completion.chunk" : "text_completion")), " +
            "\"created\": \(created), \"model\": \(jsonString(model)), \"choices\": [\(choice)]}"
    }

    /// `stream_options.include_usage`'s last chunk: no choices, the token counts.
    static func usageChunk(id: String, created: Int, model: String, chat: Bool, _ c: ServingEngine.Completion) -> String {
        "{\"id\": \(jsonString(id)), \"object\": \(jsonString(chat ? "chat.completion.chunk" : "text_completion")), " +
            "\"created\": \(created), \"model\": \(jsonString(model)), \"choices\": [], \"usage\": \(usage(c))}"
    }

    static func event(_ json: String) -> ByteBuffer { ByteBuffer(string: "data: \(json)\n\n") }

    static func usage(_ c: ServingEngine.Completion) -> String {
        "{\"prompt_tokens\": \(c.promptTokens), \"completion_tokens\": \(c.ids.count), " +
            "\"total_tokens\": \(c.promptTokens + c.ids.count)}"
    }

    static func ids(_ ids: [Int32]) -> String { "[" + ids.map { String($0) }.joined(separator: ", ") + "]" }

    static func knobs(_ knobs: [String: Double]) -> String {
        "{" + knobs.sorted { $0.key < $1.key }.map { "\(jsonString($0.key)): \(number($0.value))" }
            .joined(separator: ", ") + "}"
    }

    static func number(_ x: Double) -> String { x == x.rounded() && abs(x) < 1e15 ? String(Int64(x)) : "\(x)" }
}

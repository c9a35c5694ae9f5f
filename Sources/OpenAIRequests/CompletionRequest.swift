import Foundation
import JSON

/// An error in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}` with its HTTP status.
public struct APIError: Error, Sendable, Equatable, CustomStringConvertible {
    public var status: Int
    public var message: String
    public var type: String
    public var param: String?
    /// Seconds a client should wait before trying again (429), if any.
    public var retryAfter: Int?

    public init(status: Int, message: String, type: String, param: String?, retryAfter: Int? = nil) {
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.retryAfter = retryAfter
    }

    public static func invalid(_ message: String, param: String? = nil) -> APIError {
        APIError(status: 400, message: message, type: "invalid_request_error", param: param)
    }

    public var description: String { message }

    public var body: String {
        "{\"error\": {\"message\": \(jsonString(message)), \"type\": \(jsonString(type)), " +
            "\"param\": \(param.map(jsonString) ?? "null"), \"code\": null}}"
    }
}

/// A chat or text completion request, as OpenAI's API spells it, checked field by field. Every field
/// Scalpel does not implement is refused by name (never ignored), so a client learns what it did not get.
///
///     chat:       {model?, messages: [{role, content}], max_tokens?, temperature?, top_p?, seed?, stop?,
///                  stream?, scalpel?: {knobs?: {name: strength}, compare?: bool}}
///     completion: the same with prompt: string instead of messages
public struct CompletionRequest: Sendable, Equatable {
    public enum Input: Sendable, Equatable {
        case prompt(String)
        case messages([(role: String, content: String)])

        public static func == (a: Input, b: Input) -> Bool {
            switch (a, b) {
            case (.prompt(let x), .prompt(let y)): return x == y
            case (.messages(let x), .messages(let y)):
                return x.count == y.count && zip(x, y).allSatisfy { $0.role == $1.role && $0.content == $1.content }
            default: return false
            }
        }
    }

    public var input: Input
    public var model: String?
    public var maxTokens: Int
    public var temperature: Double
    public var topP: Double
    public var seed: UInt64
    public var stop: [String]
    public var stream: Bool
    /// Knob name → strength, for this request only.
    public var knobs: [String: Double]
    /// Also return the unsteered completion, with the same seed.
    public var compare: Bool
    /// `stream_options.include_usage`: a last chunk with the token counts.
    public var includeUsage = false
    /// Whether the request named max_tokens (else the engine fits it to the context left).
    public var maxTokensGiven = false

    public var isChat: Bool { if case .messages = input { return true } else { return false } }

    /// Limits the server enforces, each answered with a 400 that names the field.
    public struct Limits: Sendable {
        public var maxTokens: Int
        public var maxPromptCharacters: Int
        public init(maxTokens: Int = 1024, maxPromptCharacters: Int = 200_000) {
            self.maxTokens = maxTokens
            self.maxPromptCharacters = maxPromptCharacters
        }
    }

    static let common: Set<String> = ["model", "max_tokens", "temperature", "top_p", "seed", "stop", "stream",
                                      "scalpel", "user", "n", "stream_options"]
    /// Chat's newer spelling of max_tokens, taken as it.
    static let chatOnly: Set<String> = ["messages", "max_completion_tokens"]
    /// OpenAI fields Scalpel does not implement: refused by name unless given their neutral value.
    static let unimplemented = ["logprobs", "top_logprobs", "logit_bias", "tools", "tool_choice", "functions",
                                "function_call", "response_format", "frequency_penalty", "presence_penalty",
                                "best_of", "echo", "suffix", "parallel_tool_calls", "store", "metadata",
                                "modalities", "audio", "prediction", "reasoning_effort", "service_tier"]

    /// Parses a request body; `chat` says which route it came to.
    public static func parse(_ body: [UInt8], chat: Bool, limits: Limits) throws(APIError) -> CompletionRequest {
        let value: JSONValue
        do {
            value = try body.withUnsafeBytes { bytes throws(JSONParseError) in try StrictJSONParser.parse(bytes) }
        } catch {
            throw .invalid("the request body is not valid JSON: \(error)")
        }
        guard case .object(let members) = value else { throw .invalid("the request body must be a JSON object") }
        let fields = Dictionary(members, uniquingKeysWith: { a, _ in a })
        let allowed = common.union(chat ? chatOnly : ["prompt"])
        for (key, field) in members where !allowed.contains(key) {
            if unimplemented.contains(key), isNeutral(key, field) { continue }
            if unimplemented.contains(key) {
                throw .invalid("'\(key)' is not implemented by scalpel serve; leave it out", param: key)
            }
            throw .invalid("unknown field '\(key)'" +
                           (chat && key == "prompt" ? "; /v1/chat/completions takes messages" : "") +
                           (!chat && key == "messages" ? "; /v1/completions takes prompt" : ""), param: key)
        }
        var request = CompletionRequest(input: .prompt(""), model: nil, maxTokens: 16, temperature: 1, topP: 1,
                                        seed: 0, stop: [], stream: false, knobs: [:], compare: false)
        if chat {
            request.input = .messages(try messages(fields["messages"]))
        } else {
            switch fields["prompt"] {
            case .string(let prompt)?: request.input = .prompt(prompt)
            case .array(let items)? where items.count == 1:
                guard case .string(let prompt) = items[0] else { throw .invalid("'prompt' must be a string", param: "prompt") }
                request.input = .prompt(prompt)
            case .array?:
                throw .invalid("'prompt' holds one text: a list of several (a batch) is not implemented", param: "prompt")
            default: throw .invalid("'prompt' must be a string", param: "prompt")
            }
        }
        let characters: Int
        switch request.input {
        case .prompt(let p): characters = p.count
        case .messages(let m): characters = m.reduce(0) { $0 + $1.content.count }
        }
        if characters > limits.maxPromptCharacters {
            throw .invalid("the prompt has \(characters) characters; this server takes at most " +
                           "\(limits.maxPromptCharacters)", param: chat ? "messages" : "prompt")
        }
        if let model = fields["model"] {
            guard case .string(let name) = model else { throw .invalid("'model' must be a string", param: "model") }
            request.model = name
        }
        if let n = fields["n"], n != .integer(1) { throw .invalid("'n' must be 1: one choice per request", param: "n") }
        if let newer = fields["max_completion_tokens"], newer != .null, let older = fields["max_tokens"], older != .null,
           newer != older {
            throw .invalid("'max_tokens' and 'max_completion_tokens' differ; give one", param: "max_completion_tokens")
        }
        let (maxName, maxValue) = fields["max_completion_tokens"].map { $0 == .null ? ("max_tokens", fields["max_tokens"]) :
            ("max_completion_tokens", $0) } ?? ("max_tokens", fields["max_tokens"])
        // OpenAI's default for completions is 16; never above the server's limit (the fuzzer found that).
        request.maxTokens = try integer(maxValue, maxName, default: chat ? limits.maxTokens : min(16, limits.maxTokens),
                                        in: 1...limits.maxTokens)
        request.maxTokensGiven = maxValue != nil && maxValue != .null
        request.temperature = try number(fields["temperature"], "temperature", default: 1, in: 0...2)
        request.topP = try number(fields["top_p"], "top_p", default: 1, in: 0...1)
        if request.topP == 0 { throw .invalid("'top_p' must be above 0", param: "top_p") }
        request.seed = UInt64(try integer(fields["seed"], "seed", default: 0, in: 0...Int(Int64.max)))
        request.stop = try stops(fields["stop"])
        if let stream = fields["stream"] {
            guard case .bool(let b) = stream else { throw .invalid("'stream' must be true or false", param: "stream") }
            request.stream = b
        }
        if let options = fields["stream_options"], options != .null {
            guard request.stream else { throw .invalid("'stream_options' needs stream: true", param: "stream_options") }
            guard case .object(let members) = options else {
                throw .invalid("'stream_options' must be an object {include_usage}", param: "stream_options")
            }
            for (key, value) in members {
                guard key == "include_usage", case .bool(let include) = value else {
                    throw .invalid("'stream_options' takes include_usage: true or false", param: "stream_options.\(key)")
                }
                request.includeUsage = include
            }
        }
        try scalpelOptions(fields["scalpel"], into: &request)
        return request
    }

    static func isNeutral(_ key: String, _ value: JSONValue) -> Bool {
        switch (key, value) {
        case (_, .null), ("logprobs", .bool(false)), ("echo", .bool(false)), ("best_of", .integer(1)): return true
        case ("frequency_penalty", .integer(0)), ("presence_penalty", .integer(0)): return true
        case ("frequency_penalty", .number(0)), ("presence_penalty", .number(0)): return true
        case ("tools", .array(let a)), ("functions", .array(let a)): return a.isEmpty
        case ("tool_choice", .string("none")), ("store", .bool(false)), ("parallel_tool_calls", .bool(false)): return true
        case ("response_format", let format): return format == .object([("type", .string("text"))])
        default: return false
        }
    }

    static func messages(_ value: JSONValue?) throws(APIError) -> [(role: String, content: String)] {
        guard case .array(let items)? = value, !items.isEmpty else {
            throw .invalid("'messages' must be a non-empty list of {role, content}", param: "messages")
        }
        var out: [(role: String, content: String)] = []
        for (i, item) in items.enumerated() {
            guard case .object(let members) = item else {
                throw .invalid("messages[\(i)] must be an object {role, content}", param: "messages")
            }
            for (key, _) in members where !["role", "content"].contains(key) {
                throw .invalid("messages[\(i)] has the field '\(key)', which scalpel serve does not implement",
                               param: "messages")
            }
            guard case .string(let role)? = item["role"], ["system", "user", "assistant", "developer"].contains(role) else {
                throw .invalid("messages[\(i)].role must be system, user, assistant or developer", param: "messages")
            }
            let content: String
            switch item["content"] {
            case .string(let text)?: content = text
            case .array(let parts)?:
                // Text parts, joined; images and audio are not implemented.
                var texts: [String] = []
                for part in parts {
                    guard case .string("text")? = part["type"], case .string(let text)? = part["text"],
                          case .object(let fields) = part, fields.count == 2 else {
                        throw .invalid("messages[\(i)].content parts must be {type: text, text}; other parts are " +
                                       "not implemented", param: "messages")
                    }
                    texts.append(text)
                }
                content = texts.joined()
            default:
                throw .invalid("messages[\(i)].content must be a string or a list of text parts", param: "messages")
            }
            out.append((role == "developer" ? "system" : role, content))
        }
        return out
    }

    static func integer(_ value: JSONValue?, _ name: String, default fallback: Int,
                        in range: ClosedRange<Int>) throws(APIError) -> Int {
        guard let value, value != .null else { return fallback }
        guard case .integer(let i) = value, i >= Int64(range.lowerBound), i <= Int64(range.upperBound) else {
            throw .invalid("'\(name)' must be an integer from \(range.lowerBound) to \(range.upperBound)", param: name)
        }
        return Int(i)
    }

    static func number(_ value: JSONValue?, _ name: String, default fallback: Double,
                       in range: ClosedRange<Double>) throws(APIError) -> Double {
        let x: Double
        switch value {
        case nil, .null?: return fallback
        case .integer(let i)?: x = Double(i)
        case .number(let d)?: x = d
        default: throw .invalid("'\(name)' must be a number", param: name)
        }
        guard range.contains(x) else {
            throw .invalid("'\(name)' must be from \(range.lowerBound) to \(range.upperBound)", param: name)
        }
        return x
    }

    static func stops(_ value: JSONValue?) throws(APIError) -> [String] {
        switch value {
        case nil, .null?: return []
        case .string(let s)?:
            guard !s.isEmpty else { throw .invalid("'stop' must not be empty", param: "stop") }
            guard s.unicodeScalars.count <= 256 else {
                throw .invalid("a 'stop' sequence is at most 256 characters", param: "stop")
            }
            return [s]
        case .array(let items)?:
            var out: [String] = []
            for item in items {
                guard case .string(let s) = item, !s.isEmpty else {
                    throw .invalid("'stop' must be a string or a list of non-empty strings", param: "stop")
                }
                out.append(s)
            }
            guard out.count <= 4 else { throw .invalid("'stop' takes at most 4 sequences", param: "stop") }
            guard out.allSatisfy({ $0.unicodeScalars.count <= 256 }) else {
                throw .invalid("a 'stop' sequence is at most 256 characters", param: "stop")
            }
            return out
        default: throw .invalid("'stop' must be a string or a list of strings", param: "stop")
        }
    }

    static func scalpelOptions(_ value: JSONValue?, into request: inout CompletionRequest) throws(APIError) {
        guard let value, value != .null else { return }
        guard case .object(let members) = value else {
            throw .invalid("'scalpel' must be an object {knobs, compare}", param: "scalpel")
        }
        for (key, field) in members {
            switch key {
            case "knobs":
                guard case .object(let knobs) = field else {
                    throw .invalid("'scalpel.knobs' must map knob names to strengths", param: "scalpel.knobs")
                }
                for (name, strength) in knobs {
                    switch strength {
                    case .integer(let i): request.knobs[name] = Double(i)
                    case .number(let d): request.knobs[name] = d
                    default: throw .invalid("the strength of knob '\(name)' must be a number", param: "scalpel.knobs")
                    }
                }
            case "compare":
                guard case .bool(let b) = field else {
                    throw .invalid("'scalpel.compare' must be true or false", param: "scalpel.compare")
                }
                request.compare = b
            default:
                throw .invalid("unknown field 'scalpel.\(key)'; scalpel takes knobs and compare", param: "scalpel.\(key)")
            }
        }
    }
}

import Foundation
@_exported import OpenAIRequests
import Interventions
import Models
import TensorCore
import Tokenizers

/// What `scalpel serve` runs a request with: one decoder, its tokenizer and chat template, and the knobs
/// it was started with. Completions run one at a time on the engine's own thread, each exactly as
/// `scalpel generate` runs it (same prompt ids, sampler, stop ids and hooks), so a request gives the
/// tokens `generate` gives with the same seed and knobs, alone or among concurrent requests.
public final class ServingEngine: @unchecked Sendable {
    public let modelName: String
    public let model: DecoderModel
    public let tokenizer: any Tokenizer
    public let template: ChatTemplate?
    public let knobs: [String: Knob]
    public let monitor: KnobMonitor
    /// The longest prompt plus completion served, in tokens.
    public let maxContext: Int
    /// The products' arithmetic (task-locals do not cross to the engine's thread, so it is kept here).
    public let precision: Precision
    private let thread = DispatchQueue(label: "scalpel.serve.engine")

    public init(modelName: String, loaded: LoadedModel, knobs: [Knob], maxContext: Int? = nil,
                precision: Precision = .fp32) throws {
        self.precision = precision
        guard case .decoder(let decoder) = loaded.model else {
            throw KnobError.invalid(modelName, "the model is an encoder; scalpel serve needs a decoder that generates")
        }
        var byName: [String: Knob] = [:]
        for knob in knobs {
            try knob.validate(layers: decoder.config.layers, width: decoder.config.intermediateSize)
            guard byName[knob.name] == nil else { throw KnobError.invalid(knob.name, "two knob files share this name") }
            byName[knob.name] = knob
        }
        self.modelName = modelName
        model = decoder
        tokenizer = loaded.tokenizer
        template = try? loaded.chatTemplate.get()
        self.knobs = byName
        monitor = KnobMonitor(knobs: knobs)
        self.maxContext = min(maxContext ?? decoder.config.contextLength, decoder.config.contextLength)
    }

    /// A request made ready to run: its prompt ids, the ids that end it, and its steering.
    public struct Prepared: Sendable {
        public var ids: [Int32]
        public var stopIDs: Set<Int32>
        public var sampler: Sampler
        public var interventions: [Intervention]
        /// max_tokens, or when the request left it out, the limit less what the prompt takes.
        public var maxTokens: Int
    }

    /// Tokenizes the request as `generate` does and checks it against the model, the knobs and the limits.
    public func prepare(_ request: CompletionRequest) throws(APIError) -> Prepared {
        if let name = request.model, name != modelName {
            throw APIError(status: 404, message: "the model '\(name)' is not served here; this server serves " +
                           "'\(modelName)' (GET /v1/models)", type: "invalid_request_error", param: "model")
        }
        var parts: [TextPart]
        var stop = Set<Int32>()
        switch request.input {
        case .prompt(let text):
            parts = [TextPart(text, parsesSpecial: false)]
        case .messages(let messages):
            guard let template else {
                throw .invalid("the model has no chat template; use /v1/completions", param: "messages")
            }
            do {
                parts = try template.renderParts(messages.map { ChatTemplate.Message(role: $0.role, content: $0.content) })
            } catch {
                throw .invalid("the model's chat template refused these messages: \(error)", param: "messages")
            }
            if let end = template.turnEnd(tokenizer) { stop.insert(end) }
        }
        if let eos = tokenizer.endOfSequence { stop.insert(eos) }
        // A chat template writes the BOS it wants itself (transformers tokenizes it without adding any).
        let ids = tokenizer.encode(parts, addSpecialTokens: !request.isChat)
        let promptField = request.isChat ? "messages" : "prompt"
        guard !ids.isEmpty else { throw .invalid("the prompt is empty", param: promptField) }
        if ids.count >= maxContext {
            throw .invalid("the prompt's \(ids.count) tokens fill the context of \(maxContext) tokens; shorten it",
                           param: promptField)
        }
        let maxTokens = request.maxTokensGiven ? request.maxTokens : min(request.maxTokens, maxContext - ids.count)
        if ids.count + maxTokens > maxContext {
            throw .invalid("the prompt's \(ids.count) tokens and max_tokens \(request.maxTokens) exceed the " +
                           "context of \(maxContext) tokens; shorten the prompt or lower max_tokens",
                           param: "max_tokens")
        }
        var interventions: [Intervention] = []
        for (name, strength) in request.knobs.sorted(by: { $0.key < $1.key }) {
            guard let knob = knobs[name] else {
                let known = knobs.keys.sorted().joined(separator: ", ")
                throw .invalid("there is no knob '\(name)' on this server" +
                               (known.isEmpty ? " (it was started without knobs)" : "; its knobs are \(known)"),
                               param: "scalpel.knobs")
            }
            if let problem = knob.problem(strength: strength) { throw .invalid(problem, param: "scalpel.knobs") }
            if let intervention = knob.intervention(strength: strength) { interventions.append(intervention) }
        }
        return Prepared(ids: ids, stopIDs: stop,
                        sampler: Sampler.of(temperature: Float(request.temperature), topP: Float(request.topP),
                                            seed: request.seed),
                        interventions: interventions, maxTokens: maxTokens)
    }

    /// A finished completion.
    public struct Completion: Sendable {
        public var ids: [Int32]
        public var text: String
        /// "stop" (an end token or a stop string) or "length" (max_tokens).
        public var finishReason: String
        public var promptTokens: Int
    }

    /// Runs a prepared request on the engine's thread. `onText` gets each new piece of text as it is
    /// decoded (whole characters, never part of a stop string) and returns false to stop (a client gone).
    /// `observe` feeds the knobs' monitor.
    /// `isCancelled` is asked before the prompt runs and at every token: a client gone stops the work.
    public func complete(_ prepared: Prepared, maxTokens: Int, stopStrings: [String], observe: Bool,
                         isCancelled: @escaping @Sendable () -> Bool = { false },
                         onText: @escaping @Sendable (String) -> Bool) async throws -> Completion {
        try await withCheckedThrowingContinuation { continuation in
            thread.async {
                continuation.resume(with: Result {
                    try Precision.$current.withValue(self.precision) {
                        try self.run(prepared, maxTokens: maxTokens, stopStrings: stopStrings, observe: observe,
                                     isCancelled: isCancelled, onText: onText)
                    }
                })
            }
        }
    }

    func run(_ prepared: Prepared, maxTokens: Int, stopStrings: [String], observe: Bool,
             isCancelled: () -> Bool = { false }, onText: (String) -> Bool) throws -> Completion {
        Self.holdOnceForTesting()
        if isCancelled() {
            return Completion(ids: [], text: "", finishReason: "cancelled", promptTokens: prepared.ids.count)
        }
        let observation = observe ? monitor.observation() : nil
        var generated: [Int32] = []
        var sent = 0            // Unicode scalars of the text handed to onText (a token may extend a character)
        var finish = "length"
        var text = ""
        func decoded() -> String {
            tokenizer.decode(generated.filter { !prepared.stopIDs.contains($0) }, skipSpecialTokens: true)
        }
        let all = try model.generate(prompt: prepared.ids, maxTokens: maxTokens, sampler: prepared.sampler,
                           stop: prepared.stopIDs, hooksForStep: { rows, step in
            var hooks = observation?.hooks(rows: rows) ?? HookSet()
            for intervention in prepared.interventions {
                hooks.add(contentsOf: intervention.hooks(rows: rows, lastRows: [rows - 1], salt: UInt64(step)))
            }
            return hooks
        }) { token in
            generated.append(token)
            if isCancelled() { finish = "cancelled"; return false }
            text = decoded()
            if let cut = Self.firstStop(in: text, stopStrings) {
                text = String(text[..<cut])
                finish = "stop"
                let scalars = Array(text.unicodeScalars)
                if scalars.count > sent { _ = onText(Self.string(scalars[sent...])) }
                sent = scalars.count
                return false
            }
            // Hand over whole scalars, holding back a broken byte sequence's U+FFFD and a tail that may
            // begin a stop string.
            let scalars = Array(text.unicodeScalars)
            let safe = text.hasSuffix("\u{FFFD}") ? sent : scalars.count - Self.heldBack(text, stopStrings)
            if safe > sent {
                let keepGoing = onText(Self.string(scalars[sent..<safe]))
                sent = safe
                if !keepGoing { finish = "cancelled"; return false }
            }
            return true
        }
        // An end token stops generation without reaching onToken: it is the last of `all`.
        if let last = all.last, prepared.stopIDs.contains(last), finish == "length" { finish = "stop" }
        if finish != "cancelled" {
            text = decoded()
            if let cut = Self.firstStop(in: text, stopStrings) { text = String(text[..<cut]) }
        }
        let scalars = Array(text.unicodeScalars)
        if scalars.count > sent, finish != "cancelled" { _ = onText(Self.string(scalars[sent...])) }
        observation?.commit()
        return Completion(ids: generated, text: text, finishReason: finish, promptTokens: prepared.ids.count)
    }

    /// Test hook: with `SCALPEL_TEST_HOLD=PATH`, the first completion writes PATH and waits (at most a
    /// minute) until it is removed, so a test can hold a request in flight without racing it.
    static func holdOnceForTesting() {
        guard let path = ProcessInfo.processInfo.environment["SCALPEL_TEST_HOLD"], !path.isEmpty,
              held.claim() else { return }
        FileManager.default.createFile(atPath: path, contents: Data("\(getpid())\n".utf8))
        let deadline = Date().addingTimeInterval(60)
        while FileManager.default.fileExists(atPath: path) && Date() < deadline { usleep(10_000) }
    }

    static let held = Once()

    final class Once: @unchecked Sendable {
        private var done = false
        private let lock = NSLock()
        func claim() -> Bool { lock.withLock { defer { done = true }; return !done } }
    }

    /// Where the earliest stop string begins in `text`, if one occurs.
    static func firstStop(in text: String, _ stops: [String]) -> String.Index? {
        stops.compactMap { text.range(of: $0)?.lowerBound }.min()
    }

    /// How many trailing Unicode scalars of `text` might be the start of a stop string.
    static func heldBack(_ text: String, _ stops: [String]) -> Int {
        let tail = Array(text.unicodeScalars.suffix(256))
        var longest = 0
        for stop in stops {
            let s = Array(stop.unicodeScalars)
            for n in stride(from: min(s.count - 1, tail.count), to: longest, by: -1)
            where tail.suffix(n).elementsEqual(s.prefix(n)) {
                longest = n
                break
            }
        }
        return longest
    }

    static func string(_ scalars: ArraySlice<Unicode.Scalar>) -> String {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return String(view)
    }
}

import Foundation
import Hummingbird
import JSON
import OpenAIRequests
import Logging
import ServiceLifecycle
import UnixSignals

/// How `scalpel serve` listens and what it admits.
public struct ServeOptions: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// With a key, every route but /health needs `Authorization: Bearer KEY`.
    public var apiKey: String?
    /// Requests that may wait for the engine while one runs; beyond, 429 with Retry-After.
    public var queue = 16
    public var maxRequestBytes = 1 << 20
    public var limits = CompletionRequest.Limits()
    /// How long SIGTERM waits for in-flight requests before the server stops anyway.
    public var drainSeconds = 60

    public init() {}
}

/// The HTTP face of a `ServingEngine`: OpenAI's routes, a bounded queue, bearer auth, `/metrics`, and a
/// drain on SIGTERM. A request runs on the engine's one thread; a streamed one is sent as server-sent
/// events as it is decoded, and stops (freeing its place) when its client goes away.
public final class ScalpelServer: Sendable {
    public let engine: ServingEngine
    public let options: ServeOptions
    public let metrics: ServerMetrics
    let admission: Admission
    let started = Int(Date().timeIntervalSince1970)
    let ids = CompletionIDs()

    public init(engine: ServingEngine, options: ServeOptions) {
        self.engine = engine
        self.options = options
        metrics = ServerMetrics(monitor: engine.monitor, knobNames: engine.knobs.keys.sorted())
        admission = Admission(limit: options.queue + 1)
    }

    /// Serves until SIGTERM or SIGINT, then drains. `onListening` gets the port bound (for port 0).
    public func run(onListening: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        var logger = Logger(label: "scalpel.serve")
        logger.logLevel = .warning
        let app = Application(router: router(),
                              configuration: .init(address: .hostname(options.host, port: options.port)),
                              onServerRunning: { channel in onListening(channel.localAddress?.port ?? -1) },
                              logger: logger)
        var configuration = ServiceGroupConfiguration(services: [app], gracefulShutdownSignals: [.sigterm, .sigint],
                                                      logger: logger)
        configuration.maximumGracefulShutdownDuration = .seconds(options.drainSeconds)
        try await ServiceGroup(configuration: configuration).run()
    }

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        // Middleware first (a route takes the middleware added before it): every answer counted, then the key.
        router.add(middleware: Recorder(metrics: metrics))
        if let key = options.apiKey { router.add(middleware: BearerAuth(key: key)) }
        router.get("/health") { _, _ in Self.json(200, "{\"status\": \"ok\"}") }
        let model = "{\"id\": \(jsonString(engine.modelName)), \"object\": \"model\", \"created\": \(started), " +
            "\"owned_by\": \"scalpel\", \"knobs\": [\(engine.knobs.keys.sorted().map(jsonString).joined(separator: ", "))]}"
        router.get("/v1/models") { _, _ in Self.json(200, "{\"object\": \"list\", \"data\": [\(model)]}") }
        router.get("/v1/models/{id}") { [self] _, context in
            guard context.parameters.get("id") == engine.modelName else {
                return Self.failure(APIError(status: 404, message: "the model '\(context.parameters.get("id") ?? "")' " +
                                             "is not served here; this server serves '\(engine.modelName)'",
                                             type: "invalid_request_error", param: "model"))
            }
            return Self.json(200, model)
        }
        router.get("/metrics") { [self] _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(string: metrics.render(admitted: admission.count))))
        }
        router.post("/v1/chat/completions") { [self] request, _ in try await complete(request, chat: true) }
        router.post("/v1/completions") { [self] request, _ in try await complete(request, chat: false) }
        return router
    }

    static func json(_ status: Int, _ body: String, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: .init(code: status), headers: fields, body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    static func failure(_ error: APIError) -> Response {
        var headers: HTTPFields = [:]
        if let retry = error.retryAfter { headers[.retryAfter] = "\(retry)" }
        return json(error.status, error.body, headers: headers)
    }

    /// One completion request, from its body to its response: parse, prepare, admit, run.
    func complete(_ incoming: Request, chat: Bool) async throws -> Response {
        let route = chat ? "/v1/chat/completions" : "/v1/completions"
        let clock = Date()   // a stream is timed to its end, by its body; other answers by `Recorder`
        var request = incoming
        let response: Response
        do {
            let body: ByteBuffer
            do { body = try await request.collectBody(upTo: options.maxRequestBytes) } catch {
                throw APIError.invalid("the request body could not be read whole: it is larger than " +
                                       "\(options.maxRequestBytes) bytes (--max-request-bytes), or was cut off",
                                       param: "body")
            }
            let parsed = try CompletionRequest.parse(Array(body.readableBytesView), chat: chat, limits: options.limits)
            if parsed.compare && parsed.stream {
                throw APIError.invalid("scalpel.compare returns two completions side by side: use stream: false",
                                       param: "scalpel.compare")
            }
            let prepared = try engine.prepare(parsed)
            guard let slot = admission.enter() else {
                throw APIError(status: 429, message: "the server is busy (its queue of \(options.queue) is full); " +
                               "try again shortly", type: "rate_limit_error", param: nil, retryAfter: 1)
            }
            for name in parsed.knobs.keys.sorted() { metrics.knobRequests(name).increment() }
            let collected = request
            response = parsed.stream ?
                stream(parsed, prepared, slot: slot, chat: chat, request: collected, route: route, clock: clock) :
                try await whole(parsed, prepared, slot: slot, chat: chat)
        } catch let error as APIError {
            response = Self.failure(error)
        } catch {
            response = Self.failure(APIError(status: 500, message: "\(error)", type: "server_error", param: nil))
        }
        return response
    }


    /// A whole (not streamed) completion, and with `compare` the unsteered one beside it.
    func whole(_ request: CompletionRequest, _ prepared: ServingEngine.Prepared, slot: Slot,
               chat: Bool) async throws -> Response {
        defer { slot.release() }
        let steered = try await engine.complete(prepared, maxTokens: prepared.maxTokens, stopStrings: request.stop,
                                                observe: true) { _ in true }
        var unsteered: ServingEngine.Completion?
        if request.compare {
            var plain = prepared
            plain.interventions = []
            unsteered = try await engine.complete(plain, maxTokens: prepared.maxTokens, stopStrings: request.stop,
                                                  observe: false) { _ in true }
        }
        count(steered)
        return Self.json(200, OpenAIShapes.completion(steered, unsteered: unsteered, request: request, chat: chat,
                                                      model: engine.modelName, id: ids.next(chat), created: now))
    }

    /// A streamed completion: server-sent events, one per piece of text, then the finish and `[DONE]`.
    func stream(_ request: CompletionRequest, _ prepared: ServingEngine.Prepared, slot: Slot, chat: Bool,
                request incoming: Request, route: String, clock: Date) -> Response {
        let id = ids.next(chat), created = now, model = engine.modelName
        let (pieces, sink) = AsyncStream.makeStream(of: String.self)
        let cancelled = Flag()
        // A stream that ends early (its task cancelled by the drain's deadline) stops the generation too.
        sink.onTermination = { termination in if case .cancelled = termination { cancelled.set() } }
        let body = ResponseBody { [self] writer in
            // The generation runs on the engine's thread and hands pieces over; a client that goes away
            // (its side closed, or a write failing) sets the flag, which stops the generation.
            let generation = Task { [self] in
                defer { sink.finish(); slot.release() }
                return try await engine.complete(prepared, maxTokens: prepared.maxTokens, stopStrings: request.stop,
                                                  observe: true, isCancelled: { cancelled.isSet }) { piece in
                    sink.yield(piece)
                    return !cancelled.isSet
                }
            }
            var status = 200
            do {
                try await incoming.body.consumeWithInboundCloseHandler { _ in
                    if chat {
                        try await writer.write(OpenAIShapes.event(OpenAIShapes.chunk(id: id, created: created, model: model,
                                                                                     chat: true, role: true)))
                    }
                    for await piece in pieces {
                        try await writer.write(OpenAIShapes.event(OpenAIShapes.chunk(id: id, created: created, model: model,
                                                                                     chat: chat, text: piece)))
                    }
                    let completion: ServingEngine.Completion
                    do { completion = try await generation.value } catch {
                        // The engine failed (not the client): say so in the stream, and count a 500.
                        status = 500
                        try await writer.write(OpenAIShapes.event(APIError(status: 500, message: "\(error)",
                                                                           type: "server_error", param: nil).body))
                        throw error
                    }
                    count(completion)
                    // A client gone mid-stream gets no finish (its generation was stopped, not finished).
                    if cancelled.isSet || Task.isCancelled { throw CancellationError() }
                    try await writer.write(OpenAIShapes.event(OpenAIShapes.chunk(
                        id: id, created: created, model: model, chat: chat, finish: completion.finishReason)))
                    if request.includeUsage {
                        try await writer.write(OpenAIShapes.event(OpenAIShapes.usageChunk(
                            id: id, created: created, model: model, chat: chat, completion)))
                    }
                    try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
                } onInboundClosed: {
                    cancelled.set()
                }
            } catch {
                cancelled.set()
                if status == 200 { status = 499 }
                _ = try? await generation.value
            }
            metrics.request(route: route, status: status, seconds: Date().timeIntervalSince(clock))
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
    }

    func count(_ completion: ServingEngine.Completion) {
        metrics.promptTokens.increment(by: Int64(completion.promptTokens))
        metrics.completionTokens.increment(by: Int64(completion.ids.count))
    }

    var now: Int { Int(Date().timeIntervalSince1970) }

    /// Requests admitted (running and waiting), bounded.
    final class Admission: @unchecked Sendable {
        let limit: Int
        private var admitted = 0
        private let lock = NSLock()
        init(limit: Int) { self.limit = limit }
        var count: Int { lock.withLock { admitted } }
        func enter() -> Slot? {
            lock.withLock { admitted < limit ? { admitted += 1; return true }() : false } ? Slot(self) : nil
        }
        fileprivate func leave() { lock.withLock { admitted -= 1 } }
    }

    /// One admitted request's place, given back exactly once: when its work ends, or, if its response
    /// is dropped unsent (a client gone before the first byte), when the last reference goes.
    final class Slot: @unchecked Sendable {
        private let admission: Admission
        private var held = true
        private let lock = NSLock()
        init(_ admission: Admission) { self.admission = admission }
        func release() {
            if lock.withLock({ defer { held = false }; return held }) { admission.leave() }
        }
        deinit { release() }
    }

    final class Flag: @unchecked Sendable {
        private var value = false
        private let lock = NSLock()
        var isSet: Bool { lock.withLock { value } }
        func set() { lock.withLock { value = true } }
    }

    /// `cmpl-N` and `chatcmpl-N`, numbered across the server's life.
    final class CompletionIDs: @unchecked Sendable {
        private var value = 0
        private let lock = NSLock()
        func next(_ chat: Bool) -> String { (chat ? "chatcmpl-" : "cmpl-") + "\(lock.withLock { value += 1; return value })" }
    }
}

/// Counts every answer by route and status, and times it, the 401s of a wrong key and the 404s of an
/// unknown route included (a stream is counted by its body when it ends: 200, or 499 for a client gone).
/// An unknown route is answered in OpenAI's error shape.
struct Recorder<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics
    static var routes: Set<String> {
        ["/health", "/metrics", "/v1/models", "/v1/chat/completions", "/v1/completions"]
    }

    func handle(_ request: Request, context: Context,
                next: (Request, Context) async throws -> Response) async throws -> Response {
        let clock = Date()
        let path = request.uri.path
        let route = Self.routes.contains(path) ? path : (path.hasPrefix("/v1/models/") ? "/v1/models/{id}" : "unmatched")
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as HTTPResponseError {
            let status = Int(error.status.code)
            response = ScalpelServer.failure(APIError(status: status, message: status == 404 ?
                "there is no route \(request.method.rawValue) \(path); see docs/serve.md" : "\(error)",
                type: "invalid_request_error", param: nil))
        }
        if !response.headers[values: .contentType].contains("text/event-stream") {
            metrics.request(route: route, status: Int(response.status.code), seconds: Date().timeIntervalSince(clock))
        }
        return response
    }
}

/// `Authorization: Bearer KEY` on every route but /health; a wrong or missing key is a 401 in OpenAI's shape.
struct BearerAuth<Context: RequestContext>: RouterMiddleware {
    let key: String

    func handle(_ request: Request, context: Context,
                next: (Request, Context) async throws -> Response) async throws -> Response {
        if request.uri.path == "/health" { return try await next(request, context) }
        guard Self.matches(request.headers[.authorization], key) else {
            return ScalpelServer.json(401, APIError(status: 401, message: "a valid API key is needed: " +
                                                    "Authorization: Bearer KEY", type: "invalid_request_error",
                                                    param: nil).body,
                                      headers: [.wwwAuthenticate: "Bearer"])
        }
        return try await next(request, context)
    }

    /// `Bearer KEY`, the scheme in any case (RFC 7235), the key compared in constant time.
    static func matches(_ header: String?, _ key: String) -> Bool {
        guard let header, header.count > 7, header.prefix(7).lowercased() == "bearer " else { return false }
        let given = Array(header.dropFirst(7).utf8), wanted = Array(key.utf8)
        var difference = given.count ^ wanted.count
        for i in 0..<wanted.count { difference |= Int(wanted[i] ^ (i < given.count ? given[i] : 0)) }
        return difference == 0
    }
}

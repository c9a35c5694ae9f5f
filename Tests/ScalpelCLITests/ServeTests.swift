import Foundation
import Models
import TensorCore
import Tokenizers
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// `scalpel serve` driven over real HTTP on loopback, as a client would: the routes, streaming, knobs
/// (equal to `scalpel generate` alone and among concurrent requests), the refusals, the queue, a client
/// that leaves mid-stream, the metrics (against the same tokens' activations computed offline) and the
/// drain on SIGTERM.
@Suite(.serialized) struct ServeTests {
    /// A tiny Llama with a chat template, and two knobs on it.
    static func fixture() throws -> (directory: URL, model: URL, knobs: [URL]) {
        let directory = try Fixtures.scratchDirectory()
        let config = TinyModels.llamaConfig(vocabulary: 260)
        let model = directory.appendingPathComponent("tiny.gguf")
        let template = "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}" +
            "{% if add_generation_prompt %}<assistant>{% endif %}"
        try TinyModels.writeLlamaGGUF(model, tensors: TinyModels.llamaTensors(config), config: config,
                                      extraMetadata: [("tokenizer.chat_template", .string(template))])
        func knob(_ name: String, _ kind: String, _ neurons: [(Int, Int)]) throws -> URL {
            let url = directory.appendingPathComponent("\(name).json")
            let list = neurons.map { "{\"layer\": \($0.0), \"neuron\": \($0.1)}" }.joined(separator: ", ")
            let means = neurons.indices.map { "\(0.01 * Double($0))" }.joined(separator: ", ")
            let stds = neurons.indices.map { "\(0.5 + 0.1 * Double($0))" }.joined(separator: ", ")
            try """
            {"schema": "scalpel.knob/1", "name": "\(name)", "description": "test", "kind": "\(kind)",
             "neurons": [\(list)], "means": [\(means)], "stds": [\(stds)], "noise_sigma": 1, "seed": 7, "source": {}}
            """.write(to: url, atomically: true, encoding: .utf8)
            return url
        }
        return (directory, model, [try knob("boost", "scale", [(0, 1), (0, 5), (1, 3), (1, 7)]),
                                   try knob("calm", "mean", [(1, 2), (1, 9), (0, 11)])])
    }

    @Test func aRealClientGetsWhatGenerateGivesAndEveryRefusalItsAnswer() throws {
        let (directory, model, knobs) = try Self.fixture()
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try ServerProcess(["--model", model.path, "--knobs"] + knobs.map(\.path) + ["--max-tokens", "64"])
        defer { server.stop() }

        #expect(try server.request("GET", "/health").body.contains("\"ok\""))
        let models = try server.request("GET", "/v1/models")
        #expect(models.status == 200 && models.body.contains("\"boost\"") && models.body.contains("\"calm\""))

        // Alone: a completion equals `scalpel generate` with the same seed and knob, steered and unsteered.
        let settings: [(String, Double, Int)] = [("boost", 3, 11), ("boost", 0, 12), ("calm", 0.5, 13),
                                                 ("calm", 0, 14), ("boost", 1, 15), ("calm", 1, 16),
                                                 ("boost", -1, 17), ("boost", 2, 18)]
        var expected: [[Int]] = []
        for (name, strength, seed) in settings {
            let file = knobs.first { $0.lastPathComponent == "\(name).json" }!
            let generated = try runScalpel(["generate", "--model", model.path, "--prompt", "good film", "--max-tokens", "10",
                                            "--temperature", "0.9", "--seed", "\(seed)", "--knob", "\(file.path)=\(strength)",
                                            "--json"])
            #expect(generated.status == 0, "\(generated.stderr)")
            expected.append(try Self.ids(generated.stdout, "ids"))
        }
        @Sendable func body(_ i: Int) -> String {
            let (name, strength, seed) = settings[i]
            return "{\"prompt\": \"good film\", \"max_tokens\": 10, \"temperature\": 0.9, \"seed\": \(seed), " +
                "\"scalpel\": {\"knobs\": {\"\(name)\": \(strength)}}}"
        }
        let alone = try server.request("POST", "/v1/completions", body: body(0))
        #expect(alone.status == 200)
        #expect(try Self.ids(alone.body, "ids") == expected[0])
        // A neutral strength is exactly the unsteered output; compare returns both with one seed.
        let compared = try server.request("POST", "/v1/completions", body: body(0).replacingOccurrences(
            of: "}}}", with: "}, \"compare\": true}}"))
        let plain = "{\"prompt\": \"good film\", \"max_tokens\": 10, \"temperature\": 0.9, \"seed\": 11"
        let unsteered = try Self.ids(server.request("POST", "/v1/completions", body: plain + "}").body, "ids")
        let neutral = try Self.ids(server.request("POST", "/v1/completions", body: plain +
                                                  ", \"scalpel\": {\"knobs\": {\"boost\": 1, \"calm\": 0}}}").body, "ids")
        #expect(try Self.ids(compared.body, "unsteered") == unsteered)
        #expect(try Self.ids(compared.body, "ids") == expected[0] && expected[0] != unsteered)
        #expect(neutral == unsteered, "neutral strengths add no hook")

        // Among 8 concurrent requests with other knobs, each gets its own tokens.
        let results = Results(count: settings.count)
        DispatchQueue.concurrentPerform(iterations: settings.count) { i in
            results.set(i, try? Self.ids(server.request("POST", "/v1/completions", body: body(i)).body, "ids"))
        }
        for i in settings.indices { #expect(results.get(i) == expected[i], "request \(i) among 8") }

        // Streaming: the pieces add up to the whole text, then the finish and [DONE]; chat uses the template.
        let whole = try server.request("POST", "/v1/completions", body: body(2))
        let streamed = try server.request("POST", "/v1/completions",
                                          body: body(2).replacingOccurrences(of: "\"seed\"", with: "\"stream\": true, \"seed\""))
        #expect(streamed.headers["content-type"] == "text/event-stream")
        let events = streamed.body.components(separatedBy: "\n\n").filter { $0.hasPrefix("data: ") }.map { String($0.dropFirst(6)) }
        #expect(events.last == "[DONE]")
        let pieces = try events.dropLast().map { try Self.object($0) }
        let text = pieces.compactMap { (($0["choices"] as? [[String: Any]])?.first?["text"] as? String) }.joined()
        let wholeText = ((try Self.object(whole.body)["choices"] as? [[String: Any]])?.first?["text"] as? String)
        #expect(text == wholeText && (pieces.last?["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String == "length")
        let chat = try server.request("POST", "/v1/chat/completions", body: """
            {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 5, "temperature": 0, "stream": true,
             "stream_options": {"include_usage": true}}
            """)
        #expect(chat.status == 200 && chat.body.contains("\"role\": \"assistant\"") && chat.body.contains("chat.completion.chunk"))
        #expect(chat.body.contains("\"usage\"") && chat.body.hasSuffix("data: [DONE]\n\n"))
        let chatIDs = try Self.ids(try server.request("POST", "/v1/chat/completions", body: """
            {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 5, "temperature": 0}
            """).body, "ids")
        let chatGenerate = try runScalpel(["generate", "--model", model.path, "--prompt", "hi", "--chat", "--max-tokens", "5", "--json"])
        #expect(chatIDs == (try Self.ids(chatGenerate.stdout, "ids")))

        // Every refusal: a 400 in OpenAI's shape naming the field; the server keeps serving.
        let refusals: [(String, String, Int, String)] = [
            ("/v1/completions", "{bad json", 400, "not valid JSON"),
            ("/v1/completions", "{\"prompt\": \"x\", \"scalpel\": {\"knobs\": {\"loud\": 1}}}", 400, "no knob 'loud'"),
            ("/v1/completions", "{\"prompt\": \"x\", \"scalpel\": {\"knobs\": {\"calm\": 2}}}", 400, "share of the way"),
            ("/v1/completions", "{\"prompt\": \"x\", \"max_tokens\": 65}", 400, "'max_tokens' must be an integer from 1 to 64"),
            ("/v1/completions", "{\"prompt\": \"x\", \"logprobs\": 3}", 400, "'logprobs' is not implemented"),
            ("/v1/completions", "{\"prompt\": \"x\", \"temprature\": 1}", 400, "unknown field 'temprature'"),
            ("/v1/chat/completions", "{\"prompt\": \"x\"}", 400, "takes messages"),
            ("/v1/completions", "{\"prompt\": \"x\", \"model\": \"gpt-4\"}", 404, "not served here"),
            ("/v1/completions", "{\"prompt\": \"" + String(repeating: "a", count: 1_100_000) + "\"}", 400, "could not be read whole"),
            ("/v1/completions", "{\"prompt\": \"x\", \"stop\": \"" + String(repeating: "s", count: 300) + "\"}", 400, "at most 256"),
            ("/v1/completions", "{\"prompt\": \"x\", \"scalpel\": {\"knobs\": {\"boost\": 1e39}}}", 400, "from −100 to 100"),
        ]
        for (path, text, status, message) in refusals {
            let answer = try server.request("POST", path, body: text)
            #expect(answer.status == status && answer.body.contains(message) && answer.body.contains("\"error\""),
                    "\(text.prefix(60)) → \(answer.status) \(answer.body.prefix(200))")
        }
        // What current clients send: chat's max_completion_tokens, content as text parts, neutral values, a
        // one-string prompt list; the model by id; an unknown route answers in OpenAI's shape.
        let parts = try server.request("POST", "/v1/chat/completions", body: """
            {"messages": [{"role": "user", "content": [{"type": "text", "text": "h"}, {"type": "text", "text": "i"}]}],
             "max_completion_tokens": 5, "temperature": 0, "response_format": {"type": "text"}, "tool_choice": "none",
             "store": false}
            """)
        let partIDs = try Self.ids(parts.body, "ids")
        #expect(parts.status == 200 && partIDs == chatIDs, "\(parts.body.prefix(300))")
        let listed = try server.request("POST", "/v1/completions", body: "{\"prompt\": [\"good film\"], \"max_tokens\": 10, " +
                                        "\"temperature\": 0.9, \"seed\": 11}")
        #expect(try Self.ids(listed.body, "ids") == unsteered)
        #expect(try server.request("GET", "/v1/models/tiny").status == 200)
        let elsewhere = try server.request("GET", "/v1/engines")
        #expect(elsewhere.status == 404 && elsewhere.body.contains("\"error\"") && elsewhere.body.contains("no route"))
        #expect(try server.request("GET", "/v1/models/gpt-4").status == 404)

        // A client that leaves mid-stream frees its place: the next request is served, nothing stays in flight.
        try server.leaveMidStream(body: "{\"prompt\": \"good film\", \"max_tokens\": 64, \"stream\": true}")
        // Clients that hang up before the first byte, more of them than the queue holds: every place comes back.
        for _ in 0..<20 {
            let fd = try server.connect()
            server.send(fd, "POST", "/v1/completions", headers: [:], body: "{\"prompt\": \"good\", \"max_tokens\": 64, \"stream\": true}")
            close(fd)
        }
        #expect(try server.request("POST", "/v1/completions", body: body(3)).status == 200)
        var inFlight = -1.0
        for _ in 0..<50 where inFlight != 0 {
            inFlight = try Self.metric(server.request("GET", "/metrics").body, "scalpel_requests_in_flight") ?? -1
            usleep(100_000)
        }
        #expect(inFlight == 0)

        // /metrics parses as Prometheus text, and a knob's figures equal those of the same tokens offline.
        let page = try server.request("GET", "/metrics").body
        for line in page.split(separator: "\n") where !line.hasPrefix("#") {
            let pieces = line.split(separator: " ")
            #expect(pieces.count == 2 && Double(pieces[1]) != nil && pieces[0].range(of: #"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})?$"#,
                    options: .regularExpression) != nil, "not Prometheus text: \(line)")
        }
        #expect(page.contains("scalpel_http_requests_total{route=\"/v1/completions\",status=\"400\"}"))
        #expect(page.contains("scalpel_http_requests_total{route=\"unmatched\",status=\"404\"}"))

    }

    @Test func knobFiguresEqualTheSameTokensOffline() throws {
        let (directory, model, knobs) = try Self.fixture()
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try ServerProcess(["--model", model.path, "--knobs"] + knobs.map(\.path))
        defer { server.stop() }
        let prompts = ["good film", "bad film 7", "a b c"]
        var sequences: [[Int32]] = []
        for (i, prompt) in prompts.enumerated() {
            let answer = try server.request("POST", "/v1/completions", body: """
                {"prompt": "\(prompt)", "max_tokens": 6, "temperature": 0.8, "seed": \(i), "scalpel": {"knobs": {"calm": 0.5}}}
                """)
            let loaded = try ModelLoader.load(model.path)
            let promptIDs = loaded.tokenizer.encode([TextPart(prompt, parsesSpecial: false)], addSpecialTokens: true)
            // Every token but the last generated one runs through the model (nothing reads the last's logits).
            sequences.append(promptIDs + (try Self.ids(answer.body, "ids")).dropLast().map(Int32.init))
        }
        let page = try server.request("GET", "/metrics").body
        // Offline: one plain forward per sequence with the same knob, read before the knob at each layer.
        let loaded = try ModelLoader.load(model.path)
        guard case .decoder(let decoder) = loaded.model else { Issue.record("not a decoder"); return }
        let boost = (neurons: [(0, 1), (0, 5), (1, 3), (1, 7)], means: [0.0, 0.01, 0.02, 0.03])
        var tokens = 0, firing = 0, sums = [Double](repeating: 0, count: 4)
        for ids in sequences {
            var hooks = HookSet()
            var rows = [Double](repeating: 0, count: ids.count)
            final class Box: @unchecked Sendable { var rows: [Double] = []; var sums: [Double] = [] }
            let box = Box(); box.rows = rows; box.sums = sums
            for layer in [0, 1] {
                let members = boost.neurons.indices.filter { boost.neurons[$0].0 == layer }
                hooks.collect(HookName.mlpSite(layer), columns: members.map { boost.neurons[$0].1 }) { values in
                    for r in 0..<ids.count { for (j, i) in members.enumerated() {
                        let a = Double(values.scalars[r * members.count + j])
                        box.rows[r] += a
                        box.sums[i] += a
                    } }
                }
            }
            // The request turned calm to 0.5: apply it after the reads, as the server does.
            let calm = [(1, 2, 0.0), (1, 9, 0.01), (0, 11, 0.02)]
            for layer in [0, 1] {
                let members = calm.filter { $0.0 == layer }
                hooks.add(HookName.mlpSite(layer), .affine(rows: nil, columns: members.map(\.1),
                                                           scale: members.map { _ in Float(0.5) },
                                                           shift: Tensor(shape: [1, members.count],
                                                                         scalars: members.map { Float(0.5 * $0.2) })))
            }
            let batch = TokenBatch([ids])
            _ = decoder.forward(embeddings: try decoder.embed(batch), batch: batch, hooks: hooks)
            rows = box.rows; sums = box.sums
            tokens += ids.count
            firing += rows.filter { $0 / 4 > boost.means.reduce(0, +) / 4 }.count
        }
        let means = sums.map { $0 / Double(tokens) }
        let stds = [0.5, 0.6, 0.7, 0.8]
        let drift = zip(zip(means, boost.means), stds).map { ($0.0 - $0.1) / $1 }.reduce(0, +) / 4
        #expect(try Self.metric(page, "scalpel_knob_observed_tokens_total{knob=\"boost\"}") == Double(tokens))
        #expect(try Self.metric(page, "scalpel_knob_firing_tokens_total{knob=\"boost\"}") == Double(firing) ||
                abs((try Self.metric(page, "scalpel_knob_firing_tokens_total{knob=\"boost\"}") ?? 0) - Double(firing)) <= 1)
        let sum = try Self.metric(page, "scalpel_knob_activation_sum{knob=\"boost\"}") ?? .nan
        #expect(abs(sum / Double(tokens) - means.reduce(0, +) / 4) <= 1e-4, "the window sums give the same mean")
        let served = (mean: try Self.metric(page, "scalpel_knob_mean_activation{knob=\"boost\"}") ?? .nan,
                      firing: try Self.metric(page, "scalpel_knob_firing_share{knob=\"boost\"}") ?? .nan,
                      drift: try Self.metric(page, "scalpel_knob_drift{knob=\"boost\"}") ?? .nan)
        // The server decodes with a KV cache, the check in one pass: the same sums up to rounding.
        #expect(abs(served.mean - means.reduce(0, +) / 4) <= 1e-4 * max(1, abs(served.mean)))
        #expect(abs(served.drift - drift) <= 1e-4 * max(1, abs(drift)))
        #expect(abs(served.firing - Double(firing) / Double(tokens)) <= 1.0 / Double(tokens) + 1e-12)
        #expect(try Self.metric(page, "scalpel_knob_requests_total{knob=\"calm\"}") == 3)
    }

    @Test func keysQueuesAndTheDrainOnSIGTERM() throws {
        let (directory, model, _) = try Self.fixture()
        defer { try? FileManager.default.removeItem(at: directory) }
        let key = directory.appendingPathComponent("key")
        try "s3cret\n".write(to: key, atomically: true, encoding: .utf8)
        let hold = directory.appendingPathComponent("hold")
        let server = try ServerProcess(["--model", model.path, "--api-key-file", key.path, "--queue", "0"],
                                       environment: ["SCALPEL_TEST_HOLD": hold.path])
        defer { server.stop() }
        #expect(try server.request("GET", "/health").status == 200, "/health needs no key")
        #expect(try server.request("GET", "/v1/models").status == 401)
        #expect(try server.request("GET", "/metrics", headers: ["Authorization": "Bearer wrong"]).status == 401)
        let counted = try server.request("GET", "/metrics", headers: ["Authorization": "Bearer s3cret"]).body
        #expect(counted.contains("scalpel_http_requests_total{route=\"/metrics\",status=\"401\"} 1"), "401s are counted")
        let auth = ["Authorization": "Bearer s3cret"]
        #expect(try server.request("GET", "/v1/models", headers: auth).status == 200)
        // One request is held in flight (the test hook); with no queue, the next is a 429 with Retry-After.
        let long = Results(count: 1)
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) {
            long.setStatus(try? server.request("POST", "/v1/completions", headers: auth,
                                               body: "{\"prompt\": \"good\", \"max_tokens\": 200, \"temperature\": 0}"))
        }
        for _ in 0..<1000 where !FileManager.default.fileExists(atPath: hold.path) { usleep(10_000) }
        #expect(FileManager.default.fileExists(atPath: hold.path), "the first request never started")
        let busy = try server.request("POST", "/v1/completions", headers: auth, body: "{\"prompt\": \"x\", \"max_tokens\": 1}")
        #expect(busy.status == 429 && busy.headers["retry-after"] == "1" && busy.body.contains("rate_limit_error"))
        // SIGTERM while it is in flight: the server drains it, then exits 0.
        server.terminate()
        usleep(200_000)
        try FileManager.default.removeItem(at: hold)
        group.wait()
        #expect(long.status == 200, "SIGTERM dropped an in-flight request")
        #expect(server.waitForExit() == 0)
    }

    // MARK: helpers

    static func object(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "\(text.prefix(200))")
    }

    /// `scalpel.ids` (or `scalpel.unsteered.ids`) of a response, or `ids` of `generate --json`.
    static func ids(_ text: String, _ which: String) throws -> [Int] {
        let json = try object(text)
        if let scalpel = json["scalpel"] as? [String: Any] {
            let holder = which == "unsteered" ? scalpel["unsteered"] as? [String: Any] : scalpel
            return try #require(holder?["ids"] as? [Int])
        }
        return try #require(json[which] as? [Int], "\(text.prefix(200))")
    }

    static func metric(_ page: String, _ name: String) throws -> Double? {
        for line in page.split(separator: "\n") where line.hasPrefix(name + " ") {
            return Double(line.split(separator: " ").last!)
        }
        return nil
    }

    final class Results: @unchecked Sendable {
        private var values: [[Int]?]
        var status = 0
        private let lock = NSLock()
        init(count: Int) { values = Array(repeating: nil, count: count) }
        func set(_ i: Int, _ v: [Int]?) { lock.withLock { values[i] = v } }
        func get(_ i: Int) -> [Int]? { lock.withLock { values[i] } }
        func setStatus(_ answer: ServerProcess.Answer?) { lock.withLock { status = answer?.status ?? -1 } }
    }
}

/// `scalpel serve` as a child process on a free loopback port, with a plain HTTP/1.1 client.
final class ServerProcess: @unchecked Sendable {
    let process = Process()
    let port: Int
    private let errors = Pipe()

    struct Answer { var status: Int; var headers: [String: String]; var body: String }

    init(_ arguments: [String], environment: [String: String] = [:]) throws {
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("scalpel")
        process.executableURL = executable
        process.arguments = ["serve", "--port", "0"] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        var seen = ""
        let deadline = Date().addingTimeInterval(60)
        var found: Int?
        while found == nil && Date() < deadline && process.isRunning {
            let data = errors.fileHandleForReading.availableData
            if data.isEmpty { usleep(20_000); continue }
            seen += String(decoding: data, as: UTF8.self)
            if let range = seen.range(of: #"listening on http://127\.0\.0\.1:\d+"#, options: .regularExpression) {
                found = Int(seen[range].split(separator: ":").last!)
            }
        }
        guard let found else {
            process.terminate()
            throw ServeTestError.notListening(seen)
        }
        port = found
        // Keep draining stderr so the server never blocks on a full pipe.
        errors.fileHandleForReading.readabilityHandler = { _ = $0.availableData }
    }

    func terminate() { if process.isRunning { process.terminate() } }

    func waitForExit() -> Int32 {
        process.waitUntilExit()
        return process.terminationStatus
    }

    func stop() {
        terminate()
        process.waitUntilExit()
        errors.fileHandleForReading.readabilityHandler = nil
    }

    func connect() throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else { close(fd); throw ServeTestError.connect(errno) }
        var timeout = timeval(tv_sec: 120, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    func send(_ fd: Int32, _ method: String, _ path: String, headers: [String: String], body: String) {
        let bytes = Array(body.utf8)
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        for (k, v) in headers { head += "\(k): \(v)\r\n" }
        if method == "POST" { head += "Content-Type: application/json\r\nContent-Length: \(bytes.count)\r\n" }
        let all = Array((head + "\r\n").utf8) + bytes
        var sent = 0
        while sent < all.count {
            let n = all[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }   // the server may answer (413) and close before reading everything
            sent += n
        }
    }

    func request(_ method: String, _ path: String, headers: [String: String] = [:], body: String = "") throws -> Answer {
        let fd = try connect()
        defer { close(fd) }
        send(fd, method, path, headers: headers, body: body)
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            data += buffer[0..<n]
        }
        let text = String(decoding: data, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { throw ServeTestError.malformed(text) }
        let lines = text[..<split.lowerBound].components(separatedBy: "\r\n")
        let status = Int(lines[0].split(separator: " ")[1]) ?? 0
        var fields: [String: String] = [:]
        for line in lines.dropFirst() {
            if let colon = line.firstIndex(of: ":") {
                fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        var body = String(text[split.upperBound...])
        if fields["transfer-encoding"] == "chunked" { body = Self.dechunk(body) }
        return Answer(status: status, headers: fields, body: body)
    }

    /// Sends a streamed request, reads the first event, and hangs up.
    func leaveMidStream(body: String) throws {
        let fd = try connect()
        send(fd, "POST", "/v1/completions", headers: [:], body: body)
        var buffer = [UInt8](repeating: 0, count: 4096)
        var got = ""
        while !got.contains("data: ") {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            got += String(decoding: buffer[0..<n], as: UTF8.self)
        }
        close(fd)
    }

    static func dechunk(_ text: String) -> String {
        var out = "", rest = Substring(text)
        while let line = rest.range(of: "\r\n"), let size = Int(rest[..<line.lowerBound], radix: 16), size > 0 {
            let start = rest.utf8.index(line.upperBound, offsetBy: 0)
            let end = rest.utf8.index(start, offsetBy: size)
            out += String(rest[start..<end])
            rest = rest[rest.utf8.index(end, offsetBy: 2)...]   // "\r\n" is one Character: step in bytes
        }
        return out
    }
}

enum ServeTestError: Error { case notListening(String), connect(Int32), malformed(String) }

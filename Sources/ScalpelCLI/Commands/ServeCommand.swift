import ArgumentParser
import Foundation
import Scalpel
import Serving

/// `scalpel serve --model M [--knobs FILE…]`: an OpenAI-compatible server with per-request skill knobs.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "serve",
        abstract: "Serve a model over OpenAI's API, with skill knobs per request and knob metrics for Prometheus.",
        discussion: """
        Routes: POST /v1/chat/completions and /v1/completions (stream: true for server-sent events), GET \
        /v1/models, /health and /metrics. A request turns knobs with "scalpel": {"knobs": {"NAME": STRENGTH}}, \
        and "compare": true returns the unsteered completion beside the steered one. It listens on 127.0.0.1 \
        unless told otherwise; SIGTERM drains in-flight requests, then exits. See docs/serve.md.
        """)
    @Option(help: "Checkpoint path or alias.") var model: String
    @Option(parsing: .upToNextOption, help: "Knob files (scalpel knob create).") var knobs: [String] = []
    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port (0: any free port, printed on stderr).") var port = 8080
    @Option(help: "A file holding the API key every route but /health then needs (Authorization: Bearer KEY).")
    var apiKeyFile: String?
    @Option(help: "Requests that may wait while one runs; beyond, 429 with Retry-After.") var queue = 16
    @Option(help: "The largest max_tokens a request may ask for.") var maxTokens = 1024
    @Option(help: "The longest prompt plus completion, in tokens (default: the model's context).") var maxContext: Int?
    @Option(help: "The largest request body, in bytes.") var maxRequestBytes = 1 << 20
    @Option(help: "Seconds SIGTERM waits for in-flight requests.") var drainSeconds = 60
    @Option(help: "Arithmetic of the products: fp32, int8 or bf16 (as generate).") var precision = "fp32"

    func validate() throws {
        try Bounds.atLeast(0, atMost: .value(65535)).check("port", Double(port))
        try Bounds.atLeast(0, atMost: .value(100_000)).check("queue", Double(queue))
        try Bounds.atLeast(1, atMost: .value(65536)).check("max-tokens", Double(maxTokens))
        try Bounds.atLeast(1024, atMost: .value(Double(1 << 30))).check("max-request-bytes", Double(maxRequestBytes))
        try Bounds.atLeast(1, atMost: .value(3600)).check("drain-seconds", Double(drainSeconds))
        if let maxContext { try Bounds.atLeast(2).check("max-context", Double(maxContext)) }
        _ = try Precision.named(precision)
    }

    func run() throws {
        var options = ServeOptions()
        options.host = host
        options.port = port
        options.queue = queue
        options.maxRequestBytes = maxRequestBytes
        options.drainSeconds = drainSeconds
        options.limits = CompletionRequest.Limits(maxTokens: maxTokens)
        if let apiKeyFile {
            let key = try String(contentsOfFile: apiKeyFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            guard !key.isEmpty else { throw ValidationError("\(apiKeyFile) is empty; write the API key in it") }
            options.apiKey = key
        }
        let loaded = try ModelLoader.load(model)
        let knobs = try self.knobs.map { try Knob.load(URL(fileURLWithPath: $0)) }
        // The engine runs every product on its own thread, in this precision.
        let engine = try ServingEngine(modelName: URL(fileURLWithPath: model).deletingPathExtension().lastPathComponent,
                                       loaded: loaded, knobs: knobs, maxContext: maxContext,
                                       precision: try Precision.named(precision))
        if options.apiKey == nil, !["127.0.0.1", "localhost", "::1"].contains(host) {
            Output.progress("warning: scalpel serve listens on \(host) with no API key: anyone who reaches it can " +
                            "use it; give --api-key-file")
        }
        let server = ScalpelServer(engine: engine, options: options)
        let failure = ErrorBox()
        let done = DispatchSemaphore(value: 0)
        Task {
            do {
                try await server.run { port in
                    Output.progress("scalpel serve: listening on http://\(host):\(port) " +
                                    "(\(engine.modelName), knobs: \(engine.knobs.keys.sorted().joined(separator: ", ")))")
                }
            } catch { failure.error = error }
            done.signal()
        }
        done.wait()
        if let error = failure.error { throw error }
        Output.progress("scalpel serve: stopped")
    }

    final class ErrorBox: @unchecked Sendable { var error: Error? }
}

/// `scalpel knob create …`: a knob file from a run's evidence archive.
struct KnobCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "knob",
        abstract: "Make skill knobs for `scalpel serve` and `scalpel generate --knob`.",
        subcommands: [KnobCreateCommand.self])
}

struct KnobCreateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create",
        abstract: "Write a knob: the top neurons of a run's ranking, with their training statistics.",
        discussion: """
        Kinds: scale (the strength multiplies the set's activations: 1 unchanged, 0 zero-ablates, 2 doubles), \
        mean and noise (the share of the way to the training mean, or to noise ablation: 0 unchanged, 1 replaced). \
        See docs/serve.md#knobs.
        """)
    @Option(help: "The run's evidence archive (runs/NAME/evidence.h5), or its run folder.") var from: String
    @Option(help: "The knob's name, as requests spell it.") var name: String
    @Option(help: "The knob file to write.") var out: String
    @Option(help: "The ranking to take neurons from (default: the rank stage's primary metric).") var metric: String?
    @Option(help: "How many of the top neurons.") var top = 50
    @Option(help: "scale, mean or noise.") var kind = "scale"
    @Option(help: "For noise: σ in training standard deviations at strength 1.") var noiseSigma = 1.0
    @Option(help: "Seed of the noise.") var seed: UInt64 = 0
    @Option(help: "What the knob does, for people.") var description: String?
    @Flag(help: "Print the knob as JSON.") var json = false

    func validate() throws {
        try Bounds.atLeast(1, atMost: .value(1_000_000)).check("top", Double(top))
        guard Knob.Kind(rawValue: kind) != nil else { throw ValidationError("--kind must be scale, mean or noise") }
        guard noiseSigma.isFinite, noiseSigma > 0 else { throw ValidationError("--noise-sigma must be above 0") }
    }

    func run() throws {
        var archive = URL(fileURLWithPath: from)
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: archive.path, isDirectory: &isFolder), isFolder.boolValue {
            archive = archive.appendingPathComponent("evidence.h5")
        }
        let ranking = try AblateStage.ranking(in: archive, metric: metric, for: archive.path, key: "--metric")
        guard ranking.ranked.count >= top else {
            throw ValidationError("the ranking of \(ranking.metric) scored \(ranking.ranked.count) neurons; lower --top")
        }
        let neurons = Array(ranking.ranked.prefix(top))
        if let missing = neurons.first(where: { ranking.statistics[$0] == nil }) {
            throw ValidationError("neuron \(missing.neuron) of layer \(missing.layer) has no training statistics in " +
                                  "\(archive.path); collect again")
        }
        var source = ["archive": archive.path, "metric": ranking.metric, "top": "\(top)"]
        if let file = try? EvidenceArchive.open(archive), case .string(let sha)? = try? file.root.group("provenance")
            .attribute("model_sha256") {
            source["model_sha256"] = sha
        }
        let knob = Knob(name: name, description: description ?? "the top \(top) neurons of \(ranking.metric)",
                        kind: Knob.Kind(rawValue: kind)!, neurons: neurons,
                        means: neurons.map { ranking.statistics[$0]?.mean ?? 0 },
                        stds: neurons.map { ranking.statistics[$0]?.std ?? 0 },
                        noiseSigma: noiseSigma, seed: seed, source: source)
        try knob.validate(layers: (neurons.map(\.layer).max() ?? 0) + 1, width: (neurons.map(\.neuron).max() ?? 0) + 1)
        try AtomicFile.write(try knob.encoded(), to: URL(fileURLWithPath: out))
        if json {
            FileHandle.standardOutput.write(try knob.encoded())
            print("")
        } else {
            print("knob '\(name)' (\(kind)): \(top) neurons of \(ranking.metric) from \(archive.path) → \(out)")
        }
    }
}

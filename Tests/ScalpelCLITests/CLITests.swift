import Testing
import Foundation
import TestSupport
import Yams
import AtomicFiles

final class DataBox: @unchecked Sendable { var data = Data() }

/// Runs the built `scalpel` executable, which SwiftPM places beside the test bundle.
func runScalpel(_ arguments: [String], in directory: URL? = nil, environment: [String: String] = [:]) throws -> (status: Int32, stdout: String, stderr: String) {
    let executable = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("scalpel")
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    if let directory { process.currentDirectoryURL = directory }
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // Both pipes at once (a child that fills one while we wait on the other would block), each read
    // retrying reads a signal interrupts (Foundation's readDataToEndOfFile traps on EINTR).
    let stderrBox = DataBox()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async {
        stderrBox.data = PipeReading.readAll(err.fileHandleForReading) ?? Data()
        group.leave()
    }
    let stdout = PipeReading.readAll(out.fileHandleForReading) ?? Data()
    group.wait()
    let stderr = stderrBox.data
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
}

@Suite struct CLITests {
    @Test func versionAndHelp() throws {
        let version = try runScalpel(["--version"])
        #expect(version.status == 0)
        #expect(version.stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ".").count == 3)
        let help = try runScalpel(["--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("USAGE: scalpel") && help.stdout.contains("bench"))
    }

    @Test func badBenchOptionIsExplained() throws {
        let result = try runScalpel(["bench", "matmul", "--only", "attention"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("ffn_up"))
    }

    @Test func unknownCommandFailsWithMessage() throws {
        let result = try runScalpel(["frobnicate"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("frobnicate"))
    }

    @Test func matmulBenchPrintsJSON() throws {
        let result = try runScalpel(["bench", "matmul", "--only", "ffn_up", "--naive-rows", "1", "--min-seconds", "0", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        let rows = try #require(object?["results"] as? [[String: Any]])
        #expect(rows.count == 1 && rows[0]["m"] as? Int == 512)
        for row in rows {
            let blas = try #require(row["openblas_gflops"] as? Double), naive = try #require(row["naive_gflops"] as? Double)
            #expect(blas > 0 && naive > 0)
        }
    }
}

@Suite struct InspectCommandTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static var hasSmolLM2: Bool { FileManager.default.fileExists(atPath: root.appendingPathComponent("checkpoints/SmolLM2-135M-Instruct.Q4_1.gguf").path) }
    static var hasGemma: Bool { FileManager.default.fileExists(atPath: root.appendingPathComponent("checkpoints/gemma-3-270m-q4_k_m.gguf").path) }

    @Test(.enabled(if: hasSmolLM2, "smollm2 is not fetched: run Scripts/fetch smollm2"))
    func smolLM2AliasReportsTheModel() throws {
        let result = try runScalpel(["inspect", "smollm2", "--json"], in: Self.root)
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(object["format"] as? String == "gguf" && object["architecture"] as? String == "llama")
        #expect((object["tensors"] as? [[String: Any]])?.count == 272)
        let parameters = try #require(object["parameters"] as? Int)
        #expect((134_400_000...134_600_000).contains(parameters))
        let metadata = try #require(object["metadata"] as? [String: Any])
        let tokens = try #require(metadata["tokenizer.ggml.tokens"] as? [String: Any])
        #expect(tokens["count"] as? Int == 49152)
        let first = try #require((object["tensors"] as? [[String: Any]])?.first)
        #expect(Set(first.keys) == ["name", "type", "shape", "bytes"])
    }

    @Test(.enabled(if: hasGemma, "gemma3 is not fetched: run Scripts/fetch gemma3"))
    func gemmaAliasReportsTheModel() throws {
        let result = try runScalpel(["inspect", "gemma3", "--json"], in: Self.root)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(object["architecture"] as? String == "gemma3" && (object["tensors"] as? [Any])?.count == 236)
    }

    @Test func foreignAndMissingFilesFailWithAMessage() throws {
        let readme = try runScalpel(["inspect", Self.root.appendingPathComponent("README.md").path])
        #expect(readme.status != 0 && readme.stderr.contains("neither GGUF nor safetensors"))
        let missing = try runScalpel(["inspect", "/nonexistent/model.gguf"])
        #expect(missing.status != 0 && missing.stderr.contains("cannot open"))
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("scalpel-empty-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: empty) }
        let alias = try runScalpel(["inspect", "gemma3"], in: empty, environment: ["SCALPEL_ROOT": empty.path])
        #expect(alias.status != 0 && alias.stderr.contains("Scripts/fetch gemma3"))
    }
}

@Suite(.enabled(if: InspectCommandTests.hasSmolLM2, "smollm2 is not fetched: run Scripts/fetch smollm2"))
struct TokenizeCommandTests {
    @Test func chatTemplateAndJSON() throws {
        let result = try runScalpel(["tokenize", "--model", "smollm2", "--chat", "--json", "Hi"], in: InspectCommandTests.root)
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let first = try #require((object["results"] as? [[String: Any]])?.first)
        let ids = try #require(first["ids"] as? [Int])
        #expect(ids.first == 1 && ids.suffix(4) == [1, 520, 9531, 198])   // <|im_start|> … <|im_start|>assistant\n
        #expect((first["tokens"] as? [String])?.first == "<|im_start|>")
    }

    @Test func plainTextShowsIdsAndTokens() throws {
        let result = try runScalpel(["tokenize", "--model", "smollm2", "Hello world"], in: InspectCommandTests.root)
        #expect(result.stdout.contains("19556 905") && result.stdout.contains("\"Ġworld\""))
    }
}

@Suite(.enabled(if: InspectCommandTests.hasSmolLM2, "smollm2 is not fetched: run Scripts/fetch smollm2"))
struct ModelCommandTests {
    @Test func forwardPrintsTheDocumentedJSON() throws {
        let result = try runScalpel(["forward", "--model", "smollm2", "--text", "The capital of France is", "--top", "3", "--json"], in: InspectCommandTests.root)
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let ids = try #require(object["ids"] as? [Int]), positions = try #require(object["positions"] as? [[String: Any]])
        #expect(ids.count == 5 && positions.count == 5 && (object["loss"] as? Double ?? 0) > 0)
        #expect(Set(positions[0].keys) == ["argmax", "logsumexp", "top"])
        let top = try #require(positions[4]["top"] as? [[Double]])
        #expect(top.count == 3 && Int(top[0][0]) == positions[4]["argmax"] as? Int && top[0][1] >= top[1][1])
    }

    @Test func generateIsGreedyAndReproducible() throws {
        let args = ["generate", "--model", "smollm2", "--prompt", "What is the capital of France?", "--chat", "--max-tokens", "12"]
        let a = try runScalpel(args, in: InspectCommandTests.root), b = try runScalpel(args, in: InspectCommandTests.root)
        #expect(a.status == 0 && a.stdout == b.stdout && a.stdout.contains("Paris"))
        let sampled = ["generate", "--model", "smollm2", "--prompt", "Once upon a time", "--max-tokens", "10", "--temperature", "1.0", "--seed", "7", "--json"]
        let c = try runScalpel(sampled, in: InspectCommandTests.root), d = try runScalpel(sampled, in: InspectCommandTests.root)
        #expect(c.status == 0 && d.status == 0, "\(c.stderr)")
        // Timings and memory differ between runs; the tokens and text must not.
        let first = try generated(c.stdout), second = try generated(d.stdout)
        #expect(first["ids"] as? [Int] == second["ids"] as? [Int])
        #expect(first["text"] as? String == second["text"] as? String)
        for key in ["prompt_tokens", "first_token_seconds", "decode_tokens_per_second", "peak_rss_mb"] {
            #expect(first[key] != nil, "generate --json lacks \(key)")
        }
    }

    private func generated(_ stdout: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any])
    }

    @Test func encodersAndDecodersRefuseTheOthersCommand() throws {
        let embedOnDecoder = try runScalpel(["embed", "--model", "smollm2", "--text", "x"], in: InspectCommandTests.root)
        #expect(embedOnDecoder.status != 0 && embedOnDecoder.stderr.contains("encoder"))
    }
}

@Suite(.enabled(if: FileManager.default.fileExists(atPath: InspectCommandTests.root.appendingPathComponent("checkpoints/all-MiniLM-L6-v2/model.safetensors").path), "minilm is not fetched: run Scripts/fetch minilm"))
struct EmbedCommandTests {
    @Test func embedPrintsAUnitVector() throws {
        let result = try runScalpel(["embed", "--model", "minilm", "--text", "A gripping, beautifully acted film.", "--json"], in: InspectCommandTests.root)
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let embedding = try #require(object["embedding"] as? [Double])
        #expect(embedding.count == 384 && abs(embedding.reduce(0) { $0 + $1 * $1 } - 1) < 1e-5)
        #expect((object["ids"] as? [Int])?.first == 101)
    }
}

@Suite(.enabled(if: InspectCommandTests.hasSmolLM2 && FileManager.default.fileExists(atPath: InspectCommandTests.root.appendingPathComponent("data/polarity/polarity-en-pang&lee2.csv").path),
                "smollm2 and the polarity data are needed: run Scripts/fetch smollm2 polarity"))
struct RecipeCommandTests {
    static let base = """
    name: check
    model: smollm2
    seed: 1
    data:
      loader: polarity
      path: data/polarity/polarity-en-pang&lee2.csv
    task:
      template: "{text}\\nSentiment:"
      verbalizers: [" negative", " positive"]
    """

    func check(_ text: String) throws -> (status: Int32, stdout: String, stderr: String) {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("recipe-\(UUID().uuidString).yaml")
        try text.write(to: url, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: url) }
        return try runScalpel(["recipe", "check", url.path], in: InspectCommandTests.root)
    }

    @Test func theShippedRecipesAreValid() throws {
        // Every shipped recipe whose model is fetched: checking it also checks its data and its verbalizers.
        let recipes = try FileManager.default.contentsOfDirectory(atPath: InspectCommandTests.root.appendingPathComponent("Recipes").path).filter { $0.hasSuffix(".yaml") }
        #expect(recipes.count >= 5)
        for name in recipes.sorted() {
            let text = try String(contentsOf: InspectCommandTests.root.appendingPathComponent("Recipes/\(name)"), encoding: .utf8)
            let alias = text.split(separator: "\n").first { $0.hasPrefix("model: ") }.map { String($0.dropFirst(7)) } ?? ""
            guard Fixtures.checkpointPaths[alias] != nil, Fixtures.has(alias) else { print("skipped \(name): \(alias) is not fetched"); continue }
            let recipe = try Yams.load(yaml: text) as? [String: Any]
            let dataPath = (recipe?["data"] as? [String: Any])?["path"] as? String ?? ""
            guard Fixtures.isFetched(recipeDataPath: dataPath) else {
                print("skipped \(name): its data \(dataPath) is not fetched (Scripts/fetch --list says why)")
                continue
            }
            let result = try runScalpel(["recipe", "check", "Recipes/\(name)"], in: InspectCommandTests.root)
            #expect(result.status == 0, "\(name): \(result.stderr)")
        }
        #expect(try check(Self.base).status == 0)
    }

    /// Each malformed recipe fails with its own message, naming the key and its line.
    @Test(arguments: [
        ("seed: 1", "seed: abc", "seed: must be an integer"),
        ("seed: 1", "seed: 1\ncolour: blue", "colour: unknown key"),
        ("path: data/polarity/polarity-en-pang&lee2.csv", "path: data/nowhere.csv", "data.path:"),
        ("loader: polarity", "loader: csv\n  text: text\n  label: sentiment", "data.text"),
        ("[\" negative\", \" positive\"]", "[\" negative\", \" supercalifragilisticexpialidocious\"]", "task.verbalizers: verbalizer 1"),
    ])
    func malformedRecipes(_ from: String, _ to: String, _ expected: String) throws {
        let result = try check(Self.base.replacingOccurrences(of: from, with: to))
        #expect(result.status != 0)
        #expect(result.stderr.contains(expected), "\(result.stderr)")
        #expect(result.stderr.contains("line "), "\(result.stderr)")
    }

    @Test func explainPrintsTheSchema() throws {
        let result = try runScalpel(["recipe", "explain"])
        #expect(result.status == 0 && result.stdout.contains("verbalizers") && result.stdout.contains("[default 16]"))
    }
}

import Foundation
import AtomicFiles
import Checkpoints
import Testing
import TensorCore
import TestSupport

/// Every crash, silent wrong answer and unclear message a hostile tryout of Scalpel found: each input
/// must end in a clean, non-zero exit with a message naming what is wrong, never a signal.
@Suite struct HardeningTests {
    /// A run that must fail cleanly: a non-zero status from `exit` (not a signal, which Foundation reports
    /// as status 128 + n or above), and stderr (or the JSON error) containing every `expected` fragment.
    func expectRefused(_ arguments: [String], _ expected: [String], in directory: URL? = nil,
                       sourceLocation: SourceLocation = #_sourceLocation) throws {
        let run = try runScalpel(arguments, in: directory)
        #expect(run.status != 0 && run.status < 128, "\(arguments): status \(run.status)", sourceLocation: sourceLocation)
        for fragment in expected {
            #expect(run.stderr.contains(fragment), "\(arguments): '\(fragment)' not in \(run.stderr)", sourceLocation: sourceLocation)
        }
    }

    @Test func negativeAndZeroSizesAreRangeErrorsNotTraps() throws {
        try expectRefused(["inspect", "smollm2", "--tensors=-5"], ["--tensors is -5", "at least 0", "Usage: scalpel inspect"])
        try expectRefused(["bench", "forward", "--batch=0"], ["--batch is 0", "at least 1", "Usage: scalpel bench forward"])
        try expectRefused(["bench", "forward", "--length=-1"], ["--length is -1"])
        try expectRefused(["bench", "edit-step", "--neurons=-1"], ["--neurons is -1"])
        try expectRefused(["bench", "prompt-step", "--prompt=-2"], ["--prompt is -2"])
        // A negative value after a space reaches the range check instead of "Missing value".
        try expectRefused(["forward", "--model", "smollm2", "--text", "hi", "--top", "-1"], ["--top is -1"])
        try expectRefused(["generate", "--model", "smollm2", "--prompt", "hi", "--seed", "-1"], ["--seed is -1"])
    }

    @Test func editStepNeuronsBeyondTheLayerWidthAreRefused() throws {
        let (directory, model, _) = try tinyRunFolder()
        defer { try? FileManager.default.removeItem(at: directory) }
        try expectRefused(["bench", "edit-step", "--model", model.path, "--neurons=100000", "--repeats=1"],
                          ["--neurons is 100000", "at most 24"])
    }

    @Test func invalidUTF8IsAnErrorNamingTheOffset() throws {
        // Arguments arrive as raw bytes; Process passes these through unchanged.
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("scalpel")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "\"$0\" tokenize --model smollm2 \"$(printf 'ab\\377c')\"", executable.path]
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: PipeReading.readAll(err.fileHandleForReading) ?? Data(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus != 0 && process.terminationStatus < 128)
        #expect(text.contains("not valid UTF-8") && text.contains("offset 2"), "\(text)")
    }

    @Test func invalidUTF8DataFileIsRefusedWithTheOffset() throws {
        let (directory, model, _) = try tinyRunFolder()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Data("text,label\ngood\u{20}".utf8 + [0xC3, 0x28] + Data(",pos\n".utf8)).write(to: directory.appendingPathComponent("bad.csv"))
        let recipe = directory.appendingPathComponent("r.yaml")
        try """
        name: utf8
        model: \(model.path)
        data: {loader: csv, path: \(directory.appendingPathComponent("bad.csv").path), text: text, label: label}
        task: {verbalizers: ["a", "b"]}
        """.write(to: recipe, atomically: true, encoding: .utf8)
        let check = try runScalpel(["recipe", "check", recipe.path])
        #expect(check.status == 1 && check.stderr.contains("not UTF-8") && check.stderr.contains("offset 16"), "\(check.stderr)")
    }

    @Test func anOverflowingAmplificationStopsGenerationWithAMessage() throws {
        let (directory, model, _) = try tinyRunFolder()
        defer { try? FileManager.default.removeItem(at: directory) }
        let knob = directory.appendingPathComponent("knob.json")
        try #"{"mode": "amplify", "strength": 1e308, "neurons": [{"layer": 0, "neuron": 1}, {"layer": 1, "neuron": 2}], "seed": 0}"#
            .write(to: knob, atomically: true, encoding: .utf8)
        try expectRefused(["generate", "--model", model.path, "--prompt", "good film", "--max-tokens", "3", "--intervene", knob.path],
                          ["NaN or infinite", "strength"])
    }

    @Test func damagedCheckpointsSayWhichFileAndWhatIsWrong() throws {
        let directory = try Fixtures.scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        func write(_ name: String, _ bytes: [UInt8]) throws -> String {
            let url = directory.appendingPathComponent(name)
            try Data(bytes).write(to: url)
            return url.path
        }
        func length(_ n: UInt64) -> [UInt8] { withUnsafeBytes(of: n.littleEndian) { Array($0) } }
        let header = Array(#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#.utf8)
        let empty = try write("empty.safetensors", [])
        try expectRefused(["inspect", empty], [empty, "empty (0 bytes)"])
        let past = try write("past.safetensors", length(UInt64(header.count + 100)) + header + [UInt8](repeating: 0, count: 8))
        try expectRefused(["inspect", past], [past, "truncated or corrupt"])
        let array = try write("array.bin", length(2) + Array("[]".utf8))
        try expectRefused(["inspect", array], [array, "not a JSON object", "truncated or corrupt"])
        let cut = try write("cut.safetensors", length(UInt64(header.count)) + header.prefix(10))
        try expectRefused(["inspect", cut], [cut, "truncated or corrupt"])
    }

    @Test func aBrokenHuggingFaceFolderNamesItsFile() throws {
        let directory = try Fixtures.scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let folder = directory.appendingPathComponent("bert")
        try TinyModels.writeBertFolder(folder)
        let config = folder.appendingPathComponent("config.json")
        let good = try Data(contentsOf: config)
        try Data(#"{"model_type": "bert", "#.utf8).write(to: config)
        try expectRefused(["inspect", folder.path], [config.path, "not valid JSON"])
        try expectRefused(["embed", "--model", folder.path, "--text", "hi"], [config.path, "not valid JSON"])
        try good.write(to: config)
        let tokenizer = folder.appendingPathComponent("tokenizer.json")
        try Data(try Data(contentsOf: tokenizer).prefix(40)).write(to: tokenizer)
        try expectRefused(["embed", "--model", folder.path, "--text", "hi"], [tokenizer.path])
    }

    @Test func foldersWhereFilesBelongAreNamed() throws {
        let (directory, model, _) = try tinyRunFolder()
        defer { try? FileManager.default.removeItem(at: directory) }
        try expectRefused(["recipe", "check", directory.path], [directory.path, "is a folder"])
        let recipe = directory.appendingPathComponent("r.yaml")
        try """
        name: folder
        model: \(model.path)
        data: {loader: csv, path: \(directory.path), text: text, label: label}
        task: {verbalizers: ["a", "b"]}
        """.write(to: recipe, atomically: true, encoding: .utf8)
        try expectRefused(["recipe", "check", recipe.path], ["data", directory.path, "is a folder"])
    }

    @Test func jsonErrorsAreJSONObjectsOnStdout() throws {
        for arguments in [["bench", "forward", "--batch=0", "--json"], ["inspect", "/no/such/file", "--json"],
                          ["forward", "--model", "smollm2", "--top", "-3", "--json", "--text", "x"]] {
            let run = try runScalpel(arguments)
            #expect(run.status != 0 && run.status < 128)
            let object = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
            let error = object?["error"] as? [String: Any]
            #expect(error?["message"] is String && error?["hint"] is String, "\(arguments): \(run.stdout)")
        }
    }

    @Test func badInterventionFilesAreExplainedInWords() throws {
        let (directory, model, _) = try tinyRunFolder()
        defer { try? FileManager.default.removeItem(at: directory) }
        let knob = directory.appendingPathComponent("knob.json")
        for text in [#"{"mode": "amplify"}"#, #"{"mode": "melt", "strength": 1, "neurons": [], "seed": 0}"#, "[1, 2"] {
            try text.write(to: knob, atomically: true, encoding: .utf8)
            let run = try runScalpel(["generate", "--model", model.path, "--prompt", "x", "--intervene", knob.path])
            #expect(run.status != 0 && run.status < 128)
            #expect(!run.stderr.contains("DecodingError") && !run.stderr.contains("CodingKeys") && run.stderr.contains(knob.path),
                    "\(text): \(run.stderr)")
        }
    }
}

/// `recipe check` refuses what the stages refuse, naming the key, the value and the range: "valid" must
/// mean the stages will run the recipe. The tiny model has 2 layers of 24 neurons.
@Suite struct RecipeCheckRefusesTests {
    static let cases: [(String, String, [String])] = [
        ("rank: {top_k: 0}", "rank.top_k", ["is 0", "at least 1"]),
        ("rank: {top_k: -5}", "rank.top_k", ["is -5"]),
        ("rank: {top_k: 49}", "rank.top_k", ["is 49", "at most 48"]),
        ("collect: {batch_size: 0}", "collect.batch_size", ["is 0", "at least 1"]),
        ("collect: {batch_size: -4}", "collect.batch_size", ["is -4"]),
        ("ablate: {k: [-3]}", "ablate.k[0]", ["is -3"]),
        ("ablate: {k: [ten]}", "ablate.k[0]", ["must be an integer"]),
        ("ablate: {k: [5000]}", "ablate.k[0]", ["is 5000", "at most 48"]),
        ("ablate: {k: [30]}", "ablate.k", ["is 30", "at most 24", "random sets"]),
        ("edit: {neurons: 0}", "edit.neurons", ["is 0"]),
        ("edit: {neurons: 100000}", "edit.neurons", ["is 100000", "at most 48"]),
        ("edit: {steps: -1}", "edit.steps", ["is -1"]),
        ("edit: {learning_rate: .inf}", "edit.learning_rate", ["is infinity", "finite"]),
        ("collect: {layers: [\"7\"]}", "collect.layers", ["'7'", "0–1"]),
        ("collect: {layers: [\"1-0\"]}", "collect.layers", ["'1-0'"]),
        ("ablate: {strengths: [.nan]}", "ablate.strengths[0]", ["is NaN"]),
        ("prompt: {learning_rate: 0}", "prompt.learning_rate", ["is 0", "greater than 0"]),
    ]

    func recipe(_ extra: String, in directory: URL, model: URL, data: URL, split: String = "{train: 0.6, dev: 0.2, test: 0.2}",
                seedLines: String = "seed: 1") throws -> URL {
        let file = directory.appendingPathComponent("r.yaml")
        try """
        name: bad
        model: \(model.path)
        \(seedLines)
        output: \(directory.appendingPathComponent("run").path)
        stages: [prompt, collect, rank, ablate, edit]
        data: {loader: csv, path: \(data.path), text: text, label: label, split: \(split)}
        task: {template: "{text} =", verbalizers: ["a", "b"]}
        \(extra)
        """.write(to: file, atomically: true, encoding: .utf8)
        return file
    }

    func problems(_ file: URL) throws -> (status: Int32, problems: [[String: Any]]) {
        let run = try runScalpel(["recipe", "check", file.path, "--json"])
        let object = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
        #expect(object?["valid"] as? Bool == (run.status == 0), "\(run.stdout) \(run.stderr)")
        return (run.status, object?["problems"] as? [[String: Any]] ?? [])
    }

    @Test func theShippedShapeIsValid() throws {
        let (directory, model, data) = try tinyRunFolder()
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try problems(try recipe("rank: {top_k: 4}\nablate: {k: [2, 4]}\nedit: {neurons: 3}", in: directory, model: model, data: data))
        #expect(result.status == 0 && result.problems.isEmpty, "\(result.problems)")
    }

    @Test(arguments: 0..<cases.count)
    func badValuesAreRefused(_ index: Int) throws {
        let (extra, path, fragments) = Self.cases[index]
        let (directory, model, data) = try tinyRunFolder()
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try problems(try recipe(extra, in: directory, model: model, data: data))
        #expect(result.status == 1)
        let problem = result.problems.first { ($0["path"] as? String) == path }
        #expect(problem != nil, "\(extra): no problem at \(path) in \(result.problems)")
        for fragment in fragments {
            #expect((problem?["message"] as? String)?.contains(fragment) == true, "\(extra): '\(fragment)' not in \(problem ?? [:])")
        }
    }

    @Test func aNaNSplitAndADuplicateKeyAreRefused() throws {
        let (directory, model, data) = try tinyRunFolder()
        defer { try? FileManager.default.removeItem(at: directory) }
        let nan = try problems(try recipe("", in: directory, model: model, data: data, split: "{train: .nan, dev: 0.5, test: 0.5}"))
        #expect(nan.status == 1 && nan.problems.contains { $0["path"] as? String == "data.split.train" })
        let twice = try problems(try recipe("", in: directory, model: model, data: data, seedLines: "seed: 1\nseed: 2"))
        #expect(twice.status == 1 && twice.problems.contains { ($0["message"] as? String)?.contains("given twice") == true })
    }

    @Test func splitsMasksAndVerbalizersTheStagesWouldRefuseAreRefused() throws {
        let (directory, model, data) = try tinyRunFolder()
        defer { try? FileManager.default.removeItem(at: directory) }
        let noTest = try problems(try recipe("", in: directory, model: model, data: data, split: "{train: 1, dev: 0, test: 0}"))
        #expect(noTest.problems.contains { ($0["message"] as? String)?.contains("leaves 0 test examples") == true }, "\(noTest.problems)")
        let folderMask = try problems(try recipe("edit: {mask: \(directory.path)}", in: directory, model: model, data: data))
        #expect(folderMask.problems.contains { $0["path"] as? String == "edit.mask" }, "\(folderMask.problems)")
        let knob = directory.appendingPathComponent("knob.json")
        try #"{"mode": "zero", "strength": 0, "neurons": [{"layer": 5, "neuron": 1}], "seed": 0}"#.write(to: knob, atomically: true, encoding: .utf8)
        let absent = try problems(try recipe("edit: {mask: \(knob.path)}", in: directory, model: model, data: data))
        #expect(absent.problems.contains { ($0["message"] as? String)?.contains("layer 5") == true }, "\(absent.problems)")
        let file = try recipe("", in: directory, model: model, data: data)
        let text = try String(contentsOf: file, encoding: .utf8).replacingOccurrences(of: #"["a", "b"]"#, with: #"["a", "a"]"#)
        try text.write(to: file, atomically: true, encoding: .utf8)
        let same = try problems(file)
        #expect(same.problems.contains { ($0["message"] as? String)?.contains("same token") == true }, "\(same.problems)")
    }

    @Test func labelMapsMustNumberTheClasses() throws {
        let (directory, model, data) = try tinyRunFolder()
        defer { try? FileManager.default.removeItem(at: directory) }
        for labels in ["{[a]: 0, [b]: 1}", "{pos: 0, neg: 7}"] {
            let file = try recipe("", in: directory, model: model, data: data)
            let text = try String(contentsOf: file, encoding: .utf8)
                .replacingOccurrences(of: "label: label,", with: "label: label, labels: \(labels),")
            try text.write(to: file, atomically: true, encoding: .utf8)
            let result = try problems(file)
            #expect(result.status == 1 && result.problems.contains { ($0["path"] as? String)?.hasPrefix("data.labels") == true },
                    "\(labels): \(result.problems)")
        }
    }

    @Test func hostileYAMLIsRefusedBeforeItIsParsed() throws {
        let directory = try Fixtures.scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let documents = [
            String(repeating: "[", count: 5000),
            "a: " + String(repeating: "{a: ", count: 3000) + "x" + String(repeating: "}", count: 3000),
            String(repeating: "- ", count: 4000) + "x",
            // Constructs a line scanner can miss; the parsed tree's depth is measured all the same.
            "# comment\r\na: " + String(repeating: "[", count: 3000),
            "a: # |\n  b: " + String(repeating: "[", count: 3000),
            "a:\n  " + String(repeating: "? ", count: 3000) + "x",
            "a: x - 'y\nb: " + String(repeating: "[", count: 3000),
            // "Billion laughs": nine levels of ten aliases each.
            (["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"] + (1...9).map { i in
                "a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]"
            }).joined(separator: "\n"),
        ]
        for (i, unclosed) in documents.enumerated() {
            // Valid YAML, so that only the depth can refuse it.
            let open = unclosed.filter { $0 == "[" }.count - unclosed.filter { $0 == "]" }.count
            let text = unclosed + String(repeating: "]", count: max(0, open))
            let file = directory.appendingPathComponent("hostile\(i).yaml")
            try text.write(to: file, atomically: true, encoding: .utf8)
            for arguments in [["recipe", "check", file.path], ["report", file.path]] {
                let run = try runScalpel(arguments)
                #expect(run.status != 0 && run.status < 128, "\(arguments) document \(i): status \(run.status)")
                #expect(run.stderr.contains("nests") || run.stderr.contains("aliases"), "\(arguments) document \(i): \(run.stderr)")
            }
        }
    }
}

/// The OpenBLAS kernel is named where results are reported, and the generic kernel and the one this
/// processor runs agree within float32 tolerance.
@Suite struct BLASKernelTests {
    func forward(_ model: String, kernel: String?) throws -> (loss: Double, lse: [Double]) {
        let run = try runScalpel(["forward", "--model", model, "--text", "The film was a quiet, lovely surprise from start to end.",
                                  "--top", "1", "--json"], environment: kernel.map { ["OPENBLAS_CORETYPE": $0] } ?? [:])
        #expect(run.status == 0, "\(run.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
        let positions = object?["positions"] as? [[String: Any]] ?? []
        return (object?["loss"] as? Double ?? .nan, positions.map { $0["logsumexp"] as? Double ?? .nan })
    }

    @Test func theGenericKernelAndThisProcessorsAgree() throws {
        let directory = try Fixtures.scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var model = Fixtures.checkpoint("smollm2")
        if !FileManager.default.fileExists(atPath: model) {
            print("BLASKernelTests: SmolLM2 is not fetched (Scripts/fetch smollm2); comparing on a tiny model")
            let config = TinyModels.llamaConfig(vocabulary: 260)
            model = directory.appendingPathComponent("tiny.gguf").path
            try TinyModels.writeLlamaGGUF(URL(fileURLWithPath: model), tensors: TinyModels.llamaTensors(config), config: config)
        }
        let generic = try forward(model, kernel: "Prescott"), native = try forward(model, kernel: nil)
        #expect(abs(generic.loss - native.loss) <= 1e-5 * abs(native.loss), "\(generic.loss) vs \(native.loss)")
        #expect(generic.lse.count == native.lse.count)
        for (a, b) in zip(generic.lse, native.lse) { #expect(abs(a - b) <= 1e-3, "logsumexp \(a) vs \(b)") }
    }

    @Test func versionNamesTheKernelAndWhoChoseIt() throws {
        let forced = try runScalpel(["--version", "--json"], environment: ["OPENBLAS_CORETYPE": "Prescott"])
        let object = try JSONSerialization.jsonObject(with: Data(forced.stdout.utf8)) as? [String: Any]
        let blas = object?["blas"] as? [String: Any]
        #expect(blas?["core"] as? String == "Prescott" && blas?["chosen_by"] as? String == "user", "\(forced.stdout)")
        #expect((blas?["cpu"] as? [String: Any])?["features"] is [String])
    }
}

/// SCALPEL_KERNELS forces a kernel path, and says so where results are reported; a path that does not
/// exist, or that this processor lacks, is an error that names the ones it has.
@Suite struct KernelPathTests {
    @Test func theEnvironmentChoosesThePathOrSaysWhyNot() throws {
        let forced = try runScalpel(["--version", "--json"], environment: ["SCALPEL_KERNELS": "scalar"])
        let object = try JSONSerialization.jsonObject(with: Data(forced.stdout.utf8)) as? [String: Any]
        let kernels = object?["kernels"] as? [String: Any]
        #expect(kernels?["path"] as? String == "scalar", "\(forced.stdout)")
        #expect((kernels?["available"] as? [String])?.contains("scalar") == true)

        let unknown = try runScalpel(["--version", "--json"], environment: ["SCALPEL_KERNELS": "sse9"])
        #expect(unknown.status != 0 && unknown.stdout.contains("names no kernel path") && unknown.stdout.contains("avx2"),
                "\(unknown.stdout)")
        let missing = (kernels?["unavailable"] as? [String: String])?.keys.sorted().first
        if let missing {
            let lacking = try runScalpel(["inspect", "nothing-here"], environment: ["SCALPEL_KERNELS": missing])
            #expect(lacking.status != 0 && lacking.stderr.contains("cannot run here"), "\(lacking.stderr)")
        }
    }

    /// Decoding in int8 on every path this machine has gives the same tokens (the kernels' tests compare
    /// the bits; here the whole model, in processes of their own, since the path is process-wide).
    @Test func int8DecodingIsTheSameOnEveryPath() throws {
        let config = TinyModels.llamaConfig(layers: 2, hidden: 256, heads: 4, kvHeads: 2, ffn: 512, vocabulary: 300)
        let tensors = TinyModels.llamaTensors(config, seed: 9)
        let directory = try Fixtures.scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let model = directory.appendingPathComponent("q8.gguf")
        try TinyModels.writeLlamaGGUF(model, tensors: tensors, config: config) { _, tensor in
            tensor.rank == 2 ? (.q8_0, try quantize(tensor.scalars, to: .q8_0)) : nil
        }
        let version = try runScalpel(["--version", "--json"])
        let kernels = (try JSONSerialization.jsonObject(with: Data(version.stdout.utf8)) as? [String: Any])?["kernels"]
        let paths = (kernels as? [String: Any])?["available"] as? [String] ?? []
        #expect(paths.contains("scalar"))
        var tokens: [String: [Int]] = [:]
        for path in paths {
            let run = try runScalpel(["generate", "--model", model.path, "--prompt", "ab", "--max-tokens", "6",
                                      "--precision", "int8", "--json"], environment: ["SCALPEL_KERNELS": path])
            #expect(run.status == 0, "\(path): \(run.stderr)")
            let object = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
            #expect(object?["kernels"] as? String == path)
            tokens[path] = object?["ids"] as? [Int]
        }
        #expect(Set(tokens.values.map { $0.description }).count == 1, "\(tokens)")
    }

    /// bf16 runs on the avx512bf16 kernels (or the scalar reference, forced): another path refuses it, saying
    /// why and what to use instead, before any model is read.
    @Test func bf16IsRefusedOnAPathWithoutItsKernels() throws {
        guard KernelPath.avx2.missing == nil else {
            print("bf16 refusal not tested here: no avx2 path to force (\(KernelPath.avx2.missing!))")
            return
        }
        let run = try runScalpel(["generate", "--model", "x", "--prompt", "hi", "--precision", "bf16"],
                                 environment: ["SCALPEL_KERNELS": "avx2"])
        #expect(run.status != 0 && run.stderr.contains("bf16 products run on the avx512bf16 kernels") &&
                run.stderr.contains("use fp32 or int8"), "\(run.stderr)")
        if KernelPath.avx512bf16.missing == nil {         // the machine has them: the forced path is named
            #expect(run.stderr.contains("SCALPEL_KERNELS chose avx2") && run.stderr.contains("unset it"), "\(run.stderr)")
        }
    }

    @Test func generateRefusesAnUnknownPrecision() throws {
        let run = try runScalpel(["generate", "--model", "x", "--prompt", "hi", "--precision", "int4"])
        #expect(run.status != 0 && run.stderr.contains("--precision int4 is not one of fp32, int8"), "\(run.stderr)")
    }
}

import ArgumentParser
import Foundation
import Scalpel

/// `scalpel generate --model M --prompt T [--chat] [--max-tokens N] [--temperature t] [--seed s]`:
/// streams the continuation to stdout as it is decoded.
struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate text with a KV cache (greedy or seeded sampling)."
    )

    @Option(help: "Checkpoint path or alias.") var model: String
    @Option(parsing: .unconditional, help: "The prompt (may start with a dash).") var prompt: String
    @Flag(help: "Wrap the prompt in the model's chat template.") var chat = false
    @Option(parsing: .unconditional, help: "Tokens to generate at most.") var maxTokens = 64
    @Option(parsing: .unconditional, help: "Sampling temperature; 0 is greedy.") var temperature: Float = 0
    @Option(parsing: .unconditional, help: "Seed for sampling.") var seed: Int = 0
    @Option(parsing: .unconditional, help: "Nucleus sampling: keep the most likely tokens up to this mass.")
    var topP: Float = 1
    @Option(help: """
        Turn a knob (scalpel knob create) to a strength, as a served request would: FILE=STRENGTH (repeatable; \
        applied in the order of the knobs' names).
        """)
    var knob: [String] = []
    @Option(help: """
        Apply a saved intervention (a skill knob written by `scalpel ablate`, or by hand) at every position.
        """)
    var intervene: String?
    @Option(help: """
        Arithmetic of the decoding steps' products: fp32 (weights decoded to Float32), int8 (GGUF blocks \
        times activations quantized to int8 per 32, as llama.cpp does; other weights stay fp32), or bf16 \
        (both rounded to bfloat16, on AVX512-BF16; slow for decoding, which rounds every weight each step).
        """)
    var precision = "fp32"
    @Flag(help: """
        Print JSON at the end instead of streaming: {prompt, ids, text, prompt_tokens, first_token_seconds, \
        decode_tokens_per_second, precision, kernels, peak_rss_mb}; with --intervene also {text_without, ids_without}.
        """)
    var json = false

    func validate() throws {
        try Bounds.atLeast(1, atMost: .value(65536)).check("max-tokens", maxTokens)
        try Bounds.atLeast(0, atMost: .value(1000)).check("temperature", Double(temperature))
        try Bounds.atLeast(0).check("seed", Double(seed))
        try Bounds.atLeast(0.000001, atMost: .value(1)).check("top-p", Double(topP))
        _ = try knobSettings()
        _ = try chosenPrecision()
    }

    /// `--knob FILE=STRENGTH`s, read and checked, in the order of the knobs' names.
    func knobSettings() throws -> [(knob: Knob, strength: Double)] {
        var settings: [(knob: Knob, strength: Double)] = []
        for entry in knob {
            guard let cut = entry.lastIndex(of: "="), let strength = Double(entry[entry.index(after: cut)...]) else {
                throw ValidationError("--knob takes FILE=STRENGTH, e.g. knobs/sentiment.json=0 (got '\(entry)')")
            }
            let loaded = try Knob.load(URL(fileURLWithPath: String(entry[..<cut])))
            if let problem = loaded.problem(strength: strength) { throw ValidationError(problem) }
            settings.append((loaded, strength))
        }
        return settings.sorted { $0.knob.name < $1.knob.name }
    }

    func chosenPrecision() throws -> Precision {
        try Precision.named(precision)
    }

    func run() throws {
        try Precision.$current.withValue(try chosenPrecision()) { try generate() }
    }

    func generate() throws {
        let loaded = try ModelLoader.load(model)
        guard case .decoder(let llama) = loaded.model else {
            throw ValidationError("\(model) is an encoder; it cannot generate text")
        }
        var parts = [TextPart(prompt, parsesSpecial: false)]
        var stop = Set<Int32>()
        if chat {
            let template = try loaded.chatTemplate.get()
            parts = try template.renderParts([.init(role: "user", content: prompt)])
            if let end = template.turnEnd(loaded.tokenizer) { stop.insert(end) }
        }
        if let eos = loaded.tokenizer.endOfSequence { stop.insert(eos) }
        // A chat template writes the BOS it wants itself (transformers tokenizes it without adding any).
        let ids = loaded.tokenizer.encode(parts, addSpecialTokens: !chat)
        let sampler = Sampler.of(temperature: temperature, topP: topP, seed: UInt64(seed))
        var interventions: [Intervention] = []
        if let intervene {
            let loadedIntervention = try Intervention.load(URL(fileURLWithPath: intervene))
            try loadedIntervention.validate(layers: llama.config.layers, width: llama.config.intermediateSize)
            interventions.append(loadedIntervention)
        }
        for (knob, strength) in try knobSettings() {
            try knob.validate(layers: llama.config.layers, width: llama.config.intermediateSize)
            if let intervention = knob.intervention(strength: strength) { interventions.append(intervention) }
        }
        // With scope `last`, each step's final position is the one being predicted from: the prompt's last
        // token, then each new token. Several interventions apply in order (the file's, then the knobs').
        let hooks: (Int, Int) -> HookSet = { rows, step in
            var hooks = HookSet()
            for intervention in interventions {
                hooks.add(contentsOf: intervention.hooks(rows: rows, lastRows: [rows - 1], salt: UInt64(step)))
            }
            return hooks
        }
        func decode(_ tokens: [Int32]) -> String {
            loaded.tokenizer.decode(tokens.filter { !stop.contains($0) }, skipSpecialTokens: true)
        }

        if json {
            // Timed per token: the first comes after the prompt's pass, each later one after one decoding step.
            var generated: [Int32] = [], times: [Date] = []
            let start = Date()
            try llama.generate(prompt: ids, maxTokens: maxTokens, sampler: sampler, stop: stop,
                               hooksForStep: hooks) { token in
                generated.append(token)
                times.append(Date())
                return true
            }
            var result: [String: Any] = ["prompt": parts.map(\.text).joined(), "ids": generated.map(Int.init),
                                         "text": decode(generated),
                                         "prompt_tokens": ids.count, "precision": precision,
                                         "kernels": KernelPath.current.rawValue,
                                         "peak_rss_mb": MachineMemory.peakResidentMegabytes]
            if let first = times.first {
                result["first_token_seconds"] = first.timeIntervalSince(start)
                if times.count > 1 {
                    result["decode_tokens_per_second"] = Double(times.count - 1) / times.last!.timeIntervalSince(first)
                }
            }
            if intervene != nil || !knob.isEmpty {
                let plain = try llama.generate(prompt: ids, maxTokens: maxTokens, sampler: sampler, stop: stop)
                result["intervention"] = intervene ?? knob.joined(separator: " ")
                result["text_without"] = decode(plain)
                result["ids_without"] = plain.map(Int.init)
            }
            Output.printJSON(result)
            return
        }
        var printed = ""
        var generated: [Int32] = []
        if !interventions.isEmpty { Output.progress("with \(intervene ?? knob.joined(separator: ", ")):") }
        try llama.generate(prompt: ids, maxTokens: maxTokens, sampler: sampler, stop: stop,
                           hooksForStep: hooks) { token in
            generated.append(token)
            // Print whole characters only: a byte-level token can end inside a UTF-8 sequence.
            let text = decode(generated)
            // Counted in Unicode scalars: a token may extend a character already printed (a combining mark).
            if !text.hasSuffix("\u{FFFD}") && text.unicodeScalars.count > printed.unicodeScalars.count {
                let new = String(text.unicodeScalars.dropFirst(printed.unicodeScalars.count))
                FileHandle.standardOutput.write(Data(new.utf8))
                printed = text
            }
            return true
        }
        let text = decode(generated)
        if text.unicodeScalars.count > printed.unicodeScalars.count {
            print(String(text.unicodeScalars.dropFirst(printed.unicodeScalars.count)), terminator: "")
        }
        print("")
    }
}

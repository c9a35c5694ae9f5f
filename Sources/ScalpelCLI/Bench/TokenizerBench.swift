import ArgumentParser
import Foundation
import Scalpel

/// Byte-level BPE encoding throughput over the Pang & Lee corpus: the priority-queue merge with its
/// per-piece cache, beside the textbook loop that rescans every pair for the lowest rank after each
/// merge (no cache), in the same run.
struct TokenizerBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer",
        abstract: "BPE encoding tokens/s vs a naive merge loop."
    )

    @Option(help: "Checkpoint with a byte-level BPE vocabulary.") var model = "smollm2"
    @Option(help: "Text corpus, one example per line.") var corpus = "data/polarity/polarity-en-pang&lee2.csv"
    @Option(parsing: .unconditional, help: "Passes over the corpus for the fast tokenizer (the first warms its cache).")
    var passes = 3
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        try Bounds.repeats.check("passes", passes)
    }

    func run() throws {
        let path = try ModelAliases.resolve(model)
        let corpusPath = corpus.hasPrefix("/") ? corpus : ModelAliases.root().appendingPathComponent(corpus).path
        guard let text = try? String(contentsOfFile: corpusPath, encoding: .utf8) else {
            throw ValidationError("cannot read the corpus at \(corpusPath); run Scripts/fetch polarity")
        }
        // Split on the scalar U+000A itself, keeping any "\r" (a Character split would keep "\r\n" lines
        // together); tools/bench_hf_tokenizers.py reads the same lines.
        let lines = text.unicodeScalars.split(separator: "\n").map { String(String.UnicodeScalarView($0)) }
        guard let tokenizer = try TokenizerLoader.load(checkpoint: path).tokenizer as? BPETokenizer else {
            throw ValidationError("\(model) does not use byte-level BPE")
        }
        Output.progress("bench tokenizer: \(lines.count) lines, naive baseline…")
        var start = now()
        var naiveTokens = 0
        for line in lines { naiveTokens += tokenizer.encodeNaively(line).count }
        let naiveSeconds = now() - start

        var passRates: [Double] = []
        var tokens = 0
        for pass in 1...max(1, passes) {
            Output.progress("bench tokenizer: fast pass \(pass)…")
            start = now()
            tokens = 0
            for line in lines { tokens += tokenizer.encode(line, addSpecialTokens: false).count }
            passRates.append(Double(tokens) / (now() - start))
        }
        let naiveRate = Double(naiveTokens) / naiveSeconds
        if json {
            Output.printJSON(["benchmark": "tokenizer", "lines": lines.count, "tokens": tokens,
                              "naive_tokens_per_second": naiveRate, "first_pass_tokens_per_second": passRates[0],
                              "warm_tokens_per_second": passRates.last!, "speedup_first_pass": passRates[0] / naiveRate,
                              "speedup_warm": passRates.last! / naiveRate])
            return
        }
        print("BPE encoding over \(lines.count) lines (\(tokens) tokens)")
        print(String(format: "naive rescanning merge:          %10.0f tokens/s", naiveRate))
        print(String(format: "heap merge, first pass (cold):  %10.0f tokens/s  (%.1fx)", passRates[0],
                     passRates[0] / naiveRate))
        print(String(format: "heap merge, warm cache:         %10.0f tokens/s  (%.1fx)", passRates.last!,
                     passRates.last! / naiveRate))
    }
}

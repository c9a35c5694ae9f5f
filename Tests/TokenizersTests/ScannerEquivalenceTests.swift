import Testing
import Tokenizers

/// The scanners give exactly the pieces of the regexes they replace, on texts built to reach every
/// alternative: contractions in both cases (and ſ), letters of several scripts with combining marks,
/// digits (ASCII and not), every kind of whitespace, newlines, punctuation and symbols.
@Suite struct ScannerEquivalenceTests {
    static let alphabet: [String] = [
        "a", "Z", "é", "ß", "東", "京", "α", "Ж", "ا", "ह", "\u{301}", "\u{17F}", "K", "s", "S", "t", "T", "r", "e", "v",
        "m", "l", "L", "d", "D", "1", "7", "٣", "²", "Ⅻ", " ", " ", " ", "\t", "\n", "\r", "\r\n", "\u{A0}", "\u{2028}",
        "\u{3000}", "'", "'", "’", ".", ",", "!", "?", "(", ")", "-", "_", "$", "€", "+", "<", "=", ">", "^", "~", "|",
        "`", "😀", "🎬", "\u{200B}", "\u{FEFF}", "#", "@", "\"", ":", ";",
    ]

    /// Deterministic texts: a fixed generator, so a failure names a reproducible case.
    static func texts(count: Int, seed: UInt64) -> [String] {
        var state = seed
        func next() -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int(state >> 33)
        }
        return (0..<count).map { _ in
            (0..<(1 + next() % 24)).map { _ in alphabet[next() % alphabet.count] }.joined()
        }
    }

    static let cases: [(pattern: String, folding: Bool)] = BPEPreTokenizer.llama3Patterns.keys.sorted().map {
        ($0, $0.hasPrefix("(?i:"))
    }

    @Test(arguments: 0..<cases.count)
    func llama3ScannerMatchesTheRegex(_ index: Int) throws {
        let (pattern, folding) = Self.cases[index]
        let scanner = try BPEPreTokenizer.scanning([pattern], unicodeFolding: folding)
        guard case .llama3 = scanner else {
            Issue.record("no scanner for \(pattern)")
            return
        }
        let regex = BPEPreTokenizer.regexes([try SplitRegex(pattern)])
        var mismatches: [String] = []
        for text in Self.texts(count: 4000, seed: UInt64(index + 1)) + ["'S's 'ſx 'LL'Ll", "a  \n\n  b\r\n c", "x 12345 ٣٣٣٣"] {
            let fast = scanner.split(text).map(String.init), slow = regex.split(text).map(String.init)
            if fast != slow { mismatches.append("\(text.debugDescription): \(fast) vs \(slow)") }
        }
        #expect(mismatches.isEmpty, "\(pattern): \(mismatches.count) texts differ, e.g.\n\(mismatches.prefix(5).joined(separator: "\n"))")
    }

    @Test func gpt2ScannersMatchTheirRegexes() throws {
        for patterns in [[BPETokenizer.gpt2Pattern], ["\\p{N}", BPETokenizer.gpt2Pattern]] {
            let scanner = try BPEPreTokenizer.scanning(patterns, unicodeFolding: true)
            let regex = BPEPreTokenizer.regexes(try patterns.map(SplitRegex.init))
            for text in Self.texts(count: 3000, seed: 99) {
                #expect(scanner.split(text).map(String.init) == regex.split(text).map(String.init), "\(text.debugDescription)")
            }
        }
    }
}

/// Every pre-tokenizer name llama.cpp knows either builds, or is refused naming what is missing: a
/// custom Unicode property, a lookahead over a repeated group, or whitespace escaped to "▁".
@Suite struct LlamaCppPreTokenizerTableTests {
    @Test func everyNameBuildsOrSaysWhy() {
        var refused: Set<String> = []
        for name in BPEPreTokenizer.llamaCppPatterns.keys.sorted() {
            do {
                if try BPEPreTokenizer.llamaCpp(name) == nil { refused.insert(name) }
            } catch {
                #expect("\(error)".contains("which Scalpel does not implement"), "\(name): \(error)")
                refused.insert(name)
            }
        }
        #expect(BPEPreTokenizer.llamaCppPatterns.count >= 90)
        #expect(refused == ["afmoe", "cohere2moe", "exaone-moe", "gemma4", "granite-embed-multi-311m", "kimi-k2",
                            "sarvam-moe", "superbpe", "tiny_aya"])
    }
}

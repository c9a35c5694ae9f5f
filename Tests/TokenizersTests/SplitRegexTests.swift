import Testing
import Tokenizers

/// The pre-tokenizer regex engine: leftmost-first alternation, greedy and lazy quantifiers with
/// backtracking, lookahead at a piece's end, Unicode categories, and refusal of what it lacks.
@Suite struct SplitRegexTests {
    func pieces(_ pattern: String, _ text: String) throws -> [String] {
        let regex = try SplitRegex(pattern)
        let scalars = Array(text.unicodeScalars)
        var ranges: [Range<Int>] = []
        regex.split(scalars, 0..<scalars.count, into: &ranges)
        return ranges.map { String(String.UnicodeScalarView(scalars[$0])) }
    }

    @Test func gpt2sWhitespaceLeavesOneSpaceForTheNextWord() throws {
        let gpt2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
        #expect(try pieces(gpt2, "it's  a 12\n\n  x  ") == ["it", "'s", " ", " a", " 12", "\n\n ", " x", "  "])
    }

    @Test func alternativesAndQuantifiers() throws {
        #expect(try pieces("\\p{N}{1,3}", "12345") == ["123", "45"])
        #expect(try pieces("a+?b|a", "aaab") == ["aaab"])              // lazy, then backtracking to b
        #expect(try pieces("(?i:'s|'ll)", "he'S and it'Ll") == ["he", "'S", " and it", "'Ll"])
        #expect(try pieces("[^\\r\\n\\p{L}\\p{N}]?\\p{L}+", "¿Qué?") == ["¿Qué", "?"])
        #expect(try pieces("\\s+$", "a  b  ") == ["a  b", "  "])
        #expect(try pieces("x(?=y)", "xyxz") == ["x", "yxz"])
        #expect(try pieces("[\\p{P}\\$\\+<=>\\^~\\|`]+", "a+=b!") == ["a", "+=", "b", "!"])
    }

    @Test(arguments: ["(?<=a)b", "a\\x41", "[[:alpha:]]", "\\p{Greek}", "a++", "(a", "[z-a]", "(a+)+b", "(?:x|y*){2,}"])
    func unsupportedConstructsAreNamed(_ pattern: String) {
        #expect(throws: SplitRegex.Unsupported.self) { try SplitRegex(pattern) }
    }
}

extension SplitRegexTests {
    /// Runs of a single class are matched by counting, not by recursion: a 200,000-letter run is one piece.
    @Test func longRunsDoNotExhaustTheStack() throws {
        let text = String(repeating: "a", count: 200_000) + " " + String(repeating: "1", count: 7)
        #expect(try pieces("\\p{L}+| ?\\p{N}{1,3}", text).map(\.count) == [200_000, 4, 3, 1])
    }
}

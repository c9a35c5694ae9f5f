/// Splits text as Llama 3's pre-tokenizer regex does (Qwen2's when `maxDigits` is 1):
///
///     (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*
///     |\s*[\r\n]+|\s+(?!\S)|\s+
///
/// written out as a scanner over Unicode scalars, with the classes `SplitRegex` uses (`\s` is
/// White_Space, `\p{L}` and `\p{N}` the L* and N* categories), so it gives exactly the regex's pieces
/// (the tests run both on the same texts). At each position the first alternative that matches wins:
/// - a contraction, in either case;
/// - a run of letters, after at most one character that is not a newline, letter or digit;
/// - up to `maxDigits` digits;
/// - a run of other characters (not space, letter or digit), after at most one U+0020, then newlines;
/// - whitespace up to its last newline; or the run minus the space before a non-space; or one space.
///
/// Case-insensitive means ASCII case for llama.cpp, whose GGUF patterns spell `'[sS]`; a tokenizer.json's
/// `(?i:…)` is Rust's regex, whose simple case folding also matches U+017F (ſ) for s (`unicodeFolding`).
public struct Llama3PreTokenizer: Sendable {
    public var maxDigits: Int
    public var unicodeFolding: Bool

    public init(maxDigits: Int, unicodeFolding: Bool) {
        self.maxDigits = maxDigits
        self.unicodeFolding = unicodeFolding
    }

    /// The contraction letter `c`, in either case: ASCII, plus ſ for s under Unicode folding.
    @inline(__always)
    private func lower(_ c: Unicode.Scalar) -> Unicode.Scalar? {
        if c.isASCII { return Unicode.Scalar(UInt8(c.value) | (c.properties.isAlphabetic ? 0x20 : 0)) }
        return unicodeFolding && c == "\u{17F}" ? "s" : nil
    }

    typealias Kind = GPT2PreTokenizer.Kind

    public func split(_ text: String) -> [Substring] {
        let scalars = Array(text.unicodeScalars)
        let kinds = scalars.map(GPT2PreTokenizer.kind)
        let indices = GPT2PreTokenizer.scalarBoundaries(text, count: scalars.count)
        var pieces: [Substring] = []
        var i = 0
        while i < scalars.count {
            let length = match(scalars, kinds, i)
            pieces.append(text[indices[i]..<indices[i + length]])
            i += length
        }
        return pieces
    }

    @inline(__always)
    private static func isNewline(_ s: Unicode.Scalar) -> Bool { s == "\n" || s == "\r" }

    /// Length of the piece starting at `i` (always ≥ 1).
    private func match(_ s: [Unicode.Scalar], _ kinds: [Kind], _ i: Int) -> Int {
        let end = s.count
        func run(_ kind: Kind, from start: Int, limit: Int = .max) -> Int {
            var j = start
            while j < end && kinds[j] == kind && j - start < limit { j += 1 }
            return j
        }
        // (?i:'s|'t|'re|'ve|'m|'ll|'d)
        if s[i] == "'" && i + 1 < end {
            let c1 = lower(s[i + 1])
            if c1 == "s" || c1 == "t" || c1 == "m" || c1 == "d" { return 2 }
            if i + 2 < end {
                let c2 = lower(s[i + 2])
                if (c1 == "r" && c2 == "e") || (c1 == "v" && c2 == "e") || (c1 == "l" && c2 == "l") { return 3 }
            }
        }
        let kind = kinds[i]
        // [^\r\n\p{L}\p{N}]?\p{L}+
        if kind == .letter { return run(.letter, from: i) - i }
        if kind != .number && !Self.isNewline(s[i]) && i + 1 < end && kinds[i + 1] == .letter {
            return run(.letter, from: i + 1) - i
        }
        // \p{N}{1,maxDigits}
        if kind == .number { return run(.number, from: i, limit: maxDigits) - i }
        // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
        let otherStart = s[i] == " " && i + 1 < end && kinds[i + 1] == .other ? i + 1 : i
        if kinds[otherStart] == .other {
            var j = run(.other, from: otherStart)
            while j < end && Self.isNewline(s[j]) { j += 1 }
            return j - i
        }
        // Whitespace: \s*[\r\n]+ ends at the run's last newline; then \s+(?!\S); then \s+.
        let spaceEnd = run(.space, from: i)
        if let lastNewline = (i..<spaceEnd).last(where: { Self.isNewline(s[$0]) }) { return lastNewline + 1 - i }
        if spaceEnd == end { return spaceEnd - i }
        if spaceEnd - i >= 2 { return spaceEnd - i - 1 }
        return 1
    }
}

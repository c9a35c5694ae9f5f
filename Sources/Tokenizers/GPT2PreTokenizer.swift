/// Splits text into the pieces BPE works on, exactly as the GPT-2 regex does:
///
///     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
///
/// written out as a scanner over Unicode scalars (faster than a regex engine, and each alternative is
/// visible). At each position the first alternative that matches wins, as in the regex:
/// - an ASCII contraction, lower-case only;
/// - an optional single U+0020 space, then a run of letters (L*), numbers (N*), or other non-space;
/// - whitespace (White_Space): the run minus its last character if a non-space follows (that space then
///   prefixes the next word), the whole run at the end of the text, or a single whitespace character
///   otherwise.
///
/// The `smollm` variant (llama.cpp's LLAMA_VOCAB_PRE_TYPE_SMOLLM, HF's Sequence[Digits(individual_digits),
/// ByteLevel]) first isolates every digit, so no number piece is longer than one digit and no space
/// attaches to a digit.
public struct GPT2PreTokenizer: Sendable {
    public var isolateDigits: Bool

    public init(isolateDigits: Bool) { self.isolateDigits = isolateDigits }

    enum Kind { case letter, number, space, other }

    @inline(__always)
    static func kind(_ s: Unicode.Scalar) -> Kind {
        if s.value < 0x80 {
            switch s.value {
            case 0x41...0x5A, 0x61...0x7A: return .letter
            case 0x30...0x39: return .number
            case 0x09...0x0D, 0x20: return .space
            default: return .other
            }
        }
        let properties = s.properties
        if properties.isWhitespace { return .space }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return .other
        }
    }

    /// The string index of each of `text`'s `count` scalars, and its end: scalar ranges become substrings.
    static func scalarBoundaries(_ text: String, count: Int) -> [String.UnicodeScalarView.Index] {
        var indices: [String.UnicodeScalarView.Index] = []
        indices.reserveCapacity(count + 1)
        var index = text.unicodeScalars.startIndex
        for _ in 0..<count { indices.append(index); text.unicodeScalars.formIndex(after: &index) }
        indices.append(text.unicodeScalars.endIndex)
        return indices
    }

    /// The pieces of `text`, as ranges of its unicode scalars.
    public func split(_ text: String) -> [Substring] {
        let scalars = Array(text.unicodeScalars)
        let kinds = scalars.map(Self.kind)
        let indices = Self.scalarBoundaries(text, count: scalars.count)

        var pieces: [Substring] = []
        if isolateDigits {
            // Digits pre-tokenizer: each numeric character (Rust's char::is_numeric, the N* categories)
            // alone, and the text between them as its own segment.
            var start = 0
            for i in 0..<scalars.count where kinds[i] == .number {
                if start < i { splitSegment(scalars, kinds, start, i, indices, text, &pieces) }
                pieces.append(text[indices[i]..<indices[i + 1]])
                start = i + 1
            }
            if start < scalars.count { splitSegment(scalars, kinds, start, scalars.count, indices, text, &pieces) }
        } else {
            splitSegment(scalars, kinds, 0, scalars.count, indices, text, &pieces)
        }
        return pieces
    }

    private func splitSegment(_ s: [Unicode.Scalar], _ kinds: [Kind], _ start: Int, _ end: Int,
                              _ indices: [String.UnicodeScalarView.Index], _ text: String,
                              _ pieces: inout [Substring]) {
        var i = start
        while i < end {
            let length = match(s, kinds, i, end)
            pieces.append(text[indices[i]..<indices[i + length]])
            i += length
        }
    }

    /// Length of the piece starting at `i` (always ≥ 1).
    private func match(_ s: [Unicode.Scalar], _ kinds: [Kind], _ i: Int, _ end: Int) -> Int {
        // 's 't 're 've 'm 'll 'd
        if s[i] == "'" && i + 1 < end {
            let c1 = s[i + 1]
            if c1 == "s" || c1 == "t" || c1 == "m" || c1 == "d" { return 2 }
            if i + 2 < end {
                let c2 = s[i + 2]
                if (c1 == "r" && c2 == "e") || (c1 == "v" && c2 == "e") || (c1 == "l" && c2 == "l") { return 3 }
            }
        }
        // ` ?X+` for X in letters, numbers, other
        let hasSpace = s[i] == " " && i + 1 < end && kinds[i + 1] != .space
        let first = hasSpace ? i + 1 : i
        let kind = kinds[first]
        if kind != .space {
            var j = first + 1
            while j < end && kinds[j] == kind { j += 1 }
            return j - i
        }
        // whitespace
        var j = i
        while j < end && kinds[j] == .space { j += 1 }
        if j == end { return j - i }            // \s+(?!\S) at the end
        if j - i >= 2 { return j - i - 1 }      // leave one space for the next word
        return 1                                // \s+ of a single character before a non-space
    }
}

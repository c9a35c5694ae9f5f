/// Finds special-token strings (e.g. "<|im_start|>", "[CLS]") in text, longest match first, so that they
/// become their own ids before any normalisation or pre-tokenisation, as Hugging Face's added-token
/// handling and llama.cpp's `tokenizer_st_partition` do.
public struct SpecialTokenSplitter: Sendable {
    public enum Segment: Equatable { case text(Substring), special(Int32) }

    /// The whitespace a token takes with it, on its left and on its right (HF added tokens' `lstrip`,
    /// `rstrip`): that whitespace is not text then.
    public struct Strip: OptionSet, Sendable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let left = Strip(rawValue: 1), right = Strip(rawValue: 2)
    }

    private let tokens: [(text: String, id: Int32)]   // longest first
    private let firstScalars: Set<UInt32>
    let strips: [Int32: Strip]

    public init(_ specials: [String: Int32], strips: [Int32: Strip] = [:]) {
        tokens = specials.filter { !$0.key.isEmpty }.map { ($0.key, $0.value) }
            .sorted { ($0.text.unicodeScalars.count, $1.id) > ($1.text.unicodeScalars.count, $0.id) }
        firstScalars = Set(tokens.compactMap { $0.text.unicodeScalars.first?.value })
        self.strips = strips
    }

    public func split(_ text: String) -> [Segment] {
        if tokens.isEmpty || text.isEmpty { return text.isEmpty ? [] : [.text(text[...])] }
        var segments: [Segment] = []
        let scalars = text.unicodeScalars
        var segmentStart = scalars.startIndex
        var i = scalars.startIndex
        outer: while i < scalars.endIndex {
            if firstScalars.contains(scalars[i].value) {
                let rest = text.unicodeScalars[i...]
                for token in tokens where rest.starts(with: token.text.unicodeScalars) {
                    if segmentStart < i { segments.append(.text(text[segmentStart..<i])) }
                    segments.append(.special(token.id))
                    i = scalars.index(i, offsetBy: token.text.unicodeScalars.count)
                    segmentStart = i
                    continue outer
                }
            }
            scalars.formIndex(after: &i)
        }
        if segmentStart < scalars.endIndex { segments.append(.text(text[segmentStart...])) }
        return segments
    }
}

/// Text to encode, and whether special-token text in it becomes special tokens: yes for text Scalpel
/// wrote (a recipe's template, a rendered chat template), no for data (a review, a user's message), so
/// that data cannot forge a turn. User-defined tokens are matched everywhere, as llama.cpp does.
public struct TextPart: Sendable, Equatable {
    public var text: String
    public var parsesSpecial: Bool

    public init(_ text: String, parsesSpecial: Bool) {
        self.text = text
        self.parsesSpecial = parsesSpecial
    }

    /// A template with its placeholder filled: the template's own text parsed, the filling not.
    public static func filling(_ template: String, with text: String, placeholder: String = "{text}") -> [TextPart] {
        let pieces = template.components(separatedBy: placeholder)
        var parts: [TextPart] = []
        for (i, piece) in pieces.enumerated() {
            if i > 0 { parts.append(TextPart(text, parsesSpecial: false)) }
            if !piece.isEmpty { parts.append(TextPart(piece, parsesSpecial: true)) }
        }
        return parts
    }
}

extension SpecialTokenSplitter {
    /// The segments of `parts`: special tokens found with `parsing` where a part parses them, with
    /// `always` (user-defined tokens) elsewhere; ordinary text is joined across parts, so that a filled
    /// template tokenizes as one text wherever no special token separates it. A token's `Strip` removes
    /// the whitespace (Unicode White_Space, as HF's `char::is_whitespace`) beside it, across parts too.
    public static func segments(_ parts: [TextPart], parsing: SpecialTokenSplitter,
                                always: SpecialTokenSplitter?) -> [Segment] {
        var segments: [Segment] = []
        var pending = ""
        var stripNext = false
        func flush() {
            if !pending.isEmpty { segments.append(.text(pending[...])) }
            pending = ""
        }
        for part in parts {
            let split = part.parsesSpecial ? parsing.split(part.text)
                : (always?.split(part.text) ?? (part.text.isEmpty ? [] : [.text(part.text[...])]))
            for segment in split {
                switch segment {
                case .text(var text):
                    if stripNext {
                        text = Substring(text.unicodeScalars.drop { $0.properties.isWhitespace })
                        if text.isEmpty { continue }
                        stripNext = false
                    }
                    pending += text
                case .special(let id):
                    let strip = parsing.strips[id] ?? always?.strips[id] ?? []
                    if strip.contains(.left) {
                        while let last = pending.unicodeScalars.last, last.properties.isWhitespace {
                            pending.unicodeScalars.removeLast()
                        }
                    }
                    flush()
                    segments.append(segment)
                    stripNext = strip.contains(.right)
                }
            }
        }
        flush()
        return segments
    }
}

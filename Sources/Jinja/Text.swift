/// A string that remembers which of its scalars came from the caller's data.
///
/// A chat template mixes its own text (turn markers such as `<|im_start|>`, which must become
/// special tokens) with the messages it is given (which must not: a review that contains
/// `<|im_end|>` cannot be allowed to close a turn). Every string value carries the ranges of
/// scalars that came from data; concatenation and substring operations keep them exact, and any
/// other transformation of data gives data (the safe side: data is never parsed for special tokens).
public struct Text: Sendable, CustomStringConvertible {
    public private(set) var string: String
    /// Half-open ranges of unicode-scalar offsets that came from data, sorted and disjoint.
    public private(set) var dataRanges: [Range<Int>]
    /// Number of unicode scalars (Python's `len` of a str).
    public private(set) var count: Int

    public init(_ string: String, isData: Bool = false) {
        self.string = string
        self.count = string.unicodeScalars.count
        self.dataRanges = isData && count > 0 ? [0..<count] : []
    }

    public var description: String { string }
    public var isEmpty: Bool { count == 0 }
    public var containsData: Bool { !dataRanges.isEmpty }

    /// The text as runs of template text and data, in order.
    public var runs: [(text: String, isData: Bool)] {
        guard containsData else { return count == 0 ? [] : [(string, false)] }
        var runs: [(String, Bool)] = []
        var cursor = 0
        for range in dataRanges {
            if range.lowerBound > cursor { runs.append((slice(cursor..<range.lowerBound).string, false)) }
            runs.append((slice(range).string, true))
            cursor = range.upperBound
        }
        if cursor < count { runs.append((slice(cursor..<count).string, false)) }
        return runs
    }

    public static func + (lhs: Text, rhs: Text) -> Text {
        var result = lhs
        result.append(rhs)
        return result
    }

    public mutating func append(_ other: Text) {
        let shift = count
        string += other.string
        count += other.count
        for range in other.dataRanges {
            let shifted = (range.lowerBound + shift)..<(range.upperBound + shift)
            if let last = dataRanges.last, last.upperBound == shifted.lowerBound {
                dataRanges[dataRanges.count - 1] = last.lowerBound..<shifted.upperBound
            } else {
                dataRanges.append(shifted)
            }
        }
    }

    /// The scalars at offsets `range` (clamped to the text).
    public func slice(_ range: Range<Int>) -> Text { slices([range])[0] }

    /// The scalars at each of `ranges` (sorted by start, clamped to the text), walking the string once:
    /// splitting a long message into many pieces stays linear.
    func slices(_ ranges: [Range<Int>]) -> [Text] {
        let scalars = string.unicodeScalars
        var index = scalars.startIndex, offset = 0
        func advance(to target: Int) {
            if target > offset { index = scalars.index(index, offsetBy: target - offset); offset = target }
        }
        return ranges.map { range in
            let lower = max(0, min(range.lowerBound, count))
            let upper = max(lower, min(range.upperBound, count))
            if lower < offset { index = scalars.startIndex; offset = 0 }  // out of order: start over
            advance(to: lower)
            let start = index
            advance(to: upper)
            var piece = Text(String(scalars[start..<index]))
            piece.dataRanges = dataRanges.compactMap { data in
                let from = max(data.lowerBound, lower), to = min(data.upperBound, upper)
                return from < to ? (from - lower)..<(to - lower) : nil
            }
            return piece
        }
    }

    /// A new string computed from this one: data if any of this text was data.
    public func transformed(_ string: String) -> Text {
        Text(string, isData: containsData)
    }

    /// A string computed from several values: data if any of them was data.
    public static func derived(_ string: String, from sources: [Text]) -> Text {
        Text(string, isData: sources.contains { $0.containsData })
    }

    public static func joined(_ parts: [Text], separator: Text = Text("")) -> Text {
        var result = Text("")
        for (index, part) in parts.enumerated() {
            if index > 0 { result.append(separator) }
            result.append(part)
        }
        return result
    }
}

extension Text {
    /// Unicode scalars as an array, for index arithmetic in Python's terms.
    var scalars: [Unicode.Scalar] { Array(string.unicodeScalars) }

    /// Python's `str.strip`, `lstrip` and `rstrip`: whitespace, or the given characters.
    func stripped(leading: Bool, trailing: Bool, characters: String? = nil) -> Text {
        let scalars = self.scalars
        let set = characters.map { Set($0.unicodeScalars) }
        func strippable(_ s: Unicode.Scalar) -> Bool { set?.contains(s) ?? s.isPythonWhitespace }
        var lower = 0, upper = scalars.count
        if leading { while lower < upper && strippable(scalars[lower]) { lower += 1 } }
        if trailing { while upper > lower && strippable(scalars[upper - 1]) { upper -= 1 } }
        return slice(lower..<upper)
    }

    /// Offsets of the non-overlapping occurrences of `needle`, left to right.
    func occurrences(of needle: Text, limit: Int = .max) -> [Int] {
        let haystack = scalars, pattern = needle.scalars
        guard !pattern.isEmpty else { return [] }
        var found: [Int] = []
        var index = 0
        while index + pattern.count <= haystack.count && found.count < limit {
            if haystack[index] == pattern[0] && Array(haystack[index..<(index + pattern.count)]) == pattern {
                found.append(index)
                index += pattern.count
            } else {
                index += 1
            }
        }
        return found
    }

    /// Python's `str.split(sep, maxsplit)`; without a separator, splits on runs of whitespace.
    func split(separator: Text?, maxSplit: Int = -1) -> [Text] {
        let limit = maxSplit < 0 ? Int.max : maxSplit
        guard let separator else {
            var pieces: [Text] = []
            let scalars = self.scalars
            var index = 0
            while index < scalars.count {
                while index < scalars.count && scalars[index].isPythonWhitespace { index += 1 }
                guard index < scalars.count else { break }
                if pieces.count == limit {
                    pieces.append(slice(index..<count))  // the rest as it is, trailing spaces kept
                    break
                }
                let start = index
                while index < scalars.count && !scalars[index].isPythonWhitespace { index += 1 }
                pieces.append(slice(start..<index))
            }
            return pieces
        }
        return pieces(between: occurrences(of: separator, limit: limit), width: separator.count)
    }

    /// The text around separators of `width` scalars found at `offsets` (sorted).
    private func pieces(between offsets: [Int], width: Int) -> [Text] {
        var ranges: [Range<Int>] = []
        var start = 0
        for offset in offsets {
            ranges.append(start..<offset)
            start = offset + width
        }
        ranges.append(start..<count)
        return slices(ranges)
    }

    /// Python's `str.rsplit(sep, maxsplit)` with a separator.
    func rsplit(separator: Text, maxSplit: Int) -> [Text] {
        let all = occurrences(of: separator)
        return pieces(between: maxSplit < 0 ? all : Array(all.suffix(maxSplit)), width: separator.count)
    }

    /// Python's `str.replace(old, new, count)`: the untouched parts keep their origin.
    func replacing(_ old: Text, with new: Text, limit: Int = -1) -> Text {
        if old.isEmpty {
            // Python inserts `new` between every scalar (and at both ends).
            var pieces = slices((0..<count).map { $0..<($0 + 1) })
            pieces.insert(Text(""), at: 0)
            pieces.append(Text(""))
            return Text.joined(pieces, separator: new)
        }
        return Text.joined(split(separator: old, maxSplit: limit), separator: new)
    }

    func hasPrefix(_ prefix: Text) -> Bool { scalars.starts(with: prefix.scalars) }
    func hasSuffix(_ suffix: Text) -> Bool { scalars.reversed().starts(with: suffix.scalars.reversed()) }
}

extension Unicode.Scalar {
    /// Python's `str.isspace` for one scalar.
    var isPythonWhitespace: Bool {
        switch value {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            return true
        default:
            return false
        }
    }
}

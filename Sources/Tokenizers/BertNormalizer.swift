import Foundation

/// Hugging Face's BertNormalizer (tokenizers/src/normalizers/bert.rs), in its order:
/// 1. clean text: drop U+0000, U+FFFD and control characters (categories C*, except \t \n \r);
///    turn every whitespace character into a space;
/// 2. put spaces around CJK ideographs (the CJK Unified Ideograph blocks BERT lists);
/// 3. strip accents when asked (or, when unset, whenever lower-casing): NFD, then drop Mn marks;
/// 4. lower-case.
public struct BertNormalizer: Sendable {
    public var cleanText = true
    public var handleChineseCharacters = true
    public var stripAccents: Bool? = nil
    public var lowercase = true

    public init(cleanText: Bool = true, handleChineseCharacters: Bool = true, stripAccents: Bool? = nil,
                lowercase: Bool = true) {
        self.cleanText = cleanText
        self.handleChineseCharacters = handleChineseCharacters
        self.stripAccents = stripAccents
        self.lowercase = lowercase
    }

    public func normalize(_ text: String) -> String {
        var scalars = String.UnicodeScalarView()
        for s in text.unicodeScalars {
            if cleanText {
                if s.value == 0 || s.value == 0xFFFD || Self.isControl(s) { continue }
                if Self.isWhitespace(s) { scalars.append(" "); continue }
            }
            if handleChineseCharacters && Self.isChinese(s) {
                scalars.append(" ")
                scalars.append(s)
                scalars.append(" ")
            } else {
                scalars.append(s)
            }
        }
        var result = String(scalars)
        if stripAccents ?? lowercase {
            var stripped = String.UnicodeScalarView()
            for s in result.decomposedStringWithCanonicalMapping.unicodeScalars
                    where s.properties.generalCategory != .nonspacingMark {
                stripped.append(s)
            }
            result = String(stripped)
        }
        if lowercase {
            var lowered = String.UnicodeScalarView()
            for s in result.unicodeScalars { lowered.append(contentsOf: s.properties.lowercaseMapping.unicodeScalars) }
            result = String(lowered)
        }
        return result
    }

    /// Rust's `char::is_whitespace` plus \t \n \r.
    static func isWhitespace(_ s: Unicode.Scalar) -> Bool {
        s == "\t" || s == "\n" || s == "\r" || s.properties.isWhitespace
    }

    /// Categories Cc, Cf, Cs, Co, Cn, except \t \n \r (which count as whitespace).
    static func isControl(_ s: Unicode.Scalar) -> Bool {
        if s == "\t" || s == "\n" || s == "\r" { return false }
        switch s.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned: return true
        default: return false
        }
    }

    /// The CJK Unified Ideographs blocks of BERT's tokenization.py `_is_chinese_char`.
    static func isChinese(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F,
             0x2B740...0x2B81F, 0x2B820...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F: return true
        default: return false
        }
    }
}

/// BertPreTokenizer: split on whitespace (dropped) and around every punctuation character (kept alone).
/// Punctuation is ASCII 33–47, 58–64, 91–96, 123–126, or any Unicode P* category (bert.rs `is_bert_punc`).
public func bertPreTokenize(_ text: String) -> [String] {
    var words: [String] = []
    var current = String.UnicodeScalarView()
    func flush() {
        if !current.isEmpty { words.append(String(current)); current = String.UnicodeScalarView() }
    }
    for s in text.unicodeScalars {
        if BertNormalizer.isWhitespace(s) {
            flush()
        } else if isBertPunctuation(s) {
            flush()
            words.append(String(s))
        } else {
            current.append(s)
        }
    }
    flush()
    return words
}

func isBertPunctuation(_ s: Unicode.Scalar) -> Bool {
    switch s.value {
    case 33...47, 58...64, 91...96, 123...126: return true
    default: break
    }
    switch s.properties.generalCategory {
    case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
         .initialPunctuation, .finalPunctuation, .otherPunctuation: return true
    default: return false
    }
}

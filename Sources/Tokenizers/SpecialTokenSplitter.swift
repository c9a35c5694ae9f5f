/// Finds special-token strings (e.g. "<|im_start|>", "[CLS]") in text, longest match first, so that they
/// become their own ids before any normalisation or pre-tokenisation, as Hugging Face's added-token
/// handling and llama.cpp's `tokenizer_st_partition` do.
public struct SpecialTokenSplitter: Sendable {
    public enum Segment: Equatable { case text(Substring), special(Int32) }

    private let tokens: [(text: String, id: Int32)]   // longest first
    private let firstScalars: Set<UInt32>

    public init(_ specials: [String: Int32]) {
        tokens = specials.filter { !$0.key.isEmpty }.map { ($0.key, $0.value) }
            .sorted { ($0.text.unicodeScalars.count, $1.id) > ($1.text.unicodeScalars.count, $0.id) }
        firstScalars = Set(tokens.compactMap { $0.text.unicodeScalars.first?.value })
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

import Foundation

// ----------------------------------------------------------------------------------------------------
// BLEU of one candidate against one reference (Papineni et al. 2002), smoothed for single sentences by
// adding one to the 2- to 4-gram counts (Lin and Och 2004; "smoothing 2" in Chen and Cherry 2014):
//
//     m_n  = Σ_g min(count_candidate(g), count_reference(g))   over the candidate's distinct n-grams g
//     c_n  = the candidate's number of n-grams                 (c = c_1, its length; r the reference's)
//     p_1  = m_1 / c_1,        p_n = (m_n + 1) / (c_n + 1)     for n = 2 … N
//     BP   = 1 if c > r, else exp(1 − r / c)
//     BLEU = BP · exp((1/N) Σ_n log p_n)                       in [0, 1]; 0 if c = 0 or m_1 = 0
//
// Words are compared exactly (no case folding, no tokenization beyond the caller's).
// ----------------------------------------------------------------------------------------------------

public enum BLEU {
    /// Smoothed BLEU-N (N = `order`, 4 by default) of `candidate` against `reference`, as word lists.
    public static func sentence(_ candidate: [String], reference: [String], order: Int = 4) -> Double {
        precondition(order >= 1, "BLEU needs an order of at least 1")
        let c = candidate.count, r = reference.count
        guard c > 0 else { return 0 }
        var logPrecisions = 0.0
        for n in 1...order {
            let available = nGrams(reference, n)
            var matched = 0, total = 0
            for (gram, count) in nGrams(candidate, n) {
                matched += min(count, available[gram] ?? 0)
                total += count
            }
            if n == 1 && matched == 0 { return 0 }
            let precision = n == 1 ? Double(matched) / Double(total) : Double(matched + 1) / Double(total + 1)
            logPrecisions += log(precision)
        }
        let brevity = c > r ? 1.0 : exp(1 - Double(r) / Double(c))
        return brevity * exp(logPrecisions / Double(order))
    }

    /// The words of a text: split at whitespace.
    public static func words(_ text: String) -> [String] {
        text.split(whereSeparator: { $0.isWhitespace }).map(String.init)
    }

    static func nGrams(_ words: [String], _ n: Int) -> [[String]: Int] {
        var counts: [[String]: Int] = [:]
        guard words.count >= n else { return counts }
        for start in 0...(words.count - n) { counts[Array(words[start..<(start + n)]), default: 0] += 1 }
        return counts
    }
}

/// How a generated answer is graded against the expected one (answer tasks).
public enum AnswerMatch {
    /// Whether a generated answer is the expected one. A numeric answer follows BIG-bench's rule for its
    /// arithmetic tasks (`output_regex` `[-+]?\d+`, then an exact string match): the first number in the
    /// output must be the expected one. Any other answer must start the output (after spaces), and what
    /// follows it must not continue it with a letter or digit.
    public static func isCorrect(_ generated: String, expected: String) -> Bool {
        let target = expected.trimmingCharacters(in: .whitespaces)
        guard !target.isEmpty else { return false }
        if Double(target) != nil { return firstNumber(generated)?.text == target }
        let answer = generated.drop { $0 == " " }
        guard answer.hasPrefix(target) else { return false }
        guard let next = answer.dropFirst(target.count).first else { return true }
        return !(next.isLetter || next.isNumber)
    }

    /// The first integer in a generated answer, as BIG-bench's `[-+]?\d+` extracts it: its text
    /// (compared with the target as a string, as BIG-bench does) and value; nil if there is none.
    public static func firstNumber(_ generated: String) -> (text: String, value: Double)? {
        let characters = Array(generated)
        func isDigit(_ c: Character) -> Bool { c.isASCII && c.isNumber }
        guard let firstDigit = characters.firstIndex(where: isDigit) else { return nil }
        var start = firstDigit
        if start > 0, characters[start - 1] == "-" || characters[start - 1] == "+" { start -= 1 }
        var end = firstDigit
        while end < characters.count, isDigit(characters[end]) { end += 1 }
        let text = String(characters[start..<end])
        return (text, Double(text.hasPrefix("+") ? String(text.dropFirst()) : text)!)
    }
}

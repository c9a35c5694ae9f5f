/// RFC 4180 CSV: fields separated by commas, optionally quoted; inside quotes, "" is a quote and commas and
/// newlines are literal. A leading UTF-8 byte-order mark is dropped. Rows may end in \n or \r\n.
public enum CSVReader {
    public struct ParseError: Error, Equatable, CustomStringConvertible {
        public let line: Int
        public let detail: String
        public var description: String { "line \(line): \(detail)" }
    }

    /// All records, each a list of fields, with the line each record starts on (1-based).
    public static func parse(_ text: String) throws(ParseError) -> [(line: Int, fields: [String])] {
        var records: [(Int, [String])] = []
        var fields: [String] = []
        var field = String.UnicodeScalarView()
        var inQuotes = false, quotedField = false, afterQuote = false
        var line = 1, recordLine = 1
        var scalars = text.unicodeScalars[...]
        if scalars.first == "\u{FEFF}" { scalars = scalars.dropFirst() }
        var iterator = scalars.makeIterator()
        var pending: Unicode.Scalar? = nil
        func endField() {
            fields.append(String(field))
            field = String.UnicodeScalarView()
            quotedField = false
            afterQuote = false
        }
        while let c = pending ?? iterator.next() {
            pending = nil
            if inQuotes {
                if c == "\"" {
                    if let next = iterator.next() {
                        if next == "\"" {
                            field.append("\"")
                        } else {
                            inQuotes = false; afterQuote = true; pending = next
                        }
                    } else {
                        inQuotes = false
                        afterQuote = true
                    }
                } else {
                    if c == "\n" { line += 1 }
                    field.append(c)
                }
                continue
            }
            switch c {
            case ",":
                endField()
            case "\n", "\r":
                if c == "\r" {
                    if let next = iterator.next(), next != "\n" { pending = next }
                }
                endField()
                if !(fields.count == 1 && fields[0].isEmpty) { records.append((recordLine, fields)) }
                fields = []
                line += 1
                recordLine = line
            case "\"":
                guard field.isEmpty && !quotedField else {
                    throw ParseError(line: line, detail: "a quote inside an unquoted field")
                }
                inQuotes = true
                quotedField = true
            default:
                if afterQuote { throw ParseError(line: line, detail: "text after a closing quote") }
                field.append(c)
            }
        }
        if inQuotes { throw ParseError(line: recordLine, detail: "a quoted field is not closed") }
        if !field.isEmpty || !fields.isEmpty || quotedField {
            endField()
            records.append((recordLine, fields))
        }
        return records
    }
}

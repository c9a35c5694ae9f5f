/// GPT-2's reversible byte ↔ character mapping (openai/gpt-2 encoder.py, `bytes_to_unicode`).
///
/// Printable Latin-1 bytes ('!'…'~', '¡'…'¬', '®'…'ÿ') map to themselves; the other 68 bytes map, in
/// increasing order, to U+0100, U+0101, …, so that every byte is a visible character and BPE never
/// sees whitespace or control bytes. A space becomes 'Ġ' (U+0120), a newline 'Ċ' (U+010A).
public enum ByteLevel {
    /// byte → scalar
    public static let byteToScalar: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            let printable = (33...126).contains(byte) || (161...172).contains(byte) || (174...255).contains(byte)
            if printable {
                table[byte] = Unicode.Scalar(UInt32(byte))!
            } else {
                table[byte] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// scalar value → byte, for the 256 scalars above
    public static let scalarToByte: [UInt32: UInt8] = {
        var map: [UInt32: UInt8] = [:]
        for (byte, scalar) in byteToScalar.enumerated() { map[scalar.value] = UInt8(byte) }
        return map
    }()

    /// The mapped form of some UTF-8 bytes.
    public static func encode<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var out = String.UnicodeScalarView()
        for byte in bytes { out.append(byteToScalar[Int(byte)]) }
        return String(out)
    }

    /// The bytes behind a mapped string; scalars outside the table (never produced by `encode`) are
    /// passed through as their UTF-8.
    public static func decode(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        for scalar in text.unicodeScalars {
            if let byte = scalarToByte[scalar.value] {
                bytes.append(byte)
            } else {
                bytes.append(contentsOf: Array(String(scalar).utf8))
            }
        }
        return bytes
    }
}

/// ggml tensor element types, by the ids GGUF stores (ggml.h's `enum ggml_type`).
///
/// Each type packs `blockSize` elements into `blockBytes` bytes. Only types whose layout Scalpel knows
/// are listed; ids 4 and 5 were removed from ggml, and the i-quants (16–23, 29) and ternary types are
/// recognised by name in errors but not read.
public enum GGMLType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9
    case q2_K = 10, q3_K = 11, q4_K = 12, q5_K = 13, q6_K = 14, q8_K = 15
    case i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, bf16 = 30

    public var name: String {
        switch self {
        case .f32: "F32"; case .f16: "F16"; case .bf16: "BF16"; case .f64: "F64"
        case .q4_0: "Q4_0"; case .q4_1: "Q4_1"; case .q5_0: "Q5_0"
        case .q5_1: "Q5_1"; case .q8_0: "Q8_0"; case .q8_1: "Q8_1"
        case .q2_K: "Q2_K"; case .q3_K: "Q3_K"; case .q4_K: "Q4_K"
        case .q5_K: "Q5_K"; case .q6_K: "Q6_K"; case .q8_K: "Q8_K"
        case .i8: "I8"; case .i16: "I16"; case .i32: "I32"; case .i64: "I64"
        }
    }

    public var description: String { name }

    /// Elements per block.
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16, .f64, .i8, .i16, .i32, .i64: 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q8_1: 32
        case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q8_K: 256
        }
    }

    /// Bytes per block (ggml-common.h's block structs).
    public var blockBytes: Int {
        switch self {
        case .f32, .i32: 4
        case .f16, .bf16, .i16: 2
        case .f64, .i64: 8
        case .i8: 1
        case .q4_0: 18      // f16 d, 16 bytes of nibbles
        case .q4_1: 20      // f16 d, f16 m, 16 bytes of nibbles
        case .q5_0: 22      // f16 d, 4 bytes of high bits, 16 bytes of nibbles
        case .q5_1: 24      // f16 d, f16 m, 4 bytes of high bits, 16 bytes of nibbles
        case .q8_0: 34      // f16 d, 32 int8
        case .q8_1: 36      // f16 d, f16 s, 32 int8
        case .q2_K: 84      // 16 scales, 64 quants, f16 d, f16 dmin
        case .q3_K: 110     // 32 hmask, 64 quants, 12 scales, f16 d
        case .q4_K: 144     // f16 d, f16 dmin, 12 scales, 128 quants
        case .q5_K: 176     // f16 d, f16 dmin, 12 scales, 32 high bits, 128 quants
        case .q6_K: 210     // 128 low, 64 high, 16 int8 scales, f16 d
        case .q8_K: 292     // f32 d, 256 int8, 16 int16 sums
        }
    }

    /// Byte offsets in a block of its fp16 factors: the scale d, then the minimum (m or dmin) where the
    /// type has one; empty for the types without factors.
    public var factorOffsets: [Int] {
        switch self {
        case .q4_0, .q5_0, .q8_0: [0]
        case .q4_1, .q5_1, .q8_1, .q4_K, .q5_K: [0, 2]
        case .q2_K: [80, 82]
        case .q3_K: [108]
        case .q6_K: [208]
        default: []
        }
    }

    /// Bytes of `elements` values (a whole number of blocks), or nil if they do not fill whole blocks
    /// or the size overflows.
    public func byteCount(elements: Int) -> Int? {
        guard elements >= 0, elements % blockSize == 0 else { return nil }
        let (bytes, overflow) = (elements / blockSize).multipliedReportingOverflow(by: blockBytes)
        return overflow ? nil : bytes
    }

    /// Names of the ids ggml defines that Scalpel does not read, for error messages.
    static func knownName(of id: UInt32) -> String? {
        [16: "IQ2_XXS", 17: "IQ2_XS", 18: "IQ3_XXS", 19: "IQ1_S", 20: "IQ4_NL", 21: "IQ3_S", 22: "IQ2_S", 23: "IQ4_XS",
         29: "IQ1_M", 34: "TQ1_0", 35: "TQ2_0", 4: "Q4_2 (removed from ggml)", 5: "Q4_3 (removed from ggml)"][id]
    }
}

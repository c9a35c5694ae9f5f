/// Why a safetensors file was refused; the checks are those of the reference implementation
/// (huggingface/safetensors, `SafeTensors::read_metadata` and `Metadata::validate`).
public enum SafetensorsError: Error, Equatable, CustomStringConvertible {
    case headerTooSmall(fileSize: Int)
    case headerTooLarge(length: UInt64, limit: Int)
    case headerLengthPastEnd(length: UInt64, fileSize: Int)
    case headerNotUTF8
    case headerNotJSON(String)
    case headerNotAnObject
    case badEntry(tensor: String, detail: String)
    case unknownDtype(tensor: String, dtype: String)
    case nonContiguousOffsets(tensor: String, expectedStart: Int, start: Int)
    case sizeMismatch(tensor: String, span: Int, expected: Int)
    case sizeOverflow(tensor: String)
    case dataSizeMismatch(dataBytes: Int, described: Int)
    case badMetadata(String)
    case unknownTensor(String)
    case duplicateTensor(String)

    public var description: String {
        let corrupt = "The file is truncated or corrupt: download it again (Scripts/fetch) or re-export it."
        switch self {
        case .headerTooSmall(let size):
            return "not a safetensors file: \(size) bytes is too small to hold the 8-byte header length. \(corrupt)"
        case .headerTooLarge(let length, let limit):
            return "the header claims \(length) bytes, over the \(limit)-byte limit. \(corrupt)"
        case .headerLengthPastEnd(let length, let size):
            return "the header claims \(length) bytes but the file has only \(size). \(corrupt)"
        case .headerNotUTF8: return "the header is not valid UTF-8. \(corrupt)"
        case .headerNotJSON(let detail): return "the header is not valid JSON (\(detail)). \(corrupt)"
        case .headerNotAnObject: return "the header is not a JSON object. \(corrupt)"
        case .badEntry(let tensor, let detail): return "tensor '\(tensor)': \(detail). \(corrupt)"
        case .unknownDtype(let tensor, let dtype):
            return "tensor '\(tensor)' has dtype '\(dtype)'; Scalpel reads F32, F16, BF16, I32, I64 and U8. " +
                "Convert the checkpoint to one of them."
        case .nonContiguousOffsets(let tensor, let expected, let start):
            return "tensor '\(tensor)' starts at byte \(start) of the data, " +
                "but the previous tensor ends at \(expected): offsets must be contiguous from zero. \(corrupt)"
        case .sizeMismatch(let tensor, let span, let expected):
            return "tensor '\(tensor)' spans \(span) bytes, but its shape and dtype need \(expected). \(corrupt)"
        case .sizeOverflow(let tensor): return "tensor '\(tensor)' has a shape whose size overflows. \(corrupt)"
        case .dataSizeMismatch(let data, let described):
            return data < described
                ? "the data section has \(data) bytes but the header describes \(described): " +
                    "the file is truncated. \(corrupt)"
                : "the data section has \(data) bytes but the header describes only \(described): " +
                    "there are trailing bytes. \(corrupt)"
        case .badMetadata(let detail): return "__metadata__ must map strings to strings: \(detail). \(corrupt)"
        case .unknownTensor(let name): return "the checkpoint has no tensor named '\(name)'."
        case .duplicateTensor(let name):
            return "tensor '\(name)' appears twice; every tensor name must be unique. \(corrupt)"
        }
    }
}

/// Why a GGUF file was refused. Each case names the problem and says what to do.
public enum GGUFError: Error, Equatable, CustomStringConvertible {
    case badMagic(found: [UInt8])
    case unsupportedVersion(UInt32)
    case truncated(what: String, offset: Int, needed: Int, available: Int)
    case absurdCount(what: String, count: UInt64, limit: Int)
    case duplicateKey(String)
    case badValueType(key: String, type: UInt32)
    case nestingTooDeep(key: String)
    case badAlignment(String)
    case duplicateTensor(String)
    case tooManyDimensions(tensor: String, dimensions: UInt32)
    case badDimension(tensor: String, dimension: UInt64)
    case elementCountOverflow(tensor: String, dimensions: [UInt64])
    case unknownType(tensor: String, id: UInt32)
    case unsupportedType(tensor: String, id: UInt32, name: String)
    case notWholeBlocks(tensor: String, type: String, rowLength: Int, blockSize: Int)
    case misalignedOffset(tensor: String, offset: UInt64, alignment: Int)
    case dataOutOfBounds(tensor: String, start: UInt64, bytes: Int, dataSize: Int)
    case overlappingTensors(String, String)
    case unknownTensor(String)
    case writerOutOfOrder(call: String, state: String)
    case writerMismatch(String)
    case cannotDequantize(tensor: String, type: String)

    public var description: String {
        let corrupt = "The file is damaged or not a GGUF checkpoint: fetch it again (Scripts/fetch) or re-export it."
        switch self {
        case .badMagic(let found):
            let text = String(decoding: found, as: UTF8.self)
            return "not a GGUF file: it starts with " +
                "\(found.map { String(format: "%02x", $0) }.joined(separator: " ")) ('\(text)'), " +
                "not 'GGUF'. Pass a .gguf checkpoint, or a .safetensors file."
        case .unsupportedVersion(let version):
            return "GGUF version \(version) is not supported (Scalpel reads versions 2 and 3). " +
                "Re-convert the model with a current llama.cpp."
        case .truncated(let what, let offset, let needed, let available):
            return "the file ends early: reading \(what) at byte \(offset) needs \(needed) bytes " +
                "but only \(available) remain. \(corrupt)"
        case .absurdCount(let what, let count, let limit):
            return "the header claims \(count) \(what), more than the rest of the file could hold " +
                "(at most \(limit)): it is truncated or corrupt. \(corrupt)"
        case .duplicateKey(let key):
            return "metadata key '\(key)' appears twice. \(corrupt)"
        case .badValueType(let key, let type):
            return "metadata key '\(key)' has value type \(type), which GGUF does not define (0–12). \(corrupt)"
        case .nestingTooDeep(let key):
            return "metadata key '\(key)' nests arrays too deeply. \(corrupt)"
        case .badAlignment(let detail):
            return "general.alignment is invalid: \(detail); " +
                "it must be a positive power of two stored as uint32. \(corrupt)"
        case .duplicateTensor(let name):
            return "tensor '\(name)' appears twice. \(corrupt)"
        case .tooManyDimensions(let tensor, let dimensions):
            return "tensor '\(tensor)' has \(dimensions) dimensions; GGUF allows at most 4. \(corrupt)"
        case .badDimension(let tensor, let dimension):
            return "tensor '\(tensor)' has dimension \(dimension), which is negative or absurd. \(corrupt)"
        case .elementCountOverflow(let tensor, let dimensions):
            return "tensor '\(tensor)' has dimensions \(dimensions) whose element count overflows. \(corrupt)"
        case .unknownType(let tensor, let id):
            return "tensor '\(tensor)' has quantization type \(id), which ggml does not define. \(corrupt)"
        case .unsupportedType(let tensor, let id, let name):
            return "tensor '\(tensor)' uses quantization type \(name) (\(id)), which Scalpel cannot read. " +
                "Supported: \(GGMLType.allCases.map(\.name).joined(separator: ", ")). " +
                "Re-quantize the model to one of them."
        case .notWholeBlocks(let tensor, let type, let rowLength, let blockSize):
            return "tensor '\(tensor)' has rows of \(rowLength) elements, " +
                "not a multiple of \(type)'s block of \(blockSize). \(corrupt)"
        case .misalignedOffset(let tensor, let offset, let alignment):
            return "tensor '\(tensor)' starts at data offset \(offset), " +
                "not a multiple of the alignment \(alignment). \(corrupt)"
        case .dataOutOfBounds(let tensor, let start, let bytes, let dataSize):
            return "tensor '\(tensor)' needs \(bytes) bytes from offset \(start) " +
                "of a data section of only \(dataSize) bytes (truncated file?). \(corrupt)"
        case .overlappingTensors(let a, let b):
            return "tensors '\(a)' and '\(b)' overlap in the data section. \(corrupt)"
        case .unknownTensor(let name):
            return "the checkpoint has no tensor named '\(name)'."
        case .writerOutOfOrder(let call, let state):
            return "GGUF writer: \(call) is not allowed \(state) " +
                "(order: header, key/values, tensor infos, tensor data, finish)."
        case .writerMismatch(let detail):
            return "GGUF writer: \(detail)."
        case .cannotDequantize(let tensor, let type):
            return "cannot dequantize tensor '\(tensor)': type \(type) is not supported for dequantization."
        }
    }
}

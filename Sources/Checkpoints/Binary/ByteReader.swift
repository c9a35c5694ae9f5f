/// A bounds-checked little-endian cursor over a byte buffer. Every read says what it is reading, so a
/// truncated file is reported as "truncated while reading the key of metadata entry 3", never as a crash.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    private(set) var offset: Int

    init(_ bytes: UnsafeRawBufferPointer, offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    var remaining: Int { bytes.count - offset }

    mutating func integer<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws(GGUFError) -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else {
            throw .truncated(what: what(), offset: offset, needed: size, available: remaining)
        }
        let value = T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
        offset += size
        return value
    }

    mutating func float32(_ what: @autoclosure () -> String) throws(GGUFError) -> Float {
        Float(bitPattern: try integer(UInt32.self, what()))
    }

    mutating func float64(_ what: @autoclosure () -> String) throws(GGUFError) -> Double {
        Double(bitPattern: try integer(UInt64.self, what()))
    }

    mutating func slice(_ count: Int, _ what: @autoclosure () -> String) throws(GGUFError) -> UnsafeRawBufferPointer {
        guard count >= 0, remaining >= count else {
            throw .truncated(what: what(), offset: offset, needed: count, available: remaining)
        }
        let result = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)])
        offset += count
        return result
    }

    mutating func skip(to newOffset: Int, _ what: @autoclosure () -> String) throws(GGUFError) {
        guard newOffset >= offset, newOffset <= bytes.count else {
            throw .truncated(what: what(), offset: offset, needed: newOffset - offset, available: remaining)
        }
        offset = newOffset
    }
}

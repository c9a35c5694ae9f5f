import CHDF5
import Foundation
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// What Scalpel checks itself before a file reaches libhdf5.
///
/// libhdf5 parses hostile files in C, and some damaged files crash it rather than fail. Much of what goes
/// wrong in practice (a file cut short while being copied, a file of another format with an `.h5` name, a
/// corrupted first block) shows in the superblock, which is cheap to read: a few `pread`s, never the
/// whole file. This check refuses such files with an error that names the file and what to do, so they
/// never reach the library. Files that pass can still be damaged deeper inside; docs/fuzzing.md lists
/// what remains.
///
/// Checked (HDF5 file format specification, "Superblock"):
/// - the file is a regular file, and the signature `\x89HDF\r\n\x1a\n` is at byte 0, 512, 1024, 2048, …;
/// - the superblock version is 0 or 1 (what Scalpel writes) or 2 or 3 (what libhdf5 1.10+ writes when asked
///   for the latest format), and the checksum of a version 2/3 superblock is right;
/// - the sizes of addresses and lengths are 8 bytes (libhdf5's default; Scalpel writes nothing else);
/// - the fixed version fields and B-tree ranks of a version 0/1 superblock hold the only values defined;
/// - there is no driver information block (a family or multi-file layout, which would make libhdf5 open
///   further files);
/// - the end-of-file address recorded in the superblock is not beyond the file's real size (a truncated
///   file), and the root group, its B-tree and heap, and the superblock extension lie before it.
enum HDF5Precheck {
    static let signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]
    /// The "undefined address" of the format: all bits set.
    static let undefined = UInt64.max

    /// Throws `HDF5Error.notAnHDF5File`, `.truncated` or `.corrupt` naming `path`; returns when the
    /// superblock looks like one libhdf5 can read without surprises.
    static func check(path: String) throws(HDF5Error) {
        let descriptor = open(path, O_RDONLY | O_NONBLOCK)
        guard descriptor >= 0 else { throw .notAnHDF5File(file: path) }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            throw .notAnHDF5File(file: path)
        }
        let size = UInt64(info.st_size)
        func read(_ offset: UInt64, _ count: Int) -> [UInt8]? {
            guard offset <= size, UInt64(count) <= size - offset else { return nil }
            var bytes = [UInt8](repeating: 0, count: count)
            let got = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, count, off_t(offset)) }
            return got == count ? bytes : nil
        }
        // The signature is at 0 or at a power of two from 512 on (after a user block).
        var location: UInt64 = 0
        while read(location, signature.count) != signature {
            location = location == 0 ? 512 : location * 2
            guard location < size else { throw .notAnHDF5File(file: path) }
        }
        guard let prefix = read(location, 16) else {
            throw .truncated(file: path, recordedBytes: nil, actualBytes: Int(size))
        }
        let version = prefix[8]
        let superblockSize: Int
        switch version {
        case 0: superblockSize = 96
        case 1: superblockSize = 100
        case 2, 3: superblockSize = 48
        default:
            throw .corrupt(file: path, detail: "its superblock has version \(version); HDF5 defines versions 0 to 3")
        }
        guard let block = read(location, superblockSize) else {
            throw .truncated(file: path, recordedBytes: nil, actualBytes: Int(size))
        }
        let fields = try Superblock(bytes: block).fields(path: path)
        // The recorded end of file counts from byte 0 of the file the superblock was written in, where it
        // stood at the base address. Bytes put in front of it since (a user block) move both; libhdf5
        // accepts that and counts from where the superblock is now, and so does this check.
        guard fields.base != undefined, fields.endOfFile != undefined, fields.endOfFile >= fields.base,
              fields.endOfFile - fields.base >= UInt64(superblockSize) else {
            throw .corrupt(file: path, detail: "its superblock records an impossible base address or end of file")
        }
        let span = fields.endOfFile - fields.base          // bytes from the superblock to the end of the file
        guard span <= size - location else {
            let recorded = location.addingReportingOverflow(span)
            let bytes = recorded.overflow ? Int.max : Int(clamping: recorded.partialValue)
            throw .truncated(file: path, recordedBytes: bytes, actualBytes: Int(size))
        }
        // Every other address counts from the superblock, and must lie inside the recorded file.
        for (name, address, optional) in fields.addresses {
            if optional && address == undefined { continue }
            guard address < span else {
                throw .corrupt(file: path, detail: "its superblock places the \(name) at "
                               + "\(address == undefined ? "an undefined address" : "byte \(address)"), "
                               + "outside the file's \(span) bytes")
            }
        }
    }

    /// The superblock's fields, little-endian, with 8-byte addresses.
    struct Superblock {
        let bytes: [UInt8]

        func u16(_ at: Int) -> UInt16 { UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8 }
        func u32(_ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(bytes[at + $1]) << (8 * $1) } }
        func u64(_ at: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(bytes[at + $1]) << (8 * $1) } }

        struct Fields {
            var base: UInt64
            var endOfFile: UInt64
            /// (what, address relative to the base, whether "undefined" is allowed)
            var addresses: [(String, UInt64, Bool)]
        }

        func fields(path: String) throws(HDF5Error) -> Fields {
            let version = bytes[8]
            if version >= 2 {
                try sizes(bytes[9], bytes[10], path: path)
                let stored = u32(44), computed = HDF5Precheck.lookup3(bytes[0..<44])
                guard stored == computed else {
                    throw .corrupt(file: path, detail: "its superblock checksum is wrong (the first block is damaged)")
                }
                guard bytes[11] & ~0x07 == 0 else {
                    throw .corrupt(file: path, detail: "its superblock has unknown status flags \(bytes[11])")
                }
                return Fields(base: u64(12), endOfFile: u64(28),
                              addresses: [("superblock extension", u64(20), true), ("root group", u64(36), false)])
            }
            guard bytes[9] == 0, bytes[10] == 0, bytes[12] == 0 else {
                throw .corrupt(file: path, detail: "its version \(version) superblock has unknown format versions "
                               + "(\(bytes[9]), \(bytes[10]), \(bytes[12]))")
            }
            try sizes(bytes[13], bytes[14], path: path)
            guard u16(16) > 0, u16(18) > 0, u32(20) <= 0x07 else {
                throw .corrupt(file: path, detail: "its superblock has invalid B-tree ranks or status flags")
            }
            if version == 1 && u16(24) == 0 {
                throw .corrupt(file: path, detail: "its superblock has an invalid chunk B-tree rank")
            }
            let a = version == 1 ? 28 : 24         // base, free space, end of file, driver block, root entry
            guard u64(a + 24) == HDF5Precheck.undefined else {
                throw .corrupt(file: path, detail: "it has a driver information block (a family or multi-file "
                               + "layout); Scalpel reads single-file archives only")
            }
            let entry = a + 32                      // link name, object header, cache type, reserved, scratch
            let cacheType = u32(entry + 16)
            guard cacheType <= 1 else {
                throw .corrupt(file: path, detail: "its root group entry has an invalid cache type \(cacheType)")
            }
            var addresses: [(String, UInt64, Bool)] = [("free-space index", u64(a + 8), true),
                                                       ("root group", u64(entry + 8), false)]
            if cacheType == 1 {
                addresses += [("root group's B-tree", u64(entry + 24), false),
                              ("root group's name heap", u64(entry + 32), false)]
            }
            return Fields(base: u64(a), endOfFile: u64(a + 16), addresses: addresses)
        }

        func sizes(_ offsets: UInt8, _ lengths: UInt8, path: String) throws(HDF5Error) {
            guard offsets == 8, lengths == 8 else {
                throw .corrupt(file: path, detail: "it uses \(offsets)-byte addresses and \(lengths)-byte lengths; "
                               + "Scalpel reads HDF5 files with 8-byte ones (libhdf5's default)")
            }
        }
    }

    /// Bob Jenkins' lookup3 `hashlittle` with initial value 0: the checksum of HDF5 metadata.
    static func lookup3(_ key: ArraySlice<UInt8>) -> UInt32 {
        func rot(_ x: UInt32, _ k: UInt32) -> UInt32 { (x << k) | (x >> (32 - k)) }
        var k = Array(key)
        var a = 0xDEAD_BEEF &+ UInt32(truncatingIfNeeded: k.count)
        var b = a, c = a
        guard !k.isEmpty else { return c }
        let tail = k.count - (k.count - 1) / 12 * 12     // 1…12 bytes go to the final block
        k += [UInt8](repeating: 0, count: 12 - tail)
        func word(_ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(k[at + $1]) << (8 * $1) } }
        var at = 0
        while k.count - at > 12 {
            a &+= word(at); b &+= word(at + 4); c &+= word(at + 8)
            a &-= c; a ^= rot(c, 4); c &+= b
            b &-= a; b ^= rot(a, 6); a &+= c
            c &-= b; c ^= rot(b, 8); b &+= a
            a &-= c; a ^= rot(c, 16); c &+= b
            b &-= a; b ^= rot(a, 19); a &+= c
            c &-= b; c ^= rot(b, 4); b &+= a
            at += 12
        }
        a &+= word(at); b &+= word(at + 4); c &+= word(at + 8)
        c ^= b; c &-= rot(b, 14)
        a ^= c; a &-= rot(c, 11)
        b ^= a; b &-= rot(a, 25)
        c ^= b; c &-= rot(b, 16)
        a ^= c; a &-= rot(c, 4)
        b ^= a; b &-= rot(a, 14)
        c ^= b; c &-= rot(b, 24)
        return c
    }
}

extension HDF5Library {
    /// The innermost message on the calling thread's HDF5 error stack (the library never prints it; see
    /// `chdf5_silence_errors`), e.g. "truncated file: eof = …" or "bad object header version number".
    /// Call under `locked`, straight after the failing call.
    static func lastError() -> String {
        final class Messages { var list: [String] = [] }
        let messages = Messages()
        let stack = H5Eget_current_stack()
        guard stack >= 0 else { return "no reason given" }
        defer { H5Eclose_stack(stack) }
        withExtendedLifetime(messages) {
            _ = H5Ewalk2(stack, H5E_WALK_DOWNWARD, { _, error, context in
                guard let error, let context, let text = error.pointee.desc else { return 0 }
                Unmanaged<Messages>.fromOpaque(context).takeUnretainedValue().list.append(String(cString: text))
                return 0
            }, Unmanaged.passUnretained(messages).toOpaque())
        }
        return messages.list.last ?? "no reason given"
    }
}

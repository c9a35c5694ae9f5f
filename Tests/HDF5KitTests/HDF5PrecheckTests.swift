import Testing
import Foundation
import HDF5Kit

/// `HDF5File.open` checks the superblock before libhdf5 sees a file: damaged files are refused with an error
/// that names the file and says truncated or corrupt.
@Suite struct HDF5PrecheckTests {
    /// A file libhdf5 1.10.8 wrote with `H5Pset_libver_bounds(LATEST, LATEST)`: superblock version 3, with a
    /// checksum; root attribute `schema` = "scalpel.evidence/1" and one group.
    static let version3 = Data(base64Encoded: """
        iUhERg0KGgoDCAgAAAAAAAAAAAD//////////40BAAAAAAAAMAAAAAAAAADCY24RT0hEUgIgvHQRa7x0EWu8dBFrvHQRa3gQEAAAVgEAAAAA\
        AAA3AAAAAAAAAAoCAAEAABUSAAQAAP////////////////////8MLwAAAwAHAAgABAAAc2NoZW1hABMAAAATAAAAAgAAAHNjYWxwZWwuZXZp\
        ZGVuY2UvMQAAEQAAAAAAAAAAAAAAAAAAAAAAAACbPjUcT0hEUgIgvHQRa7x0EWu8dBFrvHQRa3gCEgAAAAD/////////////////////CgIA\
        AQAAAFgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\
        AAAAAAAAAAAAAAAAAABBGblIT0NISwISAAAAAP////////////////////8GFQAAAQAKcHJvdmVuYW5jZcMAAAAAAAAAGpMM1w==
        """)!

    /// A small file as Scalpel writes it (superblock version 0), and its bytes.
    func written(_ directory: URL) throws -> (URL, [UInt8]) {
        let url = directory.appendingPathComponent("good.h5")
        try HDF5File.create(at: url) { root in
            try root.setAttribute("schema", .string("scalpel.evidence/1"))
            try root.write("x", [Float](repeating: 1, count: 1024), shape: [1024])
        }
        return (url, Array(try Data(contentsOf: url)))
    }

    func error(opening bytes: [UInt8], in directory: URL, as name: String) throws -> HDF5Error? {
        let url = directory.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        do { _ = try HDF5File.open(at: url); return nil } catch let error as HDF5Error { return error }
    }

    @Test func filesScalpelAndLibhdf5WriteAreAccepted() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (url, _) = try written(directory)
        let file = try HDF5File.open(at: url)
        #expect(try file.root.attribute("schema") == .string("scalpel.evidence/1"))
        // Version 3: the checksum Scalpel computes is libhdf5's.
        let latest = directory.appendingPathComponent("latest.h5")
        try Self.version3.write(to: latest)
        let latestFile = try HDF5File.open(at: latest)
        #expect(try latestFile.root.attribute("schema") == .string("scalpel.evidence/1"))
    }

    @Test func truncatedFilesAreNamedAsSuch() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (_, bytes) = try written(directory)
        let cut = try error(opening: Array(bytes.prefix(bytes.count - 1)), in: directory, as: "cut.h5")
        #expect(cut == .truncated(file: directory.appendingPathComponent("cut.h5").path, recordedBytes: bytes.count,
                                  actualBytes: bytes.count - 1))
        let head = try error(opening: Array(bytes.prefix(40)), in: directory, as: "head.h5")
        let headPath = directory.appendingPathComponent("head.h5").path
        #expect(head == .truncated(file: headPath, recordedBytes: nil, actualBytes: 40))
        let message = "\(cut!)"
        #expect(message.contains("cut.h5") && message.contains("truncated"))
        #expect(message.contains("\(bytes.count) bytes"))
    }

    @Test func damagedSuperblocksAreCorrupt() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (_, bytes) = try written(directory)
        func corrupt(_ change: (inout [UInt8]) -> Void, _ words: String) throws {
            var damaged = bytes
            change(&damaged)
            let found = try error(opening: damaged, in: directory, as: "bad.h5")
            guard case .corrupt(let file, let detail)? = found else {
                Issue.record("expected a corrupt-file error about \(words), got \(String(describing: found))")
                return
            }
            #expect(file.hasSuffix("bad.h5") && detail.contains(words), "\(detail)")
        }
        try corrupt({ $0[8] = 7 }, "version 7")
        try corrupt({ $0[13] = 4 }, "4-byte addresses")
        try corrupt({ $0[16] = 0; $0[17] = 0 }, "B-tree ranks")
        try corrupt({ for i in 48..<56 { $0[i] = 0 } }, "driver information block")
        try corrupt({ for i in 64..<72 { $0[i] = 0xEE } }, "root group")            // object header address
        try corrupt({ for i in 40..<48 { $0[i] = 0xFF } }, "end of file")           // undefined end of file
        var latest = Array(Self.version3)
        latest[36] ^= 0x01                                                         // root address, checksum kept
        let found = try error(opening: latest, in: directory, as: "bad.h5")
        guard case .corrupt(_, let detail)? = found else { Issue.record("\(String(describing: found))"); return }
        #expect(detail.contains("checksum"))
    }

    @Test func otherFilesAreNotHDF5() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        for (name, bytes) in [("empty.h5", [UInt8]()), ("text.h5", Array("name,label\n".utf8)),
                              ("signature-late.h5", [UInt8](repeating: 0, count: 300) + [0x89, 0x48, 0x44, 0x46])] {
            let path = directory.appendingPathComponent(name).path
            #expect(try error(opening: bytes, in: directory, as: name) == .notAnHDF5File(file: path))
        }
        #expect(throws: HDF5Error.notAnHDF5File(file: directory.path)) { try HDF5File.open(at: directory) }
    }

    @Test func aUserBlockInFrontIsAccepted() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (_, bytes) = try written(directory)
        let url = directory.appendingPathComponent("moved.h5")
        try Data([UInt8](repeating: 0, count: 512) + bytes).write(to: url)
        let file = try HDF5File.open(at: url)
        #expect(try file.root.attribute("schema") == .string("scalpel.evidence/1"))
    }

    /// A file libhdf5 wrote whose root has an external link "provenance" to /nonexistent/other.h5: the link
    /// is not followed (libhdf5 would open whatever file it names, past the pre-check).
    static let externalLink = Data(base64Encoded: """
        iUhERg0KGgoAAAAAAAgIAAQAEAAAAAAAAAAAAAAAAAD//////////8gDAAAAAAAA//////////8AAAAAAAAAAGAAAAAAAAAAAQAAAAAAAACI\
        AAAAAAAAAKgCAAAAAAAAAQAFAAEAAAAYAAAAAAAAABAAEAAAAAAAIAMAAAAAAACoAAAAAAAAAFRSRUUAAAAA/////////////////////wAA\
        AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\
        AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\
        AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\
        AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\
        AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\
        AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\
        AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAABIRUFQAAAAAFgAAAAAAAAACAAAAAAAAADIAgAAAAAAAAAAAAAAAAAAAQAAAAAAAABQ\
        AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAMADgAAAAAAAEA\
        BwAIAAgAc2NoZW1hAAATAAAAEgAAAAEAAAAAAAAAc2NhbHBlbC5ldmlkZW5jZS8xAAAAAAAAAgAYAAAAAAAAAP////////////////////8A\
        AAAAAAAKAAgAAQAAAAAAAAAAAAAABgAwAAAAAAABCEAKcHJvdmVuYW5jZRkAAC9ub25leGlzdGVudC9vdGhlci5oNQAvAAAAAAAAAAA=
        """)!

    @Test func externalLinksAreNotFollowed() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("linked.h5")
        try Self.externalLink.write(to: url)
        let file = try HDF5File.open(at: url)
        #expect(file.root.kind(of: "provenance") == .other)
        #expect(throws: HDF5Error.self) { try file.root.group("provenance") }
    }
}

import Testing
import Foundation
import AtomicFiles

@Suite struct AtomicFileTests {
    func scratch() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("scalpel-atomic-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test func writesContentAndLeavesNoTemporaryFile() throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("out.bin")
        try AtomicFile.write(Data([1, 2, 3]), to: url)
        try AtomicFile.write(Data([4, 5]), to: url)
        #expect(try Data(contentsOf: url) == Data([4, 5]))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["out.bin"])
    }

    @Test func aFailingWriterKeepsTheOldContent() throws {
        struct Failure: Error {}
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("out.bin")
        try AtomicFile.write(Data([9]), to: url)
        #expect(throws: Failure.self) {
            try AtomicFile.write(to: url) { temporary in
                try Data([1, 2, 3, 4]).write(to: temporary)
                throw Failure()
            }
        }
        #expect(try Data(contentsOf: url) == Data([9]))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["out.bin"])
    }

    @Test func aMissingDirectoryIsNamed() throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("nope/out.bin")
        #expect(throws: AtomicFileError.missingDirectory(path: directory.appendingPathComponent("nope").path)) {
            try AtomicFile.write(Data([1]), to: url)
        }
        #expect(AtomicFileError.missingDirectory(path: "/x").description.contains("/x"))
    }

    @Test func aWriterThatWritesNothingIsAnError() throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect(throws: AtomicFileError.nothingWritten(path: directory.appendingPathComponent("a").path)) {
            try AtomicFile.write(to: directory.appendingPathComponent("a")) { _ in }
        }
    }
}

import Testing
import Foundation
import HDF5Kit
import AtomicFiles

func scratchDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("scalpel-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

@Suite struct HDF5RoundTripTests {
    static let attributes: [(String, HDF5AttributeValue)] = [
        ("text", .string("Scalpel ✂ naïve")), ("empty", .string("")), ("count", .int(-42)), ("big", .int(Int64.max)),
        ("ratio", .float(0.25)), ("precise", .double(1.0 / 3.0)), ("ids", .ints([1, 2, 3])), ("one", .ints([7])),
        ("weights", .floats([1.5, -2, .infinity])), ("doubles", .doubles([.pi, -0.0])), ("names", .strings(["a", "", "ccc"])),
    ]

    @Test func everyDatasetAndAttributeTypeRoundTrips() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("archive.h5")
        let floats = (0..<24).map { Float($0) * 0.5 - 3 }
        try HDF5File.create(at: url) { root in
            let stats = try root.createGroup("stats")
            let nested = try stats.createGroup("layer_00")
            try nested.write("activations", floats, shape: [2, 3, 4], chunks: [1, 3, 4], compression: 4)
            try stats.write("doubles", [Double.pi, -1e300, 0], shape: [3])
            try stats.write("ids", [Int32.min, 0, Int32.max, 5], shape: [2, 2])
            try stats.write("steps", [Int64.max, -1], shape: [2])
            try stats.write("bytes", [UInt8](0...255), shape: [256], chunks: [64], compression: 9)
            try stats.write("scalar", [Float(2.5)], shape: [])
            try stats.write("empty", [Float](), shape: [0, 4])
            for (name, value) in Self.attributes {
                try root.setAttribute(name, value)
                try nested.dataset("activations").setAttribute(name, value)
            }
        }

        let file = try HDF5File.open(at: url)
        #expect(try file.root.children() == ["stats"])
        let stats = try file.root.group("stats")
        #expect(try stats.children() == ["bytes", "doubles", "empty", "ids", "layer_00", "scalar", "steps"])
        let activations = try stats.group("layer_00").dataset("activations")
        #expect(try activations.read(as: Float.self).shape == [2, 3, 4])
        #expect(try activations.read(as: Float.self).values == floats)
        #expect(try activations.chunkShape() == [1, 3, 4])
        #expect(try stats.read("doubles", as: Double.self).values.map(\.bitPattern) == [Double.pi, -1e300, 0].map(\.bitPattern))
        #expect(try stats.read("ids", as: Int32.self) == ([2, 2], [Int32.min, 0, Int32.max, 5]))
        #expect(try stats.read("steps", as: Int64.self).values == [Int64.max, -1])
        #expect(try stats.read("bytes", as: UInt8.self).values == [UInt8](0...255))
        #expect(try stats.read("scalar", as: Float.self) == ([], [2.5]))
        #expect(try stats.read("empty", as: Float.self) == ([0, 4], []))
        for (name, value) in Self.attributes {
            #expect(try file.root.attribute(name) == value, "root@\(name)")
            #expect(try activations.attribute(name) == value, "dataset@\(name)")
        }
        #expect(Set(try file.root.attributeNames()) == Set(Self.attributes.map(\.0)))
        file.close()
    }

    @Test func readingTheWrongTypeOrAMissingNameIsAnError() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("a.h5")
        try HDF5File.create(at: url) { root in try root.write("x", [Float(1), 2], shape: [2]) }
        let file = try HDF5File.open(at: url)
        #expect(throws: HDF5Error.typeMismatch(path: "/x", file: url.path, expected: "int32", found: "float32")) {
            try file.root.read("x", as: Int32.self)
        }
        #expect(throws: HDF5Error.typeMismatch(path: "/x", file: url.path, expected: "float64", found: "float32")) {
            try file.root.read("x", as: Double.self)
        }
        #expect(throws: HDF5Error.notFound(path: "/y", file: url.path)) { try file.root.read("y", as: Float.self) }
        #expect(throws: HDF5Error.notFound(path: "/@missing", file: url.path)) { try file.root.attribute("missing") }
        #expect(throws: HDF5Error.typeMismatch(path: "/x", file: url.path, expected: "a group", found: "dataset")) {
            try file.root.group("x")
        }
    }

    @Test func badShapesAreRejectedBeforeTouchingTheFile() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("a.h5")
        #expect(throws: HDF5Error.self) {
            try HDF5File.create(at: url) { root in try root.write("x", [Float(1), 2, 3], shape: [2, 2]) }
        }
        #expect(throws: HDF5Error.self) {
            try HDF5File.create(at: url) { root in try root.write("x", [Float(1), 2], shape: [2], compression: 4) }
        }
        // A failed create leaves nothing behind, not even a temporary file.
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)
    }

    @Test func writingIntoAMissingFolderFailsCleanly() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("no/such/folder/archive.h5")
        #expect(throws: AtomicFileError.missingDirectory(path: directory.appendingPathComponent("no/such/folder").path)) {
            try HDF5File.create(at: url) { root in try root.write("x", [Float(1)], shape: [1]) }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)
    }

    @Test func anInterruptedRewriteKeepsTheOldFile() throws {
        struct Interrupted: Error {}
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("a.h5")
        try HDF5File.create(at: url) { root in try root.write("x", [Float(1)], shape: [1]) }
        let before = try Data(contentsOf: url)
        #expect(throws: Interrupted.self) {
            try HDF5File.create(at: url) { root in
                try root.write("y", [Float(2)], shape: [1])
                throw Interrupted()
            }
        }
        #expect(try Data(contentsOf: url) == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["a.h5"])
    }

    @Test func truncatedAndForeignFilesAreRefused() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("a.h5")
        try HDF5File.create(at: url) { root in try root.write("x", [Float](repeating: 1, count: 4096), shape: [4096]) }
        let whole = try Data(contentsOf: url)
        let truncated = directory.appendingPathComponent("truncated.h5")
        try whole.prefix(whole.count / 3).write(to: truncated)
        let foreign = directory.appendingPathComponent("foreign.h5")
        try Data("name,label\nhello,1\n".utf8).write(to: foreign)
        // The truncated file is named as such by HDF5Precheck (HDF5PrecheckTests has the details).
        let cut = HDF5Error.truncated(file: truncated.path, recordedBytes: whole.count, actualBytes: whole.count / 3)
        #expect(throws: cut) {
            _ = try HDF5File.open(at: truncated)
        }
        for bad in [foreign, directory.appendingPathComponent("missing.h5")] {
            #expect(throws: HDF5Error.notAnHDF5File(file: bad.path)) { _ = try HDF5File.open(at: bad) }
        }
    }
}

@Suite struct HDF5MatrixTests {
    @Test func rowsGoInAndColumnBlocksComeOut() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("store.h5")
        let (rows, columns) = (23, 10)
        let all = (0..<(rows * columns)).map { Float($0) }
        try HDF5File.create(at: url) { root in
            let matrix = try root.createGrowingMatrix("x", of: Float.self, columns: columns, chunkRows: 4, chunkColumns: 3)
            var start = 0
            for size in [5, 1, 8, 9] {
                try matrix.appendRows(Array(all[(start * columns)..<((start + size) * columns)]), rows: size)
                start += size
            }
            #expect(throws: HDF5Error.self) { try matrix.appendRows([Float](repeating: 0, count: 7), rows: 1) }
        }
        let file = try HDF5File.open(at: url)
        let x = try file.root.dataset("x")
        #expect(try x.shape() == [rows, columns])
        #expect(try x.chunkShape() == [4, 3])
        let block: [Float] = try x.readBlock(rows: 0..<rows, columns: 4..<7)
        #expect(block == (0..<rows).flatMap { r in (4..<7).map { Float(r * columns + $0) } })
        #expect(try x.readBlock(rows: 22..<23, columns: 9..<10, as: Float.self) == [229])
        #expect(throws: HDF5Error.self) { try x.readBlock(rows: 0..<24, columns: 0..<1, as: Float.self) }
        #expect(throws: HDF5Error.self) { try x.readBlock(rows: 0..<1, columns: 0..<1, as: Double.self) }
    }

    /// The same content written a few seconds apart gives the same bytes: no object carries a time.
    @Test func theSameContentGivesTheSameBytes() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        func write(_ name: String) throws -> Data {
            let url = directory.appendingPathComponent(name)
            try HDF5File.create(at: url) { root in
                let group = try root.createGroup("rank")
                try group.write("scores", [Double](repeating: 0.5, count: 8), shape: [2, 4], chunks: [1, 4], compression: 4)
                try group.setAttribute("metric", .string("label"))
                let matrix = try root.createGrowingMatrix("x", of: Float.self, columns: 3, chunkRows: 2, chunkColumns: 3)
                try matrix.appendRows([1, 2, 3, 4, 5, 6], rows: 2)
            }
            return try Data(contentsOf: url)
        }
        let first = try write("a.h5")
        Thread.sleep(forTimeInterval: 1.1)  // HDF5 object times have a resolution of one second
        #expect(try write("b.h5") == first)
    }

    @Test func updateReplacesAGroupAtomically() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("archive.h5")
        try HDF5File.create(at: url) { root in
            try root.createGroup("prompt").write("a", [1.0], shape: [1])
            try root.createGroup("rank").write("b", [2.0], shape: [1])
        }
        try HDF5File.update(at: url) { root in
            try root.remove("rank")
            try root.createGroup("rank").write("b", [3.0], shape: [1])
        }
        struct Stop: Error {}
        #expect(throws: Stop.self) {
            try HDF5File.update(at: url) { root in
                try root.remove("prompt")
                throw Stop()
            }
        }
        let file = try HDF5File.open(at: url)
        #expect(try file.root.group("prompt").read("a", as: Double.self).values == [1])
        #expect(try file.root.group("rank").read("b", as: Double.self).values == [3])
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["archive.h5"])
        #expect(throws: HDF5Error.self) { try HDF5File.update(at: directory.appendingPathComponent("missing.h5")) { _ in } }
    }
}

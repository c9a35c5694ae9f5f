import AtomicFiles
import Foundation
import HDF5Kit

/// A digest of what an HDF5 file holds, not of how libhdf5 laid it out: sha256 over a walk of every
/// group (children sorted by name), each object's attributes (sorted) and each dataset's element type,
/// shape and values, little-endian. `/provenance` (times, machine, memory) is left out by default, so
/// two runs of the same inputs, or a sharded run and its merge, have the same digest.
///
///     digest = sha256( for each object in sorted walk: path · attributes · [type · shape · values] )
///
/// A file that cannot be read, or a dataset of a type Scalpel never writes, is an error, not a digest.
public enum ArchiveDigest {
    public static func digest(_ url: URL, excluding: Set<String> = ["/provenance"]) throws -> String {
        let file = try HDF5File.open(at: url)
        defer { file.close() }
        var hash = SHA256()
        try walk(file.root, path: "", excluding: excluding, into: &hash)
        return hash.finish()
    }

    static func walk(_ group: HDF5Group, path: String, excluding: Set<String>, into hash: inout SHA256) throws {
        hash.update(Array("group \(path.isEmpty ? "/" : path)\n".utf8))
        try attributes(of: group, into: &hash)
        for name in try group.children() {
            let child = path + "/" + name
            if excluding.contains(child) { continue }
            switch group.kind(of: name) {
            case .group?: try walk(try group.group(name), path: child, excluding: excluding, into: &hash)
            case .dataset?: try dataset(try group.dataset(name), path: child, into: &hash)
            default: hash.update(Array("link \(child)\n".utf8))
            }
        }
    }

    static func attributes(of holder: some HDF5AttributeHolder, into hash: inout SHA256) throws {
        for name in try holder.attributeNames().sorted() {
            hash.update(Array("@\(name)=\(describe(try holder.attribute(name)))\n".utf8))
        }
    }

    /// An attribute's value as text that round-trips: floats by their bit patterns.
    static func describe(_ value: HDF5AttributeValue) -> String {
        switch value {
        case .string(let s): return "s:\(s.utf8.count):\(s)"
        case .int(let i): return "i:\(i)"
        case .float(let f): return "f:\(f.bitPattern)"
        case .double(let d): return "d:\(d.bitPattern)"
        case .ints(let v): return "I:" + v.map(String.init).joined(separator: ",")
        case .floats(let v): return "F:" + v.map { String($0.bitPattern) }.joined(separator: ",")
        case .doubles(let v): return "D:" + v.map { String($0.bitPattern) }.joined(separator: ",")
        case .strings(let v): return "S:" + v.map { "\($0.utf8.count):\($0)" }.joined(separator: ",")
        }
    }

    static func dataset(_ dataset: HDF5Dataset, path: String, into hash: inout SHA256) throws {
        let type = try dataset.elementType()
        hash.update(Array("dataset \(path) \(type) \(try dataset.shape())\n".utf8))
        try attributes(of: dataset, into: &hash)
        // A matrix is read a block of rows at a time (a store's activations do not fit in memory whole).
        let shape = try dataset.shape()
        func values<T: HDF5Scalar>(_: T.Type) throws {
            guard shape.count == 2, shape[0] > 0, shape[1] > 0 else {
                try dataset.read(as: T.self).values.withUnsafeBytes { hash.update($0) }
                return
            }
            let step = max(1, (1 << 24) / shape[1])
            for start in stride(from: 0, to: shape[0], by: step) {
                let rows = start..<min(shape[0], start + step)
                try dataset.readBlock(rows: rows, columns: 0..<shape[1], as: T.self).withUnsafeBytes { hash.update($0) }
            }
        }
        switch type {
        case "float32": try values(Float.self)
        case "float64": try values(Double.self)
        case "int32": try values(Int32.self)
        case "int64": try values(Int64.self)
        case "uint8": try values(UInt8.self)
        default:
            throw CollectError.corruptStore(path: path, detail: "its type, \(type), is not one Scalpel writes, " +
                                            "so it has no digest")
        }
    }
}

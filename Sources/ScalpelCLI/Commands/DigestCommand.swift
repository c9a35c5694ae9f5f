import ArgumentParser
import Foundation
import Scalpel

/// `scalpel digest FILE…`: what an archive or store holds, as one sha256, with /provenance aside.
struct DigestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "digest",
        abstract: "Print a sha256 of what an evidence archive or activation store holds, /provenance aside.",
        discussion: """
        The digest covers every group, attribute and dataset value, not libhdf5's layout, and leaves out \
        /provenance (times, machine, memory). Two runs of the same recipe on the same kind of kernel, or a \
        sharded run after `scalpel merge` and a single run, print the same digests.
        """)
    @Argument(help: "HDF5 files: evidence.h5, activations.h5, shard files.") var files: [String]
    @Flag(help: "Include /provenance.") var includeProvenance = false
    @Flag(help: "Print JSON: {file: digest}.") var json = false

    func validate() throws {
        if files.isEmpty { throw ValidationError("name at least one HDF5 file") }
    }

    func run() throws {
        var digests: [(String, String)] = []
        for file in files {
            digests.append((file, try ArchiveDigest.digest(URL(fileURLWithPath: file),
                                                           excluding: includeProvenance ? [] : ["/provenance"])))
        }
        if json {
            Output.printJSON(Dictionary(digests, uniquingKeysWith: { a, _ in a }))
        } else {
            for (file, digest) in digests { print("\(digest)  \(file)") }
        }
    }
}

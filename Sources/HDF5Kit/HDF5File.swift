import AtomicFiles
import CHDF5
import Foundation

/// An HDF5 file. New files are written atomically (temporary file, fsync, rename); existing files are
/// opened read-only, so reading an archive can never damage it.
public final class HDF5File {
    let id: hid_t
    public let name: String
    public let root: HDF5Group

    private init(id: hid_t, name: String) {
        self.id = id
        self.name = name
        self.root = HDF5Group(id: H5Gopen2(id, "/", chdf5_p_default()), path: "/", fileName: name)
    }

    /// Creates `url` from scratch: `body` fills the root group, then the file is closed and committed.
    /// If `body` throws, or the process dies first, nothing appears at `url` and an old file there is kept.
    public static func create(at url: URL, _ body: (HDF5Group) throws -> Void) throws {
        try AtomicFile.write(to: url) { temporary in
            try HDF5Library.locked {
                let access = H5Pcreate(chdf5_p_file_access())
                defer { H5Pclose(access) }
                // Strong close: closing the file closes every object still open in it, so nothing
                // written is left unflushed when the file is renamed into place.
                H5Pset_fclose_degree(access, H5F_CLOSE_STRONG)
                let id = H5Fcreate(temporary.path, chdf5_f_acc_trunc(), chdf5_p_default(), access)
                try check(id, "create file", "/", url.path)
                let file = HDF5File(id: id, name: url.path)
                defer { file.close() }
                try body(file.root)
                try check(H5Fflush(id, H5F_SCOPE_GLOBAL), "flush file", "/", url.path)
            }
        }
    }

    /// Changes an existing file atomically: `body` edits a copy, which replaces the file only when `body`
    /// returns. If it throws, or the process dies, the file is left exactly as it was.
    public static func update(at url: URL, _ body: (HDF5Group) throws -> Void) throws {
        _ = try open(at: url)   // refuses a missing or foreign file before anything is copied
        try AtomicFile.write(to: url) { temporary in
            try FileManager.default.copyItem(at: url, to: temporary)
            try HDF5Library.locked {
                let access = H5Pcreate(chdf5_p_file_access())
                defer { H5Pclose(access) }
                H5Pset_fclose_degree(access, H5F_CLOSE_STRONG)
                let id = H5Fopen(temporary.path, chdf5_f_acc_rdwr(), access)
                try check(id, "open for writing", "/", url.path)
                let file = HDF5File(id: id, name: url.path)
                defer { file.close() }
                try body(file.root)
                try check(H5Fflush(id, H5F_SCOPE_GLOBAL), "flush file", "/", url.path)
            }
        }
    }

    /// Checks `url` as `open` does before libhdf5 sees it (`HDF5Precheck`), without opening it: throws
    /// `HDF5Error.notAnHDF5File`, `.truncated` or `.corrupt`, each naming the file.
    public static func precheck(at url: URL) throws {
        try HDF5Precheck.check(path: url.path)
    }

    /// Opens an existing file read-only. Scalpel checks the superblock itself first (`HDF5Precheck`), so a
    /// missing, foreign, truncated or visibly corrupt file is refused with a reason before libhdf5 parses it;
    /// when libhdf5 still refuses the file, its innermost reason is in the error.
    public static func open(at url: URL) throws -> HDF5File {
        try precheck(at: url)
        return try HDF5Library.locked {
            let id = H5Fopen(url.path, chdf5_f_acc_rdonly(), chdf5_p_default())
            guard id >= 0 else {
                throw HDF5Error.corrupt(file: url.path, detail: "libhdf5 cannot open it (\(HDF5Library.lastError()))")
            }
            return HDF5File(id: id, name: url.path)
        }
    }

    private var isOpen = true

    /// Closes the file (and, for files being created, every object in it). Safe to call twice.
    public func close() {
        HDF5Library.locked {
            guard isOpen else { return }
            isOpen = false
            root.close()
            H5Fclose(id)
        }
    }

    deinit { close() }
}

# Sourced by Scripts/test and Scripts/quickstart: installs the C libraries Scalpel links against
# (OpenBLAS, HDF5) and the tools the build needs, only when they are missing. Uses sudo only when not root.
ensure_system_packages() {
    local missing=()
    command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
    if ! pkg-config --exists openblas 2>/dev/null; then missing+=(libopenblas-dev); fi
    if ! pkg-config --exists hdf5 2>/dev/null; then missing+=(libhdf5-dev); fi
    if [ ${#missing[@]} -eq 0 ]; then return 0; fi
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    echo "Installing missing system packages: ${missing[*]}" >&2
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq libopenblas-dev libhdf5-dev pkg-config >&2
}

ensure_swift() {
    if ! command -v swift >/dev/null 2>&1; then
        echo "error: the Swift toolchain (6.0 or newer) is not on PATH. Install it from swift.org, then run this again." >&2
        exit 1
    fi
}

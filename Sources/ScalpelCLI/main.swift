#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import Scalpel

// Entry point, in the order things must happen:
// 1. OpenBLAS chose its kernel when it loaded; if it chose a generic one on a processor that can do
//    better, run again with the right OPENBLAS_CORETYPE (once; an OPENBLAS_CORETYPE the user set stays).
BLASCore.reexecIfGeneric()
// 2. A parent that ignores SIGINT (some job runners and test harnesses) passes that on through exec;
//    restore the default so Ctrl-C and schedulers can always stop a run. Then take SIGINT and SIGTERM
//    on a thread of their own, which removes temporary files before the process ends. This must come
//    before any other thread starts, so that all inherit the mask.
signal(SIGINT, SIG_DFL)
signal(SIGTERM, SIG_DFL)
TemporaryFiles.installStopHandler()
// 3. The process-wide memory policy, before any tensor exists; then parse and run.
Allocator.keepLargeBlocksOnTheHeap()
CommandLineRun.main()

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
// 2. A parent that ignores SIGINT, or blocks it (some job runners and test harnesses), passes that on
//    through exec; undo both so Ctrl-C and schedulers can always stop a run. Then take SIGINT and
//    SIGTERM with a handler that has a thread of ours remove temporary files before the process ends.
signal(SIGINT, SIG_DFL)
signal(SIGTERM, SIG_DFL)
var stopSignals = sigset_t()
sigemptyset(&stopSignals)
sigaddset(&stopSignals, SIGINT)
sigaddset(&stopSignals, SIGTERM)
sigprocmask(SIG_UNBLOCK, &stopSignals, nil)
TemporaryFiles.installStopHandler()
// 3. The process-wide memory policy, before any tensor exists; then parse and run.
Allocator.keepLargeBlocksOnTheHeap()
CommandLineRun.main()

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import Scalpel

// Entry point. A parent that ignores SIGINT (some job runners and test harnesses) passes that on through
// exec; restore the default so Ctrl-C and schedulers can always stop a run. Every output is written to a
// temporary file and renamed, so stopping at any moment leaves inputs and earlier outputs intact.
// Some launchers also start children with these signals blocked; unblock them.
signal(SIGINT, SIG_DFL)
signal(SIGTERM, SIG_DFL)
var stopSignals = sigset_t()
sigemptyset(&stopSignals)
sigaddset(&stopSignals, SIGINT)
sigaddset(&stopSignals, SIGTERM)
sigprocmask(SIG_UNBLOCK, &stopSignals, nil)
// Set the process-wide memory policy before any tensor exists, then parse and run.
Allocator.keepLargeBlocksOnTheHeap()
ScalpelCommand.main()

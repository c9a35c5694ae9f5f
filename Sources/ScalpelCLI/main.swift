import Scalpel

// Entry point: set the process-wide memory policy before any tensor exists, then parse and run.
Allocator.keepLargeBlocksOnTheHeap()
ScalpelCommand.main()

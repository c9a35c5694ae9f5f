// OpenBLAS's CBLAS interface. pkg-config `openblas` supplies the include path
// (Debian: /usr/include/x86_64-linux-gnu/openblas-pthread/).
#include <cblas.h>

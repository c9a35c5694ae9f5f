// What the processor can do, read from cpuid at run time (never assumed at build time).
#ifndef SCALPEL_CPU_FEATURES_H
#define SCALPEL_CPU_FEATURES_H

#include <stdbool.h>

typedef struct {
    char vendor[13];        // "GenuineIntel", "AuthenticAMD", … ("" off x86)
    int family;             // display family (base + extended)
    int model;              // display model (base + extended)
    bool sse3, ssse3, sse4_1, sse4_2;
    bool avx, avx2, fma, f16c;
    bool avx512f, avx512dq, avx512bw, avx512vl, avx512_vnni, avx512_bf16;
    bool avx_vnni;
} scalpel_cpu_features;

// Fills `out`. AVX and AVX-512 count only when the operating system saves their registers (XCR0).
void scalpel_cpu_features_read(scalpel_cpu_features *out);

#endif

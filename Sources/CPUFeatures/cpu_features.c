#include "cpu_features.h"
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static unsigned long long read_xcr0(void) {
    unsigned int eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}

void scalpel_cpu_features_read(scalpel_cpu_features *out) {
    memset(out, 0, sizeof *out);
    unsigned int a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return;
    unsigned int max_leaf = a;
    memcpy(out->vendor, &b, 4);
    memcpy(out->vendor + 4, &d, 4);
    memcpy(out->vendor + 8, &c, 4);
    out->vendor[12] = 0;

    __get_cpuid(1, &a, &b, &c, &d);
    int base_family = (a >> 8) & 0xf, base_model = (a >> 4) & 0xf;
    out->family = base_family == 0xf ? base_family + ((a >> 20) & 0xff) : base_family;
    out->model = (base_family == 0x6 || base_family == 0xf) ? base_model + (((a >> 16) & 0xf) << 4) : base_model;
    out->sse3 = c & (1u << 0);
    out->ssse3 = c & (1u << 9);
    out->fma = c & (1u << 12);
    out->sse4_1 = c & (1u << 19);
    out->sse4_2 = c & (1u << 20);
    out->f16c = c & (1u << 29);
    bool osxsave = c & (1u << 27);
    bool cpu_avx = c & (1u << 28);

    // XCR0: bits 1-2 are SSE and AVX state, bits 5-7 the AVX-512 opmask and upper registers.
    unsigned long long xcr0 = osxsave ? read_xcr0() : 0;
    bool os_avx = (xcr0 & 0x6) == 0x6;
    bool os_avx512 = os_avx && (xcr0 & 0xe0) == 0xe0;
    out->avx = cpu_avx && os_avx;
    out->fma = out->fma && os_avx;
    out->f16c = out->f16c && os_avx;
    if (max_leaf < 7) return;

    __get_cpuid_count(7, 0, &a, &b, &c, &d);
    out->avx2 = os_avx && (b & (1u << 5));
    out->avx512f = os_avx512 && (b & (1u << 16));
    out->avx512dq = os_avx512 && (b & (1u << 17));
    out->avx512bw = os_avx512 && (b & (1u << 30));
    out->avx512vl = os_avx512 && (b & (1u << 31));
    out->avx512_vnni = os_avx512 && (c & (1u << 11));
    unsigned int subleaves = a;
    if (subleaves >= 1) {
        __get_cpuid_count(7, 1, &a, &b, &c, &d);
        out->avx_vnni = os_avx && (a & (1u << 4));
        out->avx512_bf16 = os_avx512 && (a & (1u << 5));
    }
}
#else
void scalpel_cpu_features_read(scalpel_cpu_features *out) { memset(out, 0, sizeof *out); }
#endif

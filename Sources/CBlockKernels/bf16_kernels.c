// Products in bfloat16 (see bf16_kernels.h for the definition): the scalar reference, and the
// avx512bf16 kernel, which multiplies four rows by three vectors at a time with vdpbf16ps.
#pragma STDC FP_CONTRACT OFF
#pragma clang fp contract(off)

#include "bf16_kernels.h"
#include "q8_kernels.h"
#include "cpu_features.h"
#include "block_scalars.h"
#include <float.h>
#include <math.h>
#include <stdlib.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define SCALPEL_X86 1
#endif

enum { LANES = 16, STEP = 32 };

void scalpel_bf16_round(const float *x, int64_t count, uint16_t *out) {
    for (int64_t i = 0; i < count; i++) {
        uint32_t u;
        memcpy(&u, x + i, 4);
        out[i] = (u & 0x7FFFFFFFu) > 0x7F800000u ? (uint16_t)((u >> 16) | 0x0040)      // a NaN, made quiet
                                                 : (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1)) >> 16);
    }
}

// ---- scalar: the reference -----------------------------------------------------------------------------

INLINE float value(uint16_t h) {
    float x = bfloat16(h);
    return (h & 0x7F80) == 0 ? copysignf(0, x) : x;       // exponent 0: zero or subnormal, counted as zero
}

INLINE float flush(float z) { return z != 0 && fabsf(z) < FLT_MIN ? copysignf(0, z) : z; }

INLINE float fold16(float lane[LANES]) {
    for (int s = LANES / 2; s >= 1; s /= 2)
        for (int i = 0; i < s; i++) lane[i] = lane[i] + lane[i + s];
    return lane[0];
}

static float dot_bf16_scalar(const uint16_t *w, const uint16_t *x, int64_t k) {
    float lane[LANES] = {0};
    for (int64_t p = 0; p < k / 2; p++) {
        float *l = lane + p % LANES;
        *l = flush(fmaf(value(w[2 * p + 1]), value(x[2 * p + 1]), *l));
        *l = flush(fmaf(value(w[2 * p]), value(x[2 * p]), *l));
    }
    return fold16(lane);
}

static void dot_rows_bf16_scalar(const uint16_t *w, int64_t ldw, int64_t rows, const uint16_t *x, int64_t ldx,
                                 int64_t vectors, int64_t k, float *y, int64_t ldy) {
    for (int64_t v = 0; v < vectors; v++)
        for (int64_t r = 0; r < rows; r++) y[v * ldy + r] = dot_bf16_scalar(w + r * ldw, x + v * ldx, k);
}

// ---- AVX512-BF16 ---------------------------------------------------------------------------------------

#if SCALPEL_X86
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))), apply_to = function)

INLINE __m512bh load_bh(const uint16_t *p) { return (__m512bh)_mm512_loadu_si512(p); }

// The definition's fold: the upper half of the lanes onto the lower, four times.
INLINE float fold16_avx512(__m512 lanes) {
    __m256 eight = _mm256_add_ps(_mm512_castps512_ps256(lanes),
                                 _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(lanes), 1)));
    __m128 four = _mm_add_ps(_mm256_castps256_ps128(eight), _mm256_extractf128_ps(eight, 1));
    __m128 two = _mm_add_ps(four, _mm_movehl_ps(four, four));
    return _mm_cvtss_f32(_mm_add_ss(two, _mm_movehdup_ps(two)));
}

// R rows × V vectors, each pair's lanes in one register: vdpbf16ps is the definition's two steps per lane.
#define BF16_BLOCK(R, V)                                                                                    \
    INLINE void block_##R##x##V(const uint16_t *w, int64_t ldw, const uint16_t *x, int64_t ldx, int64_t k,  \
                                float *y, int64_t ldy) {                                                  \
        __m512 acc[R][V];                                                                                  \
        for (int i = 0; i < R; i++)                                                                        \
            for (int j = 0; j < V; j++) acc[i][j] = _mm512_setzero_ps();                                   \
        for (int64_t e = 0; e < k; e += STEP) {                                                            \
            __m512bh a[R], b[V];                                                                           \
            for (int i = 0; i < R; i++) a[i] = load_bh(w + i * ldw + e);                                   \
            for (int j = 0; j < V; j++) b[j] = load_bh(x + j * ldx + e);                                   \
            for (int i = 0; i < R; i++)                                                                    \
                for (int j = 0; j < V; j++) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], a[i], b[j]);           \
        }                                                                                                  \
        for (int i = 0; i < R; i++)                                                                        \
            for (int j = 0; j < V; j++) y[j * ldy + i] = fold16_avx512(acc[i][j]);                         \
    }
BF16_BLOCK(4, 3)
BF16_BLOCK(1, 3)
BF16_BLOCK(4, 1)
BF16_BLOCK(1, 1)
#undef BF16_BLOCK

// Vectors a block at a time (their bfloat16 rows stay in the nearer caches while the rows pass), rows
// four at a time, vectors three at a time; the edges in smaller blocks.
enum { VECTOR_BLOCK = 48 };
static void dot_rows_bf16_avx512(const uint16_t *w, int64_t ldw, int64_t rows, const uint16_t *x, int64_t ldx,
                                 int64_t vectors, int64_t k, float *y, int64_t ldy) {
    for (int64_t v0 = 0; v0 < vectors; v0 += VECTOR_BLOCK) {
        int64_t v1 = v0 + VECTOR_BLOCK < vectors ? v0 + VECTOR_BLOCK : vectors;
        int64_t r = 0;
        for (; r + 4 <= rows; r += 4) {
            int64_t v = v0;
            for (; v + 3 <= v1; v += 3) block_4x3(w + r * ldw, ldw, x + v * ldx, ldx, k, y + v * ldy + r, ldy);
            for (; v < v1; v++) block_4x1(w + r * ldw, ldw, x + v * ldx, ldx, k, y + v * ldy + r, ldy);
        }
        for (; r < rows; r++) {
            int64_t v = v0;
            for (; v + 3 <= v1; v += 3) block_1x3(w + r * ldw, ldw, x + v * ldx, ldx, k, y + v * ldy + r, ldy);
            for (; v < v1; v++) block_1x1(w + r * ldw, ldw, x + v * ldx, ldx, k, y + v * ldy + r, ldy);
        }
    }
}

#pragma clang attribute pop
#endif

// ---- the instruction's check ---------------------------------------------------------------------------

// Inputs that tell the roundings apart: products that underflow (their sign decides a zero's), sums
// just below the smallest normal, subnormal inputs, and long chains over a wide range of magnitudes
// (every product finite, so that no NaN, whose payload may differ, enters the comparison).
static void check_inputs(uint16_t *w, uint16_t *x, int64_t count) {
    uint64_t s = 0x9E3779B97F4A7C15u;
    for (int64_t i = 0; i < count; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        unsigned range = (unsigned)(i / 512) % 4, sign = (unsigned)(s >> 8) & 1, mantissa = (unsigned)(s >> 9) & 0x7F;
        unsigned exponent = range == 0 ? 120 + (unsigned)(s >> 20) % 16      // ordinary magnitudes
                          : range == 1 ? (unsigned)(s >> 20) % 8              // subnormal and tiny
                          : range == 2 ? 60 + (unsigned)(s >> 20) % 10        // products near the smallest normal
                          : 64 + (unsigned)(s >> 20) % 127;                   // wide, the products finite
        uint16_t h = (uint16_t)(sign << 15 | exponent << 7 | mantissa);
        if (i % 2) x[i / 2] = h; else w[i / 2] = h;
    }
}

int scalpel_bf16_instruction_agrees(void) {
    static int known = -1;
    int value = __atomic_load_n(&known, __ATOMIC_RELAXED);
    if (value >= 0) return value;
    value = 0;
#if SCALPEL_X86
    scalpel_cpu_features f;
    scalpel_cpu_features_read(&f);
    if (f.avx512f && f.avx512bw && f.avx512vl && f.avx512_bf16) {
        enum { ROWS = 4, VECTORS = 4, K = 512 };
        uint16_t w[ROWS * K], x[VECTORS * K];
        check_inputs(w, x, 2 * ROWS * K);
        float fast[VECTORS * ROWS], reference[VECTORS * ROWS];
        dot_rows_bf16_avx512(w, K, ROWS, x, K, VECTORS, K, fast, ROWS);
        dot_rows_bf16_scalar(w, K, ROWS, x, K, VECTORS, K, reference, ROWS);
        value = memcmp(fast, reference, sizeof fast) == 0;
    }
#endif
    __atomic_store_n(&known, value, __ATOMIC_RELAXED);
    return value;
}

// ---- entry ---------------------------------------------------------------------------------------------

int scalpel_dot_rows_bf16(const uint16_t *w, int64_t ldw, int64_t rows, const uint16_t *x, int64_t ldx,
                          int64_t vectors, int64_t k, float *y, int64_t ldy, int path) {
    if (path == SCALPEL_PATH_CHOSEN) path = scalpel_kernel_path();
    if (k < 0 || k % STEP || !scalpel_kernel_path_available(path)) return 0;
    if (path != SCALPEL_PATH_SCALAR && path != SCALPEL_PATH_AVX512BF16) return 0;
    if (rows <= 0 || vectors <= 0) return 1;
#if SCALPEL_X86
    if (path == SCALPEL_PATH_AVX512BF16) {
        dot_rows_bf16_avx512(w, ldw, rows, x, ldx, vectors, k, y, ldy);
        return 1;
    }
#endif
    dot_rows_bf16_scalar(w, ldw, rows, x, ldx, vectors, k, y, ldy);
    return 1;
}

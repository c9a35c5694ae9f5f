// Integer row products (see q8_kernels.h for the definitions) and the choice of kernel path.
//
// A row is taken a tile at a time: 256 elements, one K-quant super-block or eight 32-element blocks,
// unpacked into integer form (codes, sub-scales, factors). Every path runs the same unpacking and the
// same float epilogue in the same order; they differ only in how the exact integer sums are formed.
#pragma STDC FP_CONTRACT OFF
#pragma clang fp contract(off)

#include "q8_kernels.h"
#include "bf16_kernels.h"
#include "cpu_features.h"
#include "block_scalars.h"
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define SCALPEL_X86 1
#endif


enum { TILE = 256, GROUPS = 8 };

// ---- paths ------------------------------------------------------------------------------------------

static const char *const path_names[SCALPEL_PATH_COUNT] = {"scalar", "avx2", "avx512", "avx512bf16"};

const char *scalpel_kernel_path_name(int path) {
    return path >= 0 && path < SCALPEL_PATH_COUNT ? path_names[path] : "";
}

// The paths the processor runs, one bit each, read once (cpuid traps to the hypervisor under a VM, so it
// is far too slow to read per product); any thread may be first.
static int runnable_paths(void) {
    static int known = -1;
    int value = __atomic_load_n(&known, __ATOMIC_RELAXED);
    if (value < 0) {
        scalpel_cpu_features f;
        scalpel_cpu_features_read(&f);
        int avx2 = f.avx2 && f.fma && f.f16c;
        int avx512 = avx2 && f.avx512f && f.avx512bw && f.avx512vl && f.avx512_vnni;
        int bf16 = avx512 && scalpel_bf16_instruction_agrees();
        value = 1 << SCALPEL_PATH_SCALAR | avx2 << SCALPEL_PATH_AVX2 | avx512 << SCALPEL_PATH_AVX512 |
                bf16 << SCALPEL_PATH_AVX512BF16;
        __atomic_store_n(&known, value, __ATOMIC_RELAXED);
    }
    return value;
}

const char *scalpel_kernel_path_missing(int path) {
    if (path < 0 || path >= SCALPEL_PATH_COUNT) return "no such path";
#if SCALPEL_X86
    if (runnable_paths() & 1 << path) return "";
    if (path == SCALPEL_PATH_AVX2) return "this processor lacks AVX2, FMA or F16C";
    if (!(runnable_paths() & 1 << SCALPEL_PATH_AVX512))
        return "this processor lacks AVX-512 F, BW, VL or VNNI (or AVX2, FMA, F16C)";
    scalpel_cpu_features f;
    scalpel_cpu_features_read(&f);
    return f.avx512_bf16 ? "this processor's vdpbf16ps does not give the reference's bits (bf16_kernels.h), "
                           "so its bfloat16 products would not be reproducible"
                         : "this processor lacks AVX512-BF16";
#else
    return path == SCALPEL_PATH_SCALAR ? "" : "this is not an x86-64 processor";
#endif
}

int scalpel_kernel_path_available(int path) { return *scalpel_kernel_path_missing(path) == 0; }

static int chosen_path = -1;                               // any thread may read it; set before products run

int scalpel_kernel_path_choose(int path) {
    if (!scalpel_kernel_path_available(path)) return 0;
    __atomic_store_n(&chosen_path, path, __ATOMIC_RELAXED);
    return 1;
}

int scalpel_kernel_path(void) {
    int path = __atomic_load_n(&chosen_path, __ATOMIC_RELAXED);
    if (path >= 0) return path;
    for (path = SCALPEL_PATH_COUNT - 1; path > 0 && !scalpel_kernel_path_available(path); path--) {}
    __atomic_store_n(&chosen_path, path, __ATOMIC_RELAXED);
    return path;
}

// ---- activations --------------------------------------------------------------------------------------

size_t scalpel_q8_bytes(int64_t k) { return k >= 0 && k % 32 == 0 ? (size_t)k / 8 + (size_t)k / 8 + (size_t)k : 0; }

// A vector's three arrays: d[k/32] at 0, s16[k/16] after it, q[k] after that.
typedef struct { const float *d; const int16_t *s16; const int8_t *q; } q8_vector;

INLINE q8_vector q8_view(const void *x, int64_t k) {
    const uint8_t *bytes = x;
    return (q8_vector){(const float *)bytes, (const int16_t *)(bytes + k / 8), (const int8_t *)(bytes + k / 4)};
}

static void quantize_q8_scalar(const float *x, int64_t k, void *out) {
    uint8_t *bytes = out;
    float *d = (float *)bytes;
    int16_t *s16 = (int16_t *)(bytes + k / 8);
    int8_t *q = (int8_t *)(bytes + k / 4);
    for (int64_t g = 0; g < k / 32; g++) {
        const float *xs = x + 32 * g;
        float a = 0;
        int finite = 1;
        for (int i = 0; i < 32; i++) {
            float v = fabsf(xs[i]);
            if (!(v <= FLT_MAX)) finite = 0;
            else if (v > a) a = v;
        }
        float inverse = finite && a > 0 ? 127.0f / a : 0;
        if (!(inverse <= FLT_MAX)) inverse = 0;        // a below 127 / FLT_MAX: the group counts as 0
        d[g] = !finite ? NAN : inverse == 0 ? 0 : a / 127.0f;
        for (int i = 0; i < 32; i++) {
            float r = finite ? nearbyintf(xs[i] * inverse) : 0;
            q[32 * g + i] = (int8_t)(r > 127 ? 127 : r < -127 ? -127 : r);
        }
        for (int h = 0; h < 2; h++) {
            int sum = 0;
            for (int i = 16 * h; i < 16 * h + 16; i++) sum += q[32 * g + i];
            s16[2 * g + h] = (int16_t)sum;
        }
    }
}

// ---- weights in integer form --------------------------------------------------------------------------

// A tile: codes c, per 16 elements a sub-scale and a minimum's multiplier, per group of 32 the two
// factors d and dm. value[e] = (d[e/32] · sc[e/16]) · c[e] + dm[e/32] · mn[e/16].
typedef struct {
    int8_t c[TILE] __attribute__((aligned(32)));
    int16_t sc[TILE / 16], mn[TILE / 16];
    float d[GROUPS], dm[GROUPS];
} tile;

// The block types of 32 and 256 elements; has_min for those whose values add a minimum's term.
static void q8_block_shape(int type, int *elements, int *bytes, int *has_min) {
    *has_min = type == Q4_1 || type == Q5_1 || type == Q2_K || type == Q4_K || type == Q5_K;
    block_shape(type, elements, bytes);
    if (*elements < 32) *elements = *bytes = 0;
}

int scalpel_q8_supported(int type) {
    int elements, bytes, has_min;
    q8_block_shape(type, &elements, &bytes, &has_min);
    return elements > 0;
}

// 32-element blocks: byte j holds element j (low nibble) and j + 16 (high nibble). Writes 32 codes,
// 2 sub-scales and minimums, and the group's factors.
INLINE void unpack_legacy(int type, const uint8_t *b, int8_t *c, int16_t *sc, int16_t *mn, float *d, float *dm) {
    sc[0] = sc[1] = 1;
    mn[0] = mn[1] = type == Q4_1 || type == Q5_1;
    *d = half(u16(b));
    *dm = type == Q4_1 || type == Q5_1 ? half(u16(b + 2)) : 0;
    switch (type) {
    case Q4_0:                                             // (q − 8)·d
        for (int j = 0; j < 16; j++) {
            c[j] = (int8_t)((b[2 + j] & 0xF) - 8);
            c[j + 16] = (int8_t)((b[2 + j] >> 4) - 8);
        }
        return;
    case Q4_1:                                             // q·d + m
        for (int j = 0; j < 16; j++) { c[j] = (int8_t)(b[4 + j] & 0xF); c[j + 16] = (int8_t)(b[4 + j] >> 4); }
        return;
    case Q5_0: case Q5_1: {                                // fifth bit j of qh; Q5_0 (q − 16)·d, Q5_1 q·d + m
        int offset = type == Q5_0 ? 2 : 4, zero = type == Q5_0 ? 16 : 0;
        uint32_t qh = u32(b + offset);
        const uint8_t *qs = b + offset + 4;
        for (int j = 0; j < 16; j++) {
            c[j] = (int8_t)(((qs[j] & 0xF) | (((qh >> j) & 1) << 4)) - zero);
            c[j + 16] = (int8_t)(((qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) - zero);
        }
        return;
    }
    case Q8_0:                                             // q·d
        memcpy(c, b + 2, 32);
        return;
    }
}

// The factors and sub-scales of a 256-element block (codes apart).
INLINE void unpack_k_scales(int type, const uint8_t *b, tile *t) {
    float d = 0, dm = 0;
    switch (type) {
    case Q2_K:                                             // (d·sc)·q − dmin·m per 16
        d = half(u16(b + 80)), dm = -half(u16(b + 82));
        for (int h = 0; h < 16; h++) { t->sc[h] = b[h] & 0xF; t->mn[h] = b[h] >> 4; }
        break;
    case Q3_K:                                             // d·(6-bit scale − 32)·q per 16
        d = half(u16(b + 108));
        for (int h = 0; h < 16; h++) {
            const uint8_t *packed = b + 96;
            int low = h < 8 ? packed[h] & 0xF : packed[h - 8] >> 4;
            int high = (packed[8 + h % 4] >> (2 * (h / 4))) & 3;
            t->sc[h] = (int16_t)((low | (high << 4)) - 32);
            t->mn[h] = 0;
        }
        break;
    case Q4_K: case Q5_K: {                                // (d·sc)·q − dmin·m per 32
        // Twelve bytes hold eight 6-bit scales and minimums (ggml's get_scale_min_k4), four per word.
        d = half(u16(b)), dm = -half(u16(b + 2));
        uint32_t w0 = u32(b + 4), w1 = u32(b + 8), w2 = u32(b + 12);
        uint32_t scales[2] = {w0 & 0x3F3F3F3Fu, (w2 & 0x0F0F0F0Fu) | (((w0 >> 6) & 0x03030303u) << 4)};
        uint32_t mins[2] = {w1 & 0x3F3F3F3Fu, ((w2 >> 4) & 0x0F0F0F0Fu) | (((w1 >> 6) & 0x03030303u) << 4)};
        for (int j = 0; j < 8; j++) {
            t->sc[2 * j] = t->sc[2 * j + 1] = (int16_t)((scales[j / 4] >> (8 * (j % 4))) & 0xFF);
            t->mn[2 * j] = t->mn[2 * j + 1] = (int16_t)((mins[j / 4] >> (8 * (j % 4))) & 0xFF);
        }
        break;
    }
    case Q6_K:                                             // (d·sc)·(q − 32) per 16
        d = half(u16(b + 208));
        for (int h = 0; h < 16; h++) { t->sc[h] = (int8_t)b[192 + h]; t->mn[h] = 0; }
        break;
    }
    for (int g = 0; g < GROUPS; g++) { t->d[g] = d; t->dm[g] = dm; }
}

// The codes of a 256-element block, in element order (block_kernels.c documents each layout).
INLINE void unpack_k_codes(int type, const uint8_t *b, int8_t *c) {
    switch (type) {
    case Q2_K:                                             // element 128i + 32s + l: bits 2s of qs[32i + l]
        for (int e = 0; e < 256; e++) c[e] = (int8_t)((b[16 + 32 * (e / 128) + e % 32] >> (2 * ((e / 32) % 4))) & 3);
        return;
    case Q3_K:                                             // minus 4 where bit 4i + s of hmask[l] is clear
        for (int e = 0; e < 256; e++) {
            int i = e / 128, s = (e / 32) % 4, l = e % 32;
            int low = (b[32 + 32 * i + l] >> (2 * s)) & 3, high = (b[l] >> (4 * i + s)) & 1;
            c[e] = (int8_t)(low - (high ? 0 : 4));
        }
        return;
    case Q4_K:                                             // chunk i of 64: low nibbles, then high ones
        for (int e = 0; e < 256; e++) {
            uint8_t byte = b[16 + 32 * (e / 64) + e % 32];
            c[e] = (int8_t)((e / 32) % 2 ? byte >> 4 : byte & 0xF);
        }
        return;
    case Q5_K:                                             // as Q4_K, bit e / 32 of qh[l] adding 16
        for (int e = 0; e < 256; e++) {
            uint8_t byte = b[48 + 32 * (e / 64) + e % 32];
            int low = (e / 32) % 2 ? byte >> 4 : byte & 0xF;
            c[e] = (int8_t)(low | (((b[16 + e % 32] >> (e / 32)) & 1) << 4));
        }
        return;
    case Q6_K:                                             // element 128i + 32j + l: 4 bits of ql, 2 of qh
        for (int e = 0; e < 256; e++) {
            int i = e / 128, j = (e / 32) % 4, l = e % 32;
            int low = b[64 * i + l + 32 * (j % 2)], high = b[128 + 32 * i + l];
            c[e] = (int8_t)((((j < 2 ? low : low >> 4) & 0xF) | (((high >> (2 * j)) & 3) << 4)) - 32);
        }
        return;
    }
}

// The tile starting at element `start` of a row (groups = its groups of 32, at most 8).
INLINE void unpack_tile_scalar(int type, const uint8_t *row, int64_t start, int groups, int elements, int bytes,
                               tile *t) {
    if (elements == 32) {
        for (int g = 0; g < groups; g++)
            unpack_legacy(type, row + (start / 32 + g) * bytes, t->c + 32 * g, t->sc + 2 * g, t->mn + 2 * g,
                          &t->d[g], &t->dm[g]);
        return;
    }
    const uint8_t *b = row + start / 256 * bytes;
    unpack_k_scales(type, b, t);
    unpack_k_codes(type, b, t->c);
}

int scalpel_q8_unpack(int type, const void *block, int8_t *c, int16_t *sc, int16_t *mn, float *d, float *dm) {
    int elements, bytes, has_min;
    q8_block_shape(type, &elements, &bytes, &has_min);
    if (elements == 0) return 0;
    tile t;
    unpack_tile_scalar(type, block, 0, elements / 32, elements, bytes, &t);
    memcpy(c, t.c, (size_t)elements);
    memcpy(sc, t.sc, sizeof(int16_t) * (size_t)elements / 16);
    memcpy(mn, t.mn, sizeof(int16_t) * (size_t)elements / 16);
    *d = t.d[0];
    *dm = t.dm[0];
    return 1;
}

// ---- the epilogue, shared ------------------------------------------------------------------------------

INLINE float fold8(const float *lane) {
    return ((lane[0] + lane[4]) + (lane[2] + lane[6])) + ((lane[1] + lane[5]) + (lane[3] + lane[7]));
}

// lane[g] += (d[g]·d_a[g])·isum[g], then (dm[g]·d_a[g])·msum[g] for types with minimums, g < groups.
INLINE void epilogue_scalar(float *lane, const tile *t, const float *da, const int32_t *isum, const int32_t *msum,
                            int groups, int has_min) {
    for (int g = 0; g < groups; g++) {
        lane[g] = fmaf(t->d[g] * da[g], (float)isum[g], lane[g]);
        if (has_min) lane[g] = fmaf(t->dm[g] * da[g], (float)msum[g], lane[g]);
    }
}

// Σ_h mn[h] · s16[h] over each group's two halves.
INLINE void minimum_sums(const tile *t, const int16_t *s16, int groups, int32_t *msum) {
    for (int g = 0; g < groups; g++)
        msum[g] = (int32_t)t->mn[2 * g] * s16[2 * g] + (int32_t)t->mn[2 * g + 1] * s16[2 * g + 1];
}

// ---- scalar: the reference -----------------------------------------------------------------------------

#define DOT_Q8_ARGUMENTS int type, const uint8_t *w0, size_t row_bytes, int64_t rows, const uint8_t *xq, \
    size_t stride, int64_t vectors, int64_t k, float *y, int64_t ldy, float *lanes, int elements, int bytes, int has_min
#define DOT_Q8_PASS type, w0, row_bytes, rows, xq, stride, vectors, k, y, ldy, lanes, elements, bytes, has_min

static void dot_rows_q8_scalar(DOT_Q8_ARGUMENTS) {
    tile t;
    for (int64_t r = 0; r < rows; r++) {
        const uint8_t *row = w0 + r * row_bytes;
        memset(lanes, 0, sizeof(float) * GROUPS * vectors);
        for (int64_t start = 0; start < k; start += TILE) {
            int groups = (int)((k - start < TILE ? k - start : TILE) / 32);
            unpack_tile_scalar(type, row, start, groups, elements, bytes, &t);
            for (int64_t v = 0; v < vectors; v++) {
                q8_vector x = q8_view(xq + v * stride, k);
                int32_t isum[GROUPS], msum[GROUPS];
                for (int g = 0; g < groups; g++) {
                    isum[g] = 0;
                    for (int h = 2 * g; h < 2 * g + 2; h++) {
                        int32_t sum = 0;
                        for (int e = 16 * h; e < 16 * h + 16; e++) sum += (int32_t)t.c[e] * x.q[start + e];
                        isum[g] += t.sc[h] * sum;
                    }
                }
                minimum_sums(&t, x.s16 + start / 16, groups, msum);
                epilogue_scalar(lanes + GROUPS * v, &t, x.d + start / 32, isum, msum, groups, has_min);
            }
        }
        for (int64_t v = 0; v < vectors; v++) y[v * ldy + r] = fold8(lanes + GROUPS * v);
    }
}

// ---- AVX2 ----------------------------------------------------------------------------------------------

#if SCALPEL_X86
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)

// A tile's sixteen per-16 values as int32: the first halves of its eight groups, and the second ones.
INLINE void halves_avx2(const int16_t *values, __m256i *first, __m256i *second) {
    const __m256i order = _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15,
                                           0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15);
    __m256i split = _mm256_shuffle_epi8(_mm256_loadu_si256((const __m256i *)values), order);
    split = _mm256_permute4x64_epi64(split, 0xD8);         // first halves of groups 0-7, then second halves
    *first = _mm256_cvtepi16_epi32(_mm256_castsi256_si128(split));
    *second = _mm256_cvtepi16_epi32(_mm256_extracti128_si256(split, 1));
}

// ---- AVX2, the commonest types' tiles in registers (a row's last, partial tile too) ----
// The same integer sums and the same epilogue as the reference, with no codes written to memory between
// the block's bytes and the lanes: acc is lane[0..8) of one vector.

// The two half sums of each of a tile's eight groups, first halves in `first`, second in `second`, from
// the groups' maddubs pairs p[g] (int16; the low 128 bits hold the group's first half, the high its
// second). The pairs are added in int16 as far as their codes allow, `levels` times (each level halves
// the vectors), then in int32:
//   4-bit codes: 16 elements · 15 · 127 ≤ 32767, three levels (one vector of 16 half sums);
//   5-bit codes:  8 elements · 31 · 127 ≤ 32767, two levels;
//   6-bit codes:  4 elements · 63 · 127 ≤ 32767, one level;
//   8-bit codes: none.
// The sums are exact integers whatever the order, so every level count gives the same ones.
INLINE void half_sums_avx2(const __m256i p[8], int levels, __m256i *first, __m256i *second) {
    const __m256i ones = _mm256_set1_epi16(1);
    if (levels == 3) {
        __m256i a = _mm256_hadd_epi16(_mm256_hadd_epi16(p[0], p[1]), _mm256_hadd_epi16(p[2], p[3]));
        __m256i b = _mm256_hadd_epi16(_mm256_hadd_epi16(p[4], p[5]), _mm256_hadd_epi16(p[6], p[7]));
        __m256i halves = _mm256_hadd_epi16(a, b);          // lanes 0-7: first halves, 8-15: second
        *first = _mm256_cvtepi16_epi32(_mm256_castsi256_si128(halves));
        *second = _mm256_cvtepi16_epi32(_mm256_extracti128_si256(halves, 1));
        return;
    }
    if (levels == 2) {                                     // half sums of groups 0-3 (a), 4-7 (b), in int32
        __m256i a = _mm256_hadd_epi16(_mm256_hadd_epi16(p[0], p[1]), _mm256_hadd_epi16(p[2], p[3]));
        __m256i b = _mm256_hadd_epi16(_mm256_hadd_epi16(p[4], p[5]), _mm256_hadd_epi16(p[6], p[7]));
        a = _mm256_madd_epi16(a, ones), b = _mm256_madd_epi16(b, ones);
        *first = _mm256_permute2x128_si256(a, b, 0x20);
        *second = _mm256_permute2x128_si256(a, b, 0x31);
        return;
    }
    __m256i v[4];                                          // quarter sums of groups 2i and 2i + 1 (int32)
    for (int i = 0; i < 4; i++) {
        __m256i even = p[2 * i], odd = p[2 * i + 1];
        v[i] = levels == 1 ? _mm256_madd_epi16(_mm256_hadd_epi16(even, odd), ones)
                           : _mm256_hadd_epi32(_mm256_madd_epi16(even, ones), _mm256_madd_epi16(odd, ones));
    }
    __m256i a = _mm256_hadd_epi32(v[0], v[1]), b = _mm256_hadd_epi32(v[2], v[3]);
    *first = _mm256_permute2x128_si256(a, b, 0x20);
    *second = _mm256_permute2x128_si256(a, b, 0x31);
}

// A block's fp16 factor at `at`, in every lane (F16C: exact).
INLINE __m256 factor_avx2(const uint8_t *at) {
    return _mm256_broadcastss_ps(_mm_cvtph_ps(_mm_cvtsi32_si128(u16(at))));
}

// acc += (d·d_a)·isum (+ (dm·d_a)·msum), the epilogue of a whole tile.
INLINE __m256 epilogue_avx2(__m256 acc, __m256 d, __m256 dm, const float *da, __m256i isum, const __m256i *msum) {
    __m256 a = _mm256_loadu_ps(da);
    acc = _mm256_fmadd_ps(_mm256_mul_ps(d, a), _mm256_cvtepi32_ps(isum), acc);
    if (msum) acc = _mm256_fmadd_ps(_mm256_mul_ps(dm, a), _mm256_cvtepi32_ps(*msum), acc);
    return acc;
}

// Q4_K: codes 0-15 (unsigned into maddubs), one 6-bit scale and minimum per group.
INLINE __m256 q4_K_tile_avx2(__m256 acc, const uint8_t *b, const int8_t *q, const int16_t *s16, const float *da) {
    const __m256i nibble = _mm256_set1_epi8(0xF), ones = _mm256_set1_epi16(1);
    uint32_t w0 = u32(b + 4), w1 = u32(b + 8), w2 = u32(b + 12);
    uint32_t sc0 = w0 & 0x3F3F3F3Fu, sc1 = (w2 & 0x0F0F0F0Fu) | (((w0 >> 6) & 0x03030303u) << 4);
    uint32_t mn0 = w1 & 0x3F3F3F3Fu, mn1 = ((w2 >> 4) & 0x0F0F0F0Fu) | (((w1 >> 6) & 0x03030303u) << 4);
    __m256i scales = _mm256_cvtepu8_epi32(_mm_set_epi32(0, 0, (int)sc1, (int)sc0));
    __m256i mins = _mm256_cvtepu8_epi32(_mm_set_epi32(0, 0, (int)mn1, (int)mn0));
    __m256i p[8];
    for (int i = 0; i < 4; i++) {
        __m256i bytes = _mm256_loadu_si256((const __m256i *)(b + 16 + 32 * i));
        __m256i low = _mm256_and_si256(bytes, nibble), high = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), nibble);
        p[2 * i] = _mm256_maddubs_epi16(low, _mm256_loadu_si256((const __m256i *)(q + 64 * i)));
        p[2 * i + 1] = _mm256_maddubs_epi16(high, _mm256_loadu_si256((const __m256i *)(q + 64 * i + 32)));
    }
    __m256i first, second;
    half_sums_avx2(p, 3, &first, &second);
    __m256i isum = _mm256_mullo_epi32(_mm256_add_epi32(first, second), scales);
    // Each group's activation sum: adjacent half sums, in order.
    __m256i msum = _mm256_mullo_epi32(_mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)s16), ones), mins);
    __m256 d = factor_avx2(b), dm = _mm256_xor_ps(factor_avx2(b + 2), _mm256_set1_ps(-0.0f));   // −dmin
    return epilogue_avx2(acc, d, dm, da, isum, &msum);
}

// Q6_K: codes q − 32 with q 0-63. Σ (q − 32)·x = Σ q·x − 32·Σ x, so q goes into maddubs unsigned and
// the half sums of x take the offset off; each half has its own signed 8-bit scale.
// Half i of a Q6_K super-block's codes q (0-63: four bits of ql, two of qh): elements 128·i + 32·j + e
// in codes[j], for j < 4.
INLINE void q6_K_codes_avx2(const uint8_t *b, int i, __m256i codes[4]) {
    const __m256i four = _mm256_set1_epi8(0xF), two = _mm256_set1_epi8(3);
    __m256i low0 = _mm256_loadu_si256((const __m256i *)(b + 64 * i));
    __m256i low1 = _mm256_loadu_si256((const __m256i *)(b + 64 * i + 32));
    __m256i high = _mm256_loadu_si256((const __m256i *)(b + 128 + 32 * i));
    __m256i lows[4] = {_mm256_and_si256(low0, four), _mm256_and_si256(low1, four),
                       _mm256_and_si256(_mm256_srli_epi16(low0, 4), four),
                       _mm256_and_si256(_mm256_srli_epi16(low1, 4), four)};
    for (int j = 0; j < 4; j++) {
        __m256i top = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(high, 2 * j), two), 4);
        codes[j] = _mm256_or_si256(lows[j], top);
    }
}

INLINE __m256 q6_K_tile_avx2(__m256 acc, const uint8_t *b, const int8_t *q, const int16_t *s16, const float *da) {
    __m256i p[8];
    for (int i = 0; i < 2; i++) {                          // a half at a time: fewer registers live
        q6_K_codes_avx2(b, i, p + 4 * i);
        for (int c = 4 * i; c < 4 * i + 4; c++)
            p[c] = _mm256_maddubs_epi16(p[c], _mm256_loadu_si256((const __m256i *)(q + 32 * c)));
    }
    __m256i first, second, x1, x2;
    half_sums_avx2(p, 1, &first, &second);
    halves_avx2(s16, &x1, &x2);
    first = _mm256_sub_epi32(first, _mm256_slli_epi32(x1, 5));
    second = _mm256_sub_epi32(second, _mm256_slli_epi32(x2, 5));
    const __m128i order = _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
    __m128i scales = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(b + 192)), order);
    __m256i isum = _mm256_add_epi32(_mm256_mullo_epi32(first, _mm256_cvtepi8_epi32(scales)),
                                    _mm256_mullo_epi32(second, _mm256_cvtepi8_epi32(_mm_srli_si128(scales, 8))));
    __m256 d = factor_avx2(b + 208);
    return epilogue_avx2(acc, d, d, da, isum, NULL);
}

// Q8_0, eight blocks: signed codes (|c| times x with c's sign), one fp16 factor per block. A row's last
// tile may hold fewer `groups`: the blocks past them are neither read nor counted (partial_tile_avx2).
INLINE __m256 q8_0_tile_avx2(__m256 acc, const uint8_t *b, const int8_t *q, const float *da, int groups) {
    __m256i p[8];
    uint16_t factors[8] = {0};
    for (int g = 0; g < 8; g++) {
        const uint8_t *block = b + 34 * g;
        if (g >= groups) {
            p[g] = _mm256_setzero_si256();
            continue;
        }
        __m256i c = _mm256_loadu_si256((const __m256i *)(block + 2));
        __m256i x = _mm256_loadu_si256((const __m256i *)(q + 32 * g));
        p[g] = _mm256_maddubs_epi16(_mm256_abs_epi8(c), _mm256_sign_epi8(x, c));
        factors[g] = u16(block);
    }
    __m256i first, second;
    half_sums_avx2(p, 0, &first, &second);
    __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)factors));      // F16C: exact
    return epilogue_avx2(acc, d, _mm256_setzero_ps(), da, _mm256_add_epi32(first, second), NULL);
}

// Q5_0's and Q5_1's fifth bits: bit j of qh is element j's, 16 in byte j of the result when set.
INLINE __m256i fifth_bits(uint32_t qh) {
    const __m256i which = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                           2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32((int)qh), which);   // byte j: qh's byte j / 8
    __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(bytes, bit), bit);
    return _mm256_and_si256(set, _mm256_set1_epi8(16));
}

// The stored codes of one 32-element block: Q8_0's bytes (signed), or Q4_0's and Q4_1's nibbles (0-15;
// byte j holds element j in its low nibble and j + 16 in its high one), with Q5_0's and Q5_1's fifth
// bits (0-31).
INLINE __m256i legacy_codes(int type, const uint8_t *block) {
    legacy_layout l = legacy_layout_of(type);
    if (type == Q8_0) return _mm256_loadu_si256((const __m256i *)(block + l.codes_at));
    __m128i packed = _mm_loadu_si128((const __m128i *)(block + l.codes_at));
    __m256i codes = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(packed, 4), packed), _mm256_set1_epi8(0xF));
    return l.has_fifth_bit ? _mm256_or_si256(codes, fifth_bits(u32(block + l.codes_at - 4))) : codes;
}

// Q4_0, Q4_1, Q5_0 and Q5_1, eight blocks: codes q, 0-15 or 0-31 (legacy_codes), unsigned into maddubs.
// Q4_0's and Q5_0's codes are q − z (8, 16): Σ (q − z)·x = Σ q·x − z·Σ x. Q4_1 and Q5_1 add m·Σ x.
// `groups` as for Q8_0.
INLINE __m256 small_codes_tile_avx2(__m256 acc, int type, const uint8_t *b, const int8_t *q, const int16_t *s16,
                                    const float *da, int groups) {
    const __m256i ones = _mm256_set1_epi16(1);
    legacy_layout l = legacy_layout_of(type);
    __m256i p[8];
    uint16_t factors[8] = {0}, minimums[8] = {0};
    for (int g = 0; g < 8; g++) {
        const uint8_t *block = b + l.bytes * g;
        if (g >= groups) {
            p[g] = _mm256_setzero_si256();
            continue;
        }
        __m256i x = _mm256_loadu_si256((const __m256i *)(q + 32 * g));
        p[g] = _mm256_maddubs_epi16(legacy_codes(type, block), x);
        factors[g] = u16(block);
        minimums[g] = l.has_min ? u16(block + 2) : 0;
    }
    __m256i first, second;
    half_sums_avx2(p, l.has_fifth_bit ? 2 : 3, &first, &second);
    __m256i isum = _mm256_add_epi32(first, second);
    __m256i xsum = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)s16), ones);   // Σ x per group
    if (l.zero) isum = _mm256_sub_epi32(isum, _mm256_mullo_epi32(xsum, _mm256_set1_epi32(l.zero)));
    __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)factors));
    __m256 m = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)minimums));
    return epilogue_avx2(acc, d, m, da, isum, l.has_min ? &xsum : NULL);
}

// ---- AVX2, quantizing activations ----
// The scalar quantizer's steps on eight lanes: the same max, the same products rounded to nearest even,
// the same clamps, so the same bytes.
static void quantize_q8_avx2(const float *x, int64_t k, void *out) {
    uint8_t *bytes = out;
    float *d = (float *)bytes;
    int16_t *s16 = (int16_t *)(bytes + k / 8);
    int8_t *q = (int8_t *)(bytes + k / 4);
    const __m256 magnitude = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF)), largest = _mm256_set1_ps(FLT_MAX);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int64_t g = 0; g < k / 32; g++) {
        __m256 v[4], m = _mm256_setzero_ps();
        int finite = 1;
        for (int i = 0; i < 4; i++) {
            v[i] = _mm256_loadu_ps(x + 32 * g + 8 * i);
            __m256 a = _mm256_and_ps(v[i], magnitude);
            finite &= _mm256_movemask_ps(_mm256_cmp_ps(a, largest, _CMP_LE_OQ)) == 0xFF;
            m = _mm256_max_ps(m, a);
        }
        __m128 half = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        half = _mm_max_ps(half, _mm_movehl_ps(half, half));
        float a = _mm_cvtss_f32(_mm_max_ss(half, _mm_movehdup_ps(half)));
        float inverse = finite && a > 0 ? 127.0f / a : 0;
        if (!(inverse <= FLT_MAX)) inverse = 0;
        d[g] = !finite ? NAN : inverse == 0 ? 0 : a / 127.0f;
        if (!finite) {
            memset(q + 32 * g, 0, 32);
            s16[2 * g] = s16[2 * g + 1] = 0;
            continue;
        }
        __m256i c[4];
        for (int i = 0; i < 4; i++) {
            __m256 r = _mm256_round_ps(_mm256_mul_ps(v[i], _mm256_set1_ps(inverse)),
                                       _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            r = _mm256_min_ps(_mm256_max_ps(r, _mm256_set1_ps(-127)), _mm256_set1_ps(127));
            c[i] = _mm256_cvtps_epi32(r);
        }
        __m256i packed = _mm256_packs_epi16(_mm256_packs_epi32(c[0], c[1]), _mm256_packs_epi32(c[2], c[3]));
        _mm256_storeu_si256((__m256i *)(q + 32 * g), _mm256_permutevar8x32_epi32(packed, order));
        for (int h = 0; h < 2; h++) {
            __m256i sum = _mm256_add_epi32(c[2 * h], c[2 * h + 1]);
            __m128i four = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
            four = _mm_add_epi32(four, _mm_shuffle_epi32(four, 0x4E));
            four = _mm_add_epi32(four, _mm_shuffle_epi32(four, 0xB1));
            s16[2 * g + h] = (int16_t)_mm_cvtsi128_si32(four);
        }
    }
}

// ---- AVX2, a tile prepared once for many vectors ----
// A product of many vectors (a batch of tokens) unpacks each weight tile once and multiplies every
// vector by it. Both sides are laid out for it: the tile's 8 groups × 8 units of 4 elements are
// transposed, so that chunk i holds unit i of every group, group j in 32-bit lane j. Then maddubs and
// madd leave each group's partial sums in its own lane, and adding the chunks gives the groups' sums,
// with no horizontal adds:
//   isum_g = Σ_h sc[h]·Σ_{e in h} u[e]·q[e] − Σ_h (z·sc[h])·s16[h]      u = c + z, z the offset (0, 8, 32)
//   msum_g = Σ_h mn[h]·s16[h]
// Chunks 0-3 are every group's first half, 4-7 its second; the sub-scales ride on madd. Where codes are
// small, `span` chunks of maddubs pairs are added in int16 before one madd (bounds in span_of). The
// sums are the reference's exact integers, so the reference's epilogue gives the reference's bits.

typedef struct {
    __m256i c[GROUPS];       // chunks of the unsigned operand (maddubs, dpbusd): the codes u, or |c| where signed
    __m256i s[GROUPS];       // where codes are signed, the chunks of the codes, whose signs go onto the activations
    __m256i scale[2];        // int16: group j's first-half (scale[0]) or second-half sub-scale, in lanes 2j, 2j + 1
    __m256i offset;          // int16 per half: z·sc[h]
    __m256i mins;            // int16 per half: mn[h]
    __m256 d, dm;
    int groups, is_signed, has_offset, has_min, span;
    int chunks;              // 8; a partial tile's fewer (tail_chunks)
} prepared_tile;

// Chunks of maddubs pairs added in int16 before a madd, with no overflow: a pair is at most 2·127·|u|,
// so 8 chunks take |u| ≤ 16 (32512), 4 take |u| ≤ 32, 2 take |u| ≤ 64. Eight only where both halves of a
// group share their sub-scale.
INLINE int span_of(int type) {
    switch (type) {
    case Q4_0: case Q4_1: case Q4_K: return 8;             // |u| ≤ 15, one scale per group
    case Q2_K: case Q3_K: case Q5_0: case Q5_1: case Q5_K: return 4;
    case Q6_K: return 2;                                   // u ≤ 63
    default: return 1;                                     // Q8_0: |c| ≤ 128
    }
}

// Rows r[0..8) of 8 units of 32 bits into columns: out[i] unit j = r[j] unit i.
INLINE void transpose8_avx2(__m256i r[8]) {
    __m256i t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_epi32(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_unpacklo_epi64(t[i], t[i + 2]);
        u[i + 1] = _mm256_unpackhi_epi64(t[i], t[i + 2]);
        u[i + 2] = _mm256_unpacklo_epi64(t[i + 1], t[i + 3]);
        u[i + 3] = _mm256_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm256_permute2x128_si256(u[i], u[i + 4], 0x20);
        r[i + 4] = _mm256_permute2x128_si256(u[i], u[i + 4], 0x31);
    }
}

// Sixteen per-half sub-scales as the two madd operands.
INLINE void scales_from_halves(const int16_t *sc, __m256i scale[2]) {
    int16_t first[16], second[16];
    for (int j = 0; j < 8; j++) {
        first[2 * j] = first[2 * j + 1] = sc[2 * j];
        second[2 * j] = second[2 * j + 1] = sc[2 * j + 1];
    }
    scale[0] = _mm256_loadu_si256((const __m256i *)first);
    scale[1] = _mm256_loadu_si256((const __m256i *)second);
}

// A partial tile (a row's last groups, blocks of 32 only) takes fewer chunks: the next power of two at
// least its groups. Lane L of chunk c then holds unit c·(8/chunks) + L/chunks of group L mod chunks, and
// the lanes of a group are added after the chunks (fold_chunks). Chunks may then hold units of both halves
// of a group: that is exact because every 32-element type has one sub-scale (1) for both.
INLINE int tail_chunks(int groups) { return groups > 4 ? 8 : groups > 2 ? 4 : groups > 1 ? 2 : 1; }

// Group-major rows r[0..8) (8 units of 4 bytes each; rows past the tile's groups zero) into `chunks`
// chunks, r[0..chunks). Eight chunks is the transpose.
INLINE void into_chunks(__m256i r[8], int chunks) {
    if (chunks == GROUPS) { transpose8_avx2(r); return; }
    uint32_t in[8][8], out[8][8];
    for (int g = 0; g < chunks; g++) _mm256_storeu_si256((__m256i *)in[g], r[g]);
    for (int c = 0; c < chunks; c++)
        for (int lane = 0; lane < 8; lane++) out[c][lane] = in[lane % chunks][c * (8 / chunks) + lane / chunks];
    for (int c = 0; c < chunks; c++) r[c] = _mm256_loadu_si256((const __m256i *)out[c]);
}

// Lane g of the sums of `chunks` chunks: the lanes that hold group g added.
INLINE __m256i fold_chunks(__m256i isum, int chunks) {
    if (chunks <= 4) isum = _mm256_add_epi32(isum, _mm256_permute2x128_si256(isum, isum, 0x01));
    if (chunks <= 2) isum = _mm256_add_epi32(isum, _mm256_shuffle_epi32(isum, 0x4E));
    if (chunks <= 1) isum = _mm256_add_epi32(isum, _mm256_shuffle_epi32(isum, 0xB1));
    return isum;
}

// Group-major codes in c (and s) into chunks.
INLINE void finish_prepared(prepared_tile *p) {
    p->chunks = tail_chunks(p->groups);
    into_chunks(p->c, p->chunks);
    if (p->is_signed) into_chunks(p->s, p->chunks);
}

// The offset z that makes a type's codes unsigned (u = c + z), Q8_0's apart: those stay signed.
INLINE int zero_point(int type) {
    return type == Q4_0 ? 8 : type == Q5_0 ? 16 : type == Q3_K ? 4 : type == Q6_K ? 32 : 0;
}

// Any type, any tile: the reference's unpacking, then its integer form as operands, in the form the
// fast preparations below give their types.
static void prepare_from_tile(int type, const uint8_t *row, int64_t start, int groups, int elements, int bytes,
                              prepared_tile *p) {
    tile t;
    unpack_tile_scalar(type, row, start, groups, elements, bytes, &t);
    for (int g = groups; g < GROUPS; g++) {               // a partial tile: the missing groups count as zero
        memset(t.c + 32 * g, 0, 32);
        t.mn[2 * g] = t.mn[2 * g + 1] = 0;
        t.d[g] = t.dm[g] = 0;
        // Their sub-scale is the others' (1: partial tiles are of 32-element types), so that the scale
        // vectors stay right for a partial tile's chunks, whose lanes hold units of the groups there are.
        t.sc[2 * g] = t.sc[2 * g + 1] = t.sc[0];
    }
    int z = zero_point(type);
    int16_t offset[16];
    for (int h = 0; h < 16; h++) offset[h] = (int16_t)(z * t.sc[h]);
    p->is_signed = type == Q8_0;
    for (int g = 0; g < GROUPS; g++) {
        __m256i c = _mm256_add_epi8(_mm256_load_si256((const __m256i *)(t.c + 32 * g)), _mm256_set1_epi8((char)z));
        p->c[g] = p->is_signed ? _mm256_abs_epi8(c) : c;
        p->s[g] = c;
    }
    scales_from_halves(t.sc, p->scale);
    p->mins = _mm256_loadu_si256((const __m256i *)t.mn);
    p->offset = _mm256_loadu_si256((const __m256i *)offset);
    p->d = _mm256_loadu_ps(t.d);
    p->dm = _mm256_loadu_ps(t.dm);
    p->groups = groups, p->has_offset = z != 0, p->span = span_of(type);
    q8_block_shape(type, &elements, &bytes, &p->has_min);
    finish_prepared(p);
}

// Q4_K: codes 0-15, a 6-bit scale and minimum per group.
INLINE void prepare_q4_K(const uint8_t *b, prepared_tile *p) {
    const __m256i nibble = _mm256_set1_epi8(0xF);
    uint32_t w0 = u32(b + 4), w1 = u32(b + 8), w2 = u32(b + 12);
    uint32_t sc0 = w0 & 0x3F3F3F3Fu, sc1 = (w2 & 0x0F0F0F0Fu) | (((w0 >> 6) & 0x03030303u) << 4);
    uint32_t mn0 = w1 & 0x3F3F3F3Fu, mn1 = ((w2 >> 4) & 0x0F0F0F0Fu) | (((w1 >> 6) & 0x03030303u) << 4);
    for (int i = 0; i < 4; i++) {
        __m256i bytes = _mm256_loadu_si256((const __m256i *)(b + 16 + 32 * i));
        p->c[2 * i] = _mm256_and_si256(bytes, nibble);
        p->c[2 * i + 1] = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), nibble);
    }
    __m128i sc = _mm_set_epi32(0, 0, (int)sc1, (int)sc0), mn = _mm_set_epi32(0, 0, (int)mn1, (int)mn0);
    p->scale[0] = p->scale[1] = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(sc, sc));   // both halves, lanes 2j, 2j + 1
    p->mins = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mn, mn));
    p->d = _mm256_set1_ps(half(u16(b)));
    p->dm = _mm256_set1_ps(-half(u16(b + 2)));
    p->groups = GROUPS, p->is_signed = 0, p->has_offset = 0, p->has_min = 1, p->span = 8;
    finish_prepared(p);
}

// Q6_K: u = q with q 0-63 (four bits of ql, two of qh), offset 32, a signed 8-bit scale per half.
INLINE void prepare_q6_K(const uint8_t *b, prepared_tile *p) {
    for (int i = 0; i < 2; i++) q6_K_codes_avx2(b, i, p->c + 4 * i);
    __m128i sc = _mm_loadu_si128((const __m128i *)(b + 192));
    const __m128i even = _mm_setr_epi8(0, 0, 2, 2, 4, 4, 6, 6, 8, 8, 10, 10, 12, 12, 14, 14);
    const __m128i odd = _mm_setr_epi8(1, 1, 3, 3, 5, 5, 7, 7, 9, 9, 11, 11, 13, 13, 15, 15);
    p->scale[0] = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(sc, even));
    p->scale[1] = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(sc, odd));
    p->offset = _mm256_slli_epi16(_mm256_cvtepi8_epi16(sc), 5);
    p->mins = _mm256_setzero_si256();
    p->d = p->dm = _mm256_set1_ps(half(u16(b + 208)));
    p->groups = GROUPS, p->is_signed = 0, p->has_offset = 1, p->has_min = 0, p->span = 2;
    finish_prepared(p);
}

// Up to eight 32-element blocks: Q8_0 (signed codes), Q4_0 (u = q, offset 8), Q4_1 (u = q, minimum m);
// a partial tile's missing groups count as zero. The fp16 factors convert with F16C, exactly.
INLINE void prepare_legacy8(int type, const uint8_t *b, int groups, prepared_tile *p) {
    int bytes = legacy_layout_of(type).bytes;
    uint16_t factors[GROUPS] = {0}, minimums[GROUPS] = {0};
    for (int g = 0; g < GROUPS; g++) {
        const uint8_t *block = b + bytes * g;
        if (g >= groups) {
            p->c[g] = p->s[g] = _mm256_setzero_si256();
            continue;
        }
        __m256i c = legacy_codes(type, block);
        p->c[g] = type == Q8_0 ? _mm256_abs_epi8(c) : c;
        if (type == Q8_0) p->s[g] = c;
        factors[g] = u16(block);
        if (type == Q4_1) minimums[g] = u16(block + 2);
    }
    p->scale[0] = p->scale[1] = _mm256_set1_epi16(1);
    p->offset = _mm256_set1_epi16(type == Q4_0 ? 8 : 0);
    p->mins = _mm256_set1_epi16(type == Q4_1);
    p->d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)factors));
    p->dm = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)minimums));
    p->groups = groups, p->is_signed = type == Q8_0, p->has_offset = type == Q4_0, p->has_min = type == Q4_1;
    p->span = span_of(type);
    finish_prepared(p);
}

// The commonest types, whose tiles the AVX2 path unpacks in registers for one vector (partial tiles of
// the 32-element ones included). prepare_legacy8 (the AVX2 batches) reads only Q8_0, Q4_0 and Q4_1.
INLINE int tiles_in_registers(int type) {
    return type == Q4_K || type == Q6_K || type == Q8_0 || type == Q4_0 || type == Q4_1 || type == Q5_0 || type == Q5_1;
}

// The tile of `row` starting at element `start`.
INLINE void prepare_tile(int type, const uint8_t *row, int64_t start, int groups, int elements, int bytes,
                         prepared_tile *p) {
    if (type == Q4_K) prepare_q4_K(row + start / 256 * bytes, p);
    else if (type == Q6_K) prepare_q6_K(row + start / 256 * bytes, p);
    else if (type == Q8_0 || type == Q4_0 || type == Q4_1) prepare_legacy8(type, row + start / 32 * bytes, groups, p);
    else prepare_from_tile(type, row, start, groups, elements, bytes, p);
}

// A vector's activations laid out for prepared tiles: per tile, its 256 codes in chunks, then its 16
// half sums and 8 factors; a row's last, partial tile padded with zeros.
typedef struct { const int8_t *q; const int16_t *s16; const float *d; } chunked_vector;

INLINE size_t chunked_bytes(int64_t k) { return (size_t)((k + TILE - 1) / TILE) * (TILE + 32 + 32); }

INLINE chunked_vector chunked_view(const uint8_t *x, int64_t k) {
    int64_t tiles = (k + TILE - 1) / TILE;
    return (chunked_vector){(const int8_t *)x, (const int16_t *)(x + tiles * TILE), (const float *)(x + tiles * (TILE + 32))};
}

// The tile of x starting at `start`, chunked: codes into q[256], half sums into s16[16], factors into d[8].
INLINE void chunk_tile(q8_vector x, int64_t k, int64_t start, int8_t *q, int16_t *s16, float *d) {
    int groups = (int)((k - start < TILE ? k - start : TILE) / 32);
    __m256i r[8];
    for (int g = 0; g < GROUPS; g++) {
        r[g] = g < groups ? _mm256_loadu_si256((const __m256i *)(x.q + start + 32 * g)) : _mm256_setzero_si256();
        s16[2 * g] = g < groups ? x.s16[start / 16 + 2 * g] : 0;
        s16[2 * g + 1] = g < groups ? x.s16[start / 16 + 2 * g + 1] : 0;
        d[g] = g < groups ? x.d[start / 32 + g] : 0;
    }
    into_chunks(r, tail_chunks(groups));
    for (int i = 0; i < 8; i++) _mm256_storeu_si256((__m256i *)(q + 32 * i), r[i]);
}

static void chunk_activations(q8_vector x, int64_t k, uint8_t *out) {
    int64_t tiles = (k + TILE - 1) / TILE;
    int8_t *q = (int8_t *)out;
    int16_t *s16 = (int16_t *)(out + tiles * TILE);
    float *d = (float *)(out + tiles * (TILE + 32));
    for (int64_t t = 0; t < tiles; t++) chunk_tile(x, k, t * TILE, q + t * TILE, s16 + 16 * t, d + 8 * t);
}

// A tile's form: how its sums are made. Each form's loops are compiled with its flags as constants.
typedef struct { int span, is_signed, has_offset, has_min; } tile_form;

// Vectors multiplied by each row's tiles, prepared once: the block of vectors whose chunked activations
// stay in the nearest caches.
enum { VECTOR_BLOCK = 16 };

// acc (lane[0..8) of one vector) after a tile whose exact integer sums are `isum`: the offset, the
// minimums and the reference's epilogue. A partial tile leaves the lanes of its missing groups as they were.
INLINE __m256 finish_tile_avx2(const prepared_tile *p, __m256i isum, const int16_t *s16, const float *da,
                               __m256 acc, tile_form f) {
    __m256i halves = _mm256_loadu_si256((const __m256i *)s16);
    if (f.has_offset) isum = _mm256_sub_epi32(isum, _mm256_madd_epi16(halves, p->offset));
    __m256 a = _mm256_loadu_ps(da);
    __m256 out = _mm256_fmadd_ps(_mm256_mul_ps(p->d, a), _mm256_cvtepi32_ps(isum), acc);
    if (f.has_min) out = _mm256_fmadd_ps(_mm256_mul_ps(p->dm, a), _mm256_cvtepi32_ps(_mm256_madd_epi16(halves, p->mins)), out);
    if (p->groups == GROUPS) return out;
    __m256i kept = _mm256_cmpgt_epi32(_mm256_set1_epi32(p->groups), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    return _mm256_blendv_ps(acc, out, _mm256_castsi256_ps(kept));
}

// acc after the tile, its sums by maddubs: `span` chunks of pairs added in int16, then one madd with the
// sub-scales. `chunks` is GROUPS (a constant, so that the loops unroll) for whole tiles, else p->chunks.
INLINE __m256 apply_tile_avx2(const prepared_tile *p, const int8_t *q, const int16_t *s16, const float *da,
                              __m256 acc, tile_form f, int chunks) {
    __m256i isum = _mm256_setzero_si256();
    int span = f.span < chunks ? f.span : chunks;
    for (int i = 0; i < chunks; i += span) {
        __m256i pairs = _mm256_setzero_si256();
        for (int j = i; j < i + span; j++) {
            __m256i x = _mm256_loadu_si256((const __m256i *)(q + 32 * j));
            if (f.is_signed) x = _mm256_sign_epi8(x, p->s[j]);
            __m256i m = _mm256_maddubs_epi16(p->c[j], x);
            pairs = j == i ? m : _mm256_add_epi16(pairs, m);
        }
        isum = _mm256_add_epi32(isum, _mm256_madd_epi16(pairs, p->scale[2 * i / chunks]));
    }
    if (chunks < GROUPS) isum = fold_chunks(isum, chunks);
    return finish_tile_avx2(p, isum, s16, da, acc, f);
}

// The AVX2 path's registers: one row at a time, its eight lanes in one register.
INLINE void store_avx2(__m256 acc, int here, float *y) {
    (void)here;
    float lane[GROUPS];
    _mm256_storeu_ps(lane, acc);
    y[0] = fold8(lane);
}

#define ROWS_AT_ONCE 1
#define OPERAND prepared_tile
#define OPERANDS(tiles, here, n, scratch) (tiles)
#define SCRATCH_BYTES(n) 0
#define ACCUMULATOR __m256
#define ZERO _mm256_setzero_ps
#define APPLY apply_tile_avx2
#define STORE store_avx2
#define MULTIPLY_ROWS multiply_rows_avx2
#define DOT_ROWS_PREPARED dot_rows_prepared_avx2
#include "q8_rows.h"

// acc after a row's whole tiles: a loop per type, each with its one kernel inlined (one loop that chose
// the kernel per tile ran Q4_K a fifth slower). The types are tiles_in_registers'.
INLINE __m256 whole_tiles_avx2(int type, const uint8_t *row, int bytes, q8_vector x, int64_t whole) {
    __m256 acc = _mm256_setzero_ps();
#define EACH_TILE(tile_avx2, ...) \
    for (int64_t s = 0; s < whole; s += TILE) acc = tile_avx2(acc, __VA_ARGS__); \
    return acc
#define BLOCKS(elements) row + s / elements * bytes
    switch (type) {
    case Q4_K: EACH_TILE(q4_K_tile_avx2, BLOCKS(256), x.q + s, x.s16 + s / 16, x.d + s / 32);
    case Q6_K: EACH_TILE(q6_K_tile_avx2, BLOCKS(256), x.q + s, x.s16 + s / 16, x.d + s / 32);
    case Q8_0: EACH_TILE(q8_0_tile_avx2, BLOCKS(32), x.q + s, x.d + s / 32, GROUPS);
    case Q4_0: EACH_TILE(small_codes_tile_avx2, Q4_0, BLOCKS(32), x.q + s, x.s16 + s / 16, x.d + s / 32, GROUPS);
    case Q4_1: EACH_TILE(small_codes_tile_avx2, Q4_1, BLOCKS(32), x.q + s, x.s16 + s / 16, x.d + s / 32, GROUPS);
    case Q5_0: EACH_TILE(small_codes_tile_avx2, Q5_0, BLOCKS(32), x.q + s, x.s16 + s / 16, x.d + s / 32, GROUPS);
    default: EACH_TILE(small_codes_tile_avx2, Q5_1, BLOCKS(32), x.q + s, x.s16 + s / 16, x.d + s / 32, GROUPS);
    }
#undef BLOCKS
#undef EACH_TILE
}

// acc after a row's last tile of `groups` < 8 blocks of 32 (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1) from `start`: the
// whole tiles' kernel, its half sums and factors read from copies padded with zeros, and the lanes of the
// missing groups kept as they were, as the reference leaves them.
INLINE __m256 partial_tile_avx2(__m256 acc, int type, const uint8_t *b, q8_vector x, int64_t start, int groups) {
    int16_t s16[16] = {0};
    float da[GROUPS] = {0};
    memcpy(s16, x.s16 + start / 16, sizeof(int16_t) * 2 * groups);
    memcpy(da, x.d + start / 32, sizeof(float) * groups);
    __m256 out = type == Q8_0 ? q8_0_tile_avx2(acc, b, x.q + start, da, groups)
                              : small_codes_tile_avx2(acc, type, b, x.q + start, s16, da, groups);
    __m256i kept = _mm256_cmpgt_epi32(_mm256_set1_epi32(groups), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    return _mm256_blendv_ps(acc, out, _mm256_castsi256_ps(kept));
}

// One row of a type above against one vector.
INLINE void dot_row_in_registers_avx2(int type, const uint8_t *row, int bytes, q8_vector x, int64_t k, float *lane) {
    int64_t whole = k / TILE * TILE;
    __m256 acc = whole_tiles_avx2(type, row, bytes, x, whole);
    if (whole < k) acc = partial_tile_avx2(acc, type, row + whole / 32 * bytes, x, whole, (int)((k - whole) / 32));
    _mm256_storeu_ps(lane, acc);
}

// Rows times one vector, the commonest types' tiles unpacked in registers.
static void dot_rows_in_registers_avx2(DOT_Q8_ARGUMENTS) {
    (void)elements, (void)has_min;
    for (int64_t r = 0; r < rows; r++) {
        const uint8_t *row = w0 + r * row_bytes;
        for (int64_t v = 0; v < vectors; v++) {
            dot_row_in_registers_avx2(type, row, bytes, q8_view(xq + v * stride, k), k, lanes + GROUPS * v);
            y[v * ldy + r] = fold8(lanes + GROUPS * v);
        }
    }
}

// Few vectors (a decoding step) take the commonest types with nothing between the block's bytes and
// the lanes; many vectors, and the other types, take each tile prepared once.
enum { FEW_VECTORS = 1 };
INLINE int in_registers(int type, int64_t vectors) { return vectors <= FEW_VECTORS && tiles_in_registers(type); }

static void dot_rows_q8_avx2(DOT_Q8_ARGUMENTS) {
    if (in_registers(type, vectors)) dot_rows_in_registers_avx2(DOT_Q8_PASS);
    else dot_rows_prepared_avx2(DOT_Q8_PASS);
}

#pragma clang attribute pop

// ---- AVX-512 VNNI ------------------------------------------------------------------------------------
// The AVX2 path's prepared tiles and chunked activations, two rows at a time in 512-bit registers: a
// pair's chunk i holds row a's chunk i in its low half and row b's in its high half, and each vector's
// chunk is broadcast to both halves, so that one vpdpbusd (four unsigned-by-signed byte products added
// into each int32 lane, exactly: no int16 step, so no span to respect) serves two rows. One chain of
// sums per half of the groups; the sub-scales multiply the two halves' sums; then the AVX2 path's
// epilogue on 16 lanes, row a's eight and row b's. A decoding step's single vector takes the AVX2
// path's in-register kernels, and a batch of PANEL_VECTORS or more the panels further below.
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni"))), \
                             apply_to = function)

typedef struct {
    __m512i c[GROUPS];          // chunk i of row a (low half) and of row b (high half)
    __mmask64 negative[GROUPS]; // where codes are signed: the bytes whose code is negative
    __m512i scale[2];           // int32: the sub-scales of the groups' first halves, and of their second
    __m512i offset, mins;       // int16 per half, as prepared_tile's
    __m512 d, dm;
    __mmask16 kept;             // the lanes of the groups there are (a partial tile's fewer)
    int groups, chunks;
} prepared_pair;

INLINE __m512i pair_of(__m256i a, __m256i b) { return _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1); }
INLINE __m512 pair_of_ps(__m256 a, __m256 b) {
    return _mm512_castsi512_ps(pair_of(_mm256_castps_si256(a), _mm256_castps_si256(b)));
}
INLINE __m512i both_halves(const void *p) { return _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)p)); }

// Tiles a and b (of two rows, at the same place) as a pair.
INLINE void pair_tiles(const prepared_tile *a, const prepared_tile *b, prepared_pair *p) {
    for (int i = 0; i < GROUPS; i++) {
        p->c[i] = pair_of(a->c[i], b->c[i]);
        if (a->is_signed) p->negative[i] = _mm512_movepi8_mask(pair_of(a->s[i], b->s[i]));
    }
    // The madd operands hold each sub-scale in both int16 halves of its lane: a shift makes it an int32.
    for (int h = 0; h < 2; h++) p->scale[h] = _mm512_srai_epi32(pair_of(a->scale[h], b->scale[h]), 16);
    p->offset = pair_of(a->offset, b->offset);
    p->mins = pair_of(a->mins, b->mins);
    p->d = pair_of_ps(a->d, b->d);
    p->dm = pair_of_ps(a->dm, b->dm);
    unsigned groups = (1u << a->groups) - 1;
    p->kept = (__mmask16)(groups | groups << 8);
    p->groups = a->groups, p->chunks = a->chunks;
}

// Lane g of each half of the sums of `chunks` chunks: fold_chunks within each half.
INLINE __m512i fold_chunks_pair(__m512i isum, int chunks) {
    if (chunks <= 4) isum = _mm512_add_epi32(isum, _mm512_shuffle_i64x2(isum, isum, 0xB1));
    if (chunks <= 2) isum = _mm512_add_epi32(isum, _mm512_shuffle_epi32(isum, (_MM_PERM_ENUM)0x4E));
    if (chunks <= 1) isum = _mm512_add_epi32(isum, _mm512_shuffle_epi32(isum, (_MM_PERM_ENUM)0xB1));
    return isum;
}

// acc (lanes 0-7 of row a, 8-15 of row b, for one vector) after the pair: the reference's integer sums
// and epilogue, as apply_tile_avx2. `chunks` is GROUPS for whole tiles, else p->chunks.
INLINE __m512 apply_pair(const prepared_pair *p, const int8_t *q, const int16_t *s16, const float *da,
                         __m512 acc, tile_form f, int chunks) {
    __m512i first = _mm512_setzero_si512(), second = _mm512_setzero_si512();
    for (int i = 0; i < chunks; i++) {
        __m512i x = both_halves(q + 32 * i);
        if (f.is_signed) x = _mm512_mask_sub_epi8(x, p->negative[i], _mm512_setzero_si512(), x);
        if (2 * i < chunks) first = _mm512_dpbusd_epi32(first, p->c[i], x);
        else second = _mm512_dpbusd_epi32(second, p->c[i], x);
    }
    __m512i isum = _mm512_add_epi32(_mm512_mullo_epi32(first, p->scale[0]), _mm512_mullo_epi32(second, p->scale[1]));
    if (chunks < GROUPS) isum = fold_chunks_pair(isum, chunks);
    __m512i halves = both_halves(s16);
    if (f.has_offset) isum = _mm512_sub_epi32(isum, _mm512_madd_epi16(halves, p->offset));
    __m512 a = _mm512_castsi512_ps(both_halves(da));
    __m512 out = _mm512_fmadd_ps(_mm512_mul_ps(p->d, a), _mm512_cvtepi32_ps(isum), acc);
    if (f.has_min) out = _mm512_fmadd_ps(_mm512_mul_ps(p->dm, a), _mm512_cvtepi32_ps(_mm512_madd_epi16(halves, p->mins)), out);
    return p->groups == GROUPS ? out : _mm512_mask_blend_ps(p->kept, acc, out);
}

// The pairs of one or two rows whose tiles are at tiles and tiles + n, built in `pairs`. A lone row is
// paired with itself, its second half's results dropped.
INLINE const prepared_pair *pairs_of(const prepared_tile *tiles, int here, int64_t n, prepared_pair *pairs) {
    for (int64_t t = 0; t < n; t++) pair_tiles(tiles + t, tiles + (here - 1) * n + t, pairs + t);
    return pairs;
}

// Row a's lanes are the low half, row b's the high half.
INLINE void store_pair(__m512 acc, int here, float *y) {
    float lane[2 * GROUPS];
    _mm512_storeu_ps(lane, acc);
    for (int i = 0; i < here; i++) y[i] = fold8(lane + GROUPS * i);
}

#define ROWS_AT_ONCE 2
#define OPERAND prepared_pair
#define OPERANDS(tiles, here, n, scratch) pairs_of(tiles, here, n, scratch)
#define SCRATCH_BYTES(n) (sizeof(prepared_pair) * (size_t)(n))
#define ACCUMULATOR __m512
#define ZERO _mm512_setzero_ps
#define APPLY apply_pair
#define STORE store_pair
#define MULTIPLY_ROWS multiply_rows_avx512
#define DOT_ROWS_PREPARED dot_rows_prepared_avx512
#include "q8_rows.h"

// ---- AVX-512 VNNI, panels of sixteen rows ------------------------------------------------------------
// A batch takes sixteen rows at a time, one row in each int32 lane, so that one vpdpbusd adds four
// products for each of sixteen rows and no lanes are ever added across. The codes c of the reference's
// integer form are vpdpbusd's signed operand, and the activations, as u = q + 128 (1-255), its unsigned
// one:
//   Σ c·q = Σ c·u − 128·Σ c,
// so each half's sum starts at −128·Σ c and ends exact. A panel's tile holds, for group g and step s
// (elements 32g + 4s ..< 32g + 4s + 4), every row's four codes in its lane; then, per group, the rows'
// starts, sub-scales, minimums and factors. The epilogue is the reference's, lane by lane: eight
// accumulators per vector (its lanes g), folded as fold8. A partial tile's missing groups are never
// applied; missing rows are zeros in the panel, and their lanes (which a NaN factor may reach) are not
// stored. Each panel is prepared once for all the vectors: a batch of many vectors pays for it.

// Rows per panel; the fewest vectors that take panels; vectors that pass a panel's tiles together; tiles
// of a panel a vector passes at once (30 KB: the nearest cache of a Zen 4 or 5, an Ice Lake or later);
// bytes of panels prepared at once (half an L2).
enum { PANEL_ROWS = 16, PANEL_VECTORS = 32, PANEL_VECTOR_BLOCK = 32, TILE_BLOCK = 4, PANEL_BUDGET = 512 << 10 };

typedef struct {
    __m512i w[GROUPS][8];        // int8: step s of group g, four codes per row
    __m512i start[GROUPS][2];    // int32: −128·Σ c over each half of the group (over both in [0] where the
                                 // halves share their sub-scale)
    __m512i sc[GROUPS][2];       // int32: each half's sub-scale
    __m512i mn[GROUPS];          // int16 pairs: the two halves' minimums
    __m512 d[GROUPS], dm[GROUPS];
} panel_tile;

// How a type's sums are made: sub-scales other than 1, sub-scales that differ between the halves of a
// group, a minimum's term, minimums that are all 1 (so msum = s16[2g] + s16[2g + 1], the same for every
// row). Each form's loops are compiled with its flags as constants.
typedef struct { int scaled, per_half, has_min, unit_min; } panel_form;

// The one place a type's form is written; its loops take it as constants through multiply_panels.
INLINE panel_form panel_form_of(int type) {
    switch (type) {
    case Q4_K: case Q5_K: return (panel_form){1, 0, 1, 0};
    case Q3_K: case Q6_K: return (panel_form){1, 1, 0, 0};
    case Q2_K: return (panel_form){1, 1, 1, 0};
    case Q4_1: case Q5_1: return (panel_form){0, 0, 1, 1};
    default: return (panel_form){0, 0, 0, 0};          // Q4_0, Q5_0, Q8_0
    }
}

// Up to eight blocks of Q8_0 (c = q), Q4_0 or Q5_0 (c = q − 8, q − 16), Q4_1 or Q5_1 (c = q, minimums 1)
// in integer form, the codes in registers and the fp16 factors converted by F16C (exact), as
// unpack_legacy writes them.
INLINE void integer_legacy8(int type, const uint8_t *b, int groups, int bytes, tile *t) {
    uint16_t factors[GROUPS] = {0}, minimums[GROUPS] = {0};
    legacy_layout l = legacy_layout_of(type);
    for (int g = 0; g < groups; g++) {
        const uint8_t *block = b + bytes * g;
        __m256i c = _mm256_sub_epi8(legacy_codes(type, block), _mm256_set1_epi8((char)l.zero));
        _mm256_store_si256((__m256i *)(t->c + 32 * g), c);
        factors[g] = u16(block);
        if (l.has_min) minimums[g] = u16(block + 2);
        t->sc[2 * g] = t->sc[2 * g + 1] = 1;
        t->mn[2 * g] = t->mn[2 * g + 1] = (int16_t)l.has_min;
    }
    _mm256_storeu_ps(t->d, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)factors)));
    _mm256_storeu_ps(t->dm, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)minimums)));
}

// One row's tile in integer form, its missing groups zero: Q4_K's, Q6_K's and the commonest 32-element
// types' codes in registers, the other types' as the reference unpacks them.
INLINE void integer_tile(int type, const uint8_t *row, int64_t start, int groups, int elements, int bytes,
                         tile *t) {
    memset(t, 0, sizeof(tile));
    const uint8_t *b = row + start / 256 * bytes;
    if (type == Q4_K) {
        const __m256i nibble = _mm256_set1_epi8(0xF);
        for (int i = 0; i < 4; i++) {
            __m256i packed = _mm256_loadu_si256((const __m256i *)(b + 16 + 32 * i));
            _mm256_store_si256((__m256i *)(t->c + 64 * i), _mm256_and_si256(packed, nibble));
            _mm256_store_si256((__m256i *)(t->c + 64 * i + 32), _mm256_and_si256(_mm256_srli_epi16(packed, 4), nibble));
        }
        unpack_k_scales(type, b, t);
    } else if (type == Q6_K) {
        __m256i codes[4];
        for (int i = 0; i < 2; i++) {
            q6_K_codes_avx2(b, i, codes);
            for (int j = 0; j < 4; j++)
                _mm256_store_si256((__m256i *)(t->c + 128 * i + 32 * j),
                                   _mm256_sub_epi8(codes[j], _mm256_set1_epi8(32)));
        }
        unpack_k_scales(type, b, t);
    } else if (elements == 32) {
        integer_legacy8(type, row + start / 32 * bytes, groups, bytes, t);
    } else {
        unpack_tile_scalar(type, row, start, groups, elements, bytes, t);
    }
}

// Sixteen rows' tiles as a panel's tile: the codes transposed eight rows at a time, the rest per lane.
INLINE void panel_from_tiles(const tile *rows, int shared, panel_tile *p) {
    const __m512i ones = _mm512_set1_epi8(1);
    for (int g = 0; g < GROUPS; g++) {
        __m256i low[8], high[8];
        for (int i = 0; i < 8; i++) {
            low[i] = _mm256_load_si256((const __m256i *)(rows[i].c + 32 * g));
            high[i] = _mm256_load_si256((const __m256i *)(rows[8 + i].c + 32 * g));
        }
        transpose8_avx2(low);
        transpose8_avx2(high);
        for (int s = 0; s < 8; s++) p->w[g][s] = pair_of(low[s], high[s]);
        for (int h = 0; h < 2; h++) {                      // Σ c over the half: codes times ones
            __m512i sum = _mm512_setzero_si512();
            for (int s = 4 * h; s < 4 * h + 4; s++) sum = _mm512_dpbusd_epi32(sum, ones, p->w[g][s]);
            p->start[g][h] = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(sum, 7));
        }
        if (shared) {                                      // one chain of sums for the group
            p->start[g][0] = _mm512_add_epi32(p->start[g][0], p->start[g][1]);
            p->start[g][1] = _mm512_setzero_si512();
        }
        int32_t sc[2][PANEL_ROWS];
        int16_t mn[2 * PANEL_ROWS];
        float d[PANEL_ROWS], dm[PANEL_ROWS];
        for (int i = 0; i < PANEL_ROWS; i++) {
            sc[0][i] = rows[i].sc[2 * g], sc[1][i] = rows[i].sc[2 * g + 1];
            mn[2 * i] = rows[i].mn[2 * g], mn[2 * i + 1] = rows[i].mn[2 * g + 1];
            d[i] = rows[i].d[g], dm[i] = rows[i].dm[g];
        }
        for (int h = 0; h < 2; h++) p->sc[g][h] = _mm512_loadu_si512(sc[h]);
        p->mn[g] = _mm512_loadu_si512(mn);
        p->d[g] = _mm512_loadu_ps(d);
        p->dm[g] = _mm512_loadu_ps(dm);
    }
}

// The panel of `here` ≤ 16 rows from w0: one panel tile per tile of the rows.
static void prepare_panel(int type, const uint8_t *w0, size_t row_bytes, int here, int64_t k, int elements,
                          int bytes, panel_tile *panel) {
    tile rows[PANEL_ROWS];
    for (int64_t t = 0; t < (k + TILE - 1) / TILE; t++) {
        int groups = (int)((k - t * TILE < TILE ? k - t * TILE : TILE) / 32);
        for (int i = 0; i < PANEL_ROWS; i++) {
            if (i < here) integer_tile(type, w0 + i * row_bytes, t * TILE, groups, elements, bytes, rows + i);
            else memset(rows + i, 0, sizeof(tile));
        }
        panel_from_tiles(rows, !panel_form_of(type).per_half, panel + t);
    }
}

// A vector's activations for panels, per tile: codes u = q + 128 (n·256 bytes), then half sums (n·16
// int16), then factors (n·8 floats), then each group's sum s16[2g] + s16[2g + 1] as a float (exact: at
// most 32·127); a partial last tile's missing groups as u = 128, s16 = 0, d = 0, sum 0.
typedef struct { const uint8_t *u; const int16_t *s16; const float *d, *sum; } offset_vector;

INLINE size_t offset_bytes(int64_t tiles) { return (size_t)tiles * (TILE + 32 + 32 + 32); }

INLINE offset_vector offset_view(const uint8_t *x, int64_t tiles) {
    return (offset_vector){x, (const int16_t *)(x + tiles * TILE), (const float *)(x + tiles * (TILE + 32)),
                           (const float *)(x + tiles * (TILE + 64))};
}

static void offset_activations(q8_vector x, int64_t k, uint8_t *out) {
    int64_t tiles = (k + TILE - 1) / TILE;
    uint8_t *u = out;
    const __m256i flip = _mm256_set1_epi8((char)0x80);
    for (int64_t e = 0; e < k; e += 32)
        _mm256_storeu_si256((__m256i *)(u + e), _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(x.q + e)), flip));
    memset(u + k, 0x80, (size_t)(tiles * TILE - k));
    int16_t *s16 = (int16_t *)(out + tiles * TILE);
    memcpy(s16, x.s16, sizeof(int16_t) * (size_t)(k / 16));
    memset(s16 + k / 16, 0, sizeof(int16_t) * (size_t)(tiles * 16 - k / 16));
    float *d = (float *)(out + tiles * (TILE + 32));
    memcpy(d, x.d, sizeof(float) * (size_t)(k / 32));
    memset(d + k / 32, 0, sizeof(float) * (size_t)(tiles * 8 - k / 32));
    float *sum = (float *)(out + tiles * (TILE + 64));
    for (int64_t g = 0; g < tiles * 8; g++) sum[g] = g < k / 32 ? (float)(s16[2 * g] + s16[2 * g + 1]) : 0;
}

INLINE __m512i broadcast4(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

// Group g's isum for one vector, whose codes u of the group are at u: the reference's exact integer.
INLINE __m512i panel_isum(const panel_tile *p, int g, const uint8_t *u, panel_form f) {
    if (!f.per_half) {                                     // the halves share their sub-scale: two chains, added
        __m512i h0 = p->start[g][0], h1 = _mm512_setzero_si512();
        for (int s = 0; s < 8; s += 2) {
            h0 = _mm512_dpbusd_epi32(h0, broadcast4(u + 4 * s), p->w[g][s]);
            h1 = _mm512_dpbusd_epi32(h1, broadcast4(u + 4 * s + 4), p->w[g][s + 1]);
        }
        __m512i sum = _mm512_add_epi32(h0, h1);
        return f.scaled ? _mm512_mullo_epi32(sum, p->sc[g][0]) : sum;
    }
    __m512i h0 = p->start[g][0], h1 = p->start[g][1];
    for (int s = 0; s < 4; s++) h0 = _mm512_dpbusd_epi32(h0, broadcast4(u + 4 * s), p->w[g][s]);
    for (int s = 4; s < 8; s++) h1 = _mm512_dpbusd_epi32(h1, broadcast4(u + 4 * s), p->w[g][s]);
    return _mm512_add_epi32(_mm512_mullo_epi32(h0, p->sc[g][0]), _mm512_mullo_epi32(h1, p->sc[g][1]));
}

// acc (lane g of sixteen rows) after group g: the reference's epilogue, with the vector's factor da, its
// half sums at s16 and their sum.
INLINE __m512 panel_epilogue(const panel_tile *p, int g, __m512i isum, const int16_t *s16, float da, float sum,
                             __m512 acc, panel_form f) {
    __m512 a = _mm512_set1_ps(da);
    acc = _mm512_fmadd_ps(_mm512_mul_ps(p->d[g], a), _mm512_cvtepi32_ps(isum), acc);
    if (!f.has_min) return acc;
    __m512 msum = _mm512_set1_ps(sum);
    if (!f.unit_min) {
        int32_t halves;
        memcpy(&halves, s16, 4);
        msum = _mm512_cvtepi32_ps(_mm512_madd_epi16(p->mn[g], _mm512_set1_epi32(halves)));
    }
    return _mm512_fmadd_ps(_mm512_mul_ps(p->dm[g], a), msum, acc);
}

// The first `groups` groups of tile t, for two vectors.
INLINE void apply_panel_tile(const panel_tile *p, int64_t t, offset_vector x0, offset_vector x1, __m512 a0[GROUPS],
                             __m512 a1[GROUPS], panel_form f, int groups) {
#pragma clang loop unroll(full)
    for (int g = 0; g < groups; g++) {
        __m512i i0 = panel_isum(p, g, x0.u + t * TILE + 32 * g, f), i1 = panel_isum(p, g, x1.u + t * TILE + 32 * g, f);
        a0[g] = panel_epilogue(p, g, i0, x0.s16 + 16 * t + 2 * g, x0.d[8 * t + g], x0.sum[8 * t + g], a0[g], f);
        a1[g] = panel_epilogue(p, g, i1, x1.s16 + 16 * t + 2 * g, x1.d[8 * t + g], x1.sum[8 * t + g], a1[g], f);
    }
}

INLINE __m512 fold_panel(const __m512 a[GROUPS]) {
    return _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a[0], a[4]), _mm512_add_ps(a[2], a[6])),
                         _mm512_add_ps(_mm512_add_ps(a[1], a[5]), _mm512_add_ps(a[3], a[7])));
}

// y[v·ldy + i] for the panel's `here` rows and `count` vectors at xo, two vectors at a time (an odd last one
// with itself), TILE_BLOCK tiles at a time: those tiles of the panel stay in the nearest cache while every
// vector passes, the vectors' lanes kept in `saved` (GROUPS registers per vector) between blocks. A
// partial last tile's groups are a constant in each case, so that the lanes stay in registers.
INLINE void multiply_panel(const panel_tile *panel, int64_t k, const uint8_t *xo, int count, __m512 *saved,
                           float *y, int64_t ldy, int here, panel_form f) {
    int64_t tiles = (k + TILE - 1) / TILE, whole = k / TILE;
    size_t stride = offset_bytes(tiles);
    __mmask16 kept = (__mmask16)((1u << here) - 1);
    for (int64_t t0 = 0; t0 < tiles; t0 += TILE_BLOCK) {
        int64_t t1 = t0 + TILE_BLOCK < tiles ? t0 + TILE_BLOCK : tiles;
        for (int v = 0; v < count; v += 2) {
            int w = v + 1 < count ? v + 1 : v;
            offset_vector x0 = offset_view(xo + v * stride, tiles), x1 = offset_view(xo + w * stride, tiles);
            __m512 a0[GROUPS], a1[GROUPS];
            for (int g = 0; g < GROUPS; g++) {
                a0[g] = t0 == 0 ? _mm512_setzero_ps() : saved[GROUPS * v + g];
                a1[g] = t0 == 0 ? _mm512_setzero_ps() : saved[GROUPS * w + g];
            }
            for (int64_t t = t0; t < (t1 < whole ? t1 : whole); t++)
                apply_panel_tile(panel + t, t, x0, x1, a0, a1, f, GROUPS);
            if (t1 == tiles) {
                const panel_tile *last = panel + whole;
                switch ((int)(k % TILE / 32)) {
                case 1: apply_panel_tile(last, whole, x0, x1, a0, a1, f, 1); break;
                case 2: apply_panel_tile(last, whole, x0, x1, a0, a1, f, 2); break;
                case 3: apply_panel_tile(last, whole, x0, x1, a0, a1, f, 3); break;
                case 4: apply_panel_tile(last, whole, x0, x1, a0, a1, f, 4); break;
                case 5: apply_panel_tile(last, whole, x0, x1, a0, a1, f, 5); break;
                case 6: apply_panel_tile(last, whole, x0, x1, a0, a1, f, 6); break;
                case 7: apply_panel_tile(last, whole, x0, x1, a0, a1, f, 7); break;
                default: break;
                }
                _mm512_mask_storeu_ps(y + v * ldy, kept, fold_panel(a0));
                if (w != v) _mm512_mask_storeu_ps(y + w * ldy, kept, fold_panel(a1));
                continue;
            }
            for (int g = 0; g < GROUPS; g++) {
                saved[GROUPS * v + g] = a0[g];
                if (w != v) saved[GROUPS * w + g] = a1[g];
            }
        }
    }
}

// multiply_panel with each form panel_form_of gives as constants (another form, as variables).
INLINE void multiply_panel_of_form(panel_form f, const panel_tile *panel, int64_t k, const uint8_t *xo, int count,
                                   __m512 *saved, float *y, int64_t ldy, int here) {
#define FORM(a, b, c, d)                   \
    case a << 3 | b << 2 | c << 1 | d:     \
        multiply_panel(panel, k, xo, count, saved, y, ldy, here, (panel_form){a, b, c, d}); return
    switch (f.scaled << 3 | f.per_half << 2 | f.has_min << 1 | f.unit_min) {
    FORM(1, 0, 1, 0); FORM(1, 1, 0, 0); FORM(1, 1, 1, 0); FORM(0, 0, 1, 1); FORM(0, 0, 0, 0);
    default: multiply_panel(panel, k, xo, count, saved, y, ldy, here, f);
    }
#undef FORM
}

// Rows × many vectors, blocked for the caches: as many panels as fit PANEL_BUDGET bytes are prepared;
// then the vectors, PANEL_VECTOR_BLOCK at a time offset into a buffer that stays in cache, pass each of
// them. (Offsetting every vector once for all the panels was slower, at every width measured: the
// buffer then leaves the caches.)
static void dot_rows_panels(DOT_Q8_ARGUMENTS) {
    (void)lanes, (void)has_min;
    int64_t tiles = (k + TILE - 1) / TILE;
    size_t stride_o = offset_bytes(tiles), panel_bytes = sizeof(panel_tile) * (size_t)tiles;
    int64_t together = PANEL_BUDGET / panel_bytes > 1 ? (int64_t)(PANEL_BUDGET / panel_bytes) : 1;
    if (together > (rows + PANEL_ROWS - 1) / PANEL_ROWS) together = (rows + PANEL_ROWS - 1) / PANEL_ROWS;
    uint8_t *xo = aligned_alloc(64, stride_o * PANEL_VECTOR_BLOCK);
    panel_tile *panels = aligned_alloc(64, panel_bytes * (size_t)together);
    __m512 *saved = aligned_alloc(64, sizeof(__m512) * GROUPS * PANEL_VECTOR_BLOCK);
    if (!xo || !panels || !saved) abort();
    panel_form f = panel_form_of(type);
    for (int64_t r0 = 0; r0 < rows; r0 += together * PANEL_ROWS) {
        int64_t prepared = 0;
        for (int64_t r = r0; r < rows && prepared < together; r += PANEL_ROWS, prepared++) {
            int here = (int)(rows - r < PANEL_ROWS ? rows - r : PANEL_ROWS);
            prepare_panel(type, w0 + r * row_bytes, row_bytes, here, k, elements, bytes, panels + prepared * tiles);
        }
        for (int64_t v0 = 0; v0 < vectors; v0 += PANEL_VECTOR_BLOCK) {
            int count = (int)(vectors - v0 < PANEL_VECTOR_BLOCK ? vectors - v0 : PANEL_VECTOR_BLOCK);
            for (int v = 0; v < count; v++)
                offset_activations(q8_view(xq + (v0 + v) * stride, k), k, xo + v * stride_o);
            for (int64_t i = 0; i < prepared; i++) {
                int64_t r = r0 + i * PANEL_ROWS;
                int here = (int)(rows - r < PANEL_ROWS ? rows - r : PANEL_ROWS);
                multiply_panel_of_form(f, panels + i * tiles, k, xo, count, saved, y + v0 * ldy + r, ldy, here);
            }
        }
    }
    free(saved);
    free(panels);
    free(xo);
}

static void dot_rows_q8_avx512(DOT_Q8_ARGUMENTS) {
    if (in_registers(type, vectors)) dot_rows_in_registers_avx2(DOT_Q8_PASS);
    else if (vectors >= PANEL_VECTORS && k > 0) dot_rows_panels(DOT_Q8_PASS);
    else dot_rows_prepared_avx512(DOT_Q8_PASS);
}

#pragma clang attribute pop
#endif

// ---- entry ---------------------------------------------------------------------------------------------

int scalpel_quantize_q8_path(const float *x, int64_t k, void *out, int path) {
    if (path == SCALPEL_PATH_CHOSEN) path = scalpel_kernel_path();
    if (k < 0 || k % 32 || !scalpel_kernel_path_available(path)) return 0;
#if SCALPEL_X86
    if (path >= SCALPEL_PATH_AVX2) {
        quantize_q8_avx2(x, k, out);
        return 1;
    }
#endif
    quantize_q8_scalar(x, k, out);
    return 1;
}

int scalpel_quantize_q8(const float *x, int64_t k, void *out) {
    return scalpel_quantize_q8_path(x, k, out, SCALPEL_PATH_CHOSEN);
}

int scalpel_dot_rows_q8(int type, const void *w, size_t row_bytes, int64_t rows, const void *xq, int64_t vectors,
                        int64_t k, float *y, int64_t ldy, int path) {
    int elements, bytes, has_min;
    q8_block_shape(type, &elements, &bytes, &has_min);
    if (path == SCALPEL_PATH_CHOSEN) path = scalpel_kernel_path();
    if (elements == 0 || k < 0 || k % elements || row_bytes < (size_t)(k / elements * bytes)) return 0;
    if (!scalpel_kernel_path_available(path)) return 0;
    if (rows <= 0 || vectors <= 0) return 1;
    float stack[GROUPS * 8], *lanes = vectors <= 8 ? stack : malloc(sizeof(float) * GROUPS * vectors);
    if (!lanes) return 0;
    size_t stride = scalpel_q8_bytes(k);
#if SCALPEL_X86
    if (path >= SCALPEL_PATH_AVX512)
        dot_rows_q8_avx512(type, w, row_bytes, rows, xq, stride, vectors, k, y, ldy, lanes, elements, bytes, has_min);
    else if (path == SCALPEL_PATH_AVX2)
        dot_rows_q8_avx2(type, w, row_bytes, rows, xq, stride, vectors, k, y, ldy, lanes, elements, bytes, has_min);
    else
#endif
        dot_rows_q8_scalar(type, w, row_bytes, rows, xq, stride, vectors, k, y, ldy, lanes, elements, bytes, has_min);
    if (lanes != stack) free(lanes);
    return 1;
}

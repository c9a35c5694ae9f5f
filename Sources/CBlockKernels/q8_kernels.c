// Integer row products (see q8_kernels.h for the definitions) and the choice of kernel path.
//
// A row is taken a tile at a time: 256 elements, one K-quant super-block or eight 32-element blocks,
// unpacked into integer form (codes, sub-scales, factors). Every path runs the same unpacking and the
// same float epilogue in the same order; they differ only in how the exact integer sums are formed.
#pragma STDC FP_CONTRACT OFF
#pragma clang fp contract(off)

#include "q8_kernels.h"
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

// Whether the processor has AVX2 and FMA: read once (cpuid traps to the hypervisor under a VM, so it
// is far too slow to read per product); any thread may be first.
static int has_avx2_fma(void) {
    static int known = -1;
    int value = __atomic_load_n(&known, __ATOMIC_RELAXED);
    if (value < 0) {
        scalpel_cpu_features f;
        scalpel_cpu_features_read(&f);
        value = f.avx2 && f.fma;
        __atomic_store_n(&known, value, __ATOMIC_RELAXED);
    }
    return value;
}

const char *scalpel_kernel_path_missing(int path) {
    if (path == SCALPEL_PATH_SCALAR) return "";
    if (path == SCALPEL_PATH_AVX2) {
#if SCALPEL_X86
        return has_avx2_fma() ? "" : "this processor lacks AVX2 or FMA";
#else
        return "this is not an x86-64 processor";
#endif
    }
    if (path == SCALPEL_PATH_AVX512 || path == SCALPEL_PATH_AVX512BF16)
        return "this version of Scalpel has no kernels for this path yet";
    return "no such path";
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

int scalpel_quantize_q8(const float *x, int64_t k, void *out) {
    if (k < 0 || k % 32) return 0;
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
    return 1;
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
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)

// A tile's sixteen per-16 values as int32: the first halves of its eight groups, and the second ones.
INLINE void halves_avx2(const int16_t *values, __m256i *first, __m256i *second) {
    const __m256i order = _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15,
                                           0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15);
    __m256i split = _mm256_shuffle_epi8(_mm256_loadu_si256((const __m256i *)values), order);
    split = _mm256_permute4x64_epi64(split, 0xD8);         // first halves of groups 0-7, then second halves
    *first = _mm256_cvtepi16_epi32(_mm256_castsi256_si128(split));
    *second = _mm256_cvtepi16_epi32(_mm256_extracti128_si256(split, 1));
}

// isum of each group. c·q in int16 pairs (|c| times q with c's sign where codes may be negative;
// |c| ≤ 128 and |q| ≤ 127, so a pair never saturates), pairs summed into int32 per quarter; a tree of
// horizontal adds gives each group's two half sums (a 128-bit lane holds a half), and the halves'
// sub-scales multiply them.
INLINE __m256i group_sums_avx2(const tile *t, const int8_t *q, int groups, int signed_codes) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i v[8];
    for (int g = 0; g < 8; g++) {
        if (g >= groups) { v[g] = _mm256_setzero_si256(); continue; }
        __m256i c = _mm256_load_si256((const __m256i *)(t->c + 32 * g));
        __m256i x = _mm256_loadu_si256((const __m256i *)(q + 32 * g));
        __m256i pairs = signed_codes ? _mm256_maddubs_epi16(_mm256_abs_epi8(c), _mm256_sign_epi8(x, c))
                                     : _mm256_maddubs_epi16(c, x);
        v[g] = _mm256_madd_epi16(pairs, ones);
    }
    __m256i a = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
    __m256i b = _mm256_hadd_epi32(_mm256_hadd_epi32(v[4], v[5]), _mm256_hadd_epi32(v[6], v[7]));
    __m256i first, second;
    halves_avx2(t->sc, &first, &second);
    return _mm256_add_epi32(_mm256_mullo_epi32(_mm256_permute2x128_si256(a, b, 0x20), first),
                            _mm256_mullo_epi32(_mm256_permute2x128_si256(a, b, 0x31), second));
}

// msum of each group: the halves' minimums times the activations' half sums.
INLINE __m256i minimum_sums_avx2(const tile *t, const int16_t *s16) {
    __m256i m1, m2, s1, s2;
    halves_avx2(t->mn, &m1, &m2);
    halves_avx2(s16, &s1, &s2);
    return _mm256_add_epi32(_mm256_mullo_epi32(m1, s1), _mm256_mullo_epi32(m2, s2));
}

// ---- AVX2, whole tiles of the commonest types in registers ----
// The same integer sums and the same epilogue as the reference, with nothing written to memory between
// the block's bytes and the lanes: acc is lane[0..8) of one vector.

// Eight int32×8 vectors whose 128-bit lanes hold the quarter sums of a group's two halves: the two half
// sums of each group, first halves in `first`, second halves in `second`.
INLINE void half_sums_avx2(const __m256i v[8], __m256i *first, __m256i *second) {
    __m256i a = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
    __m256i b = _mm256_hadd_epi32(_mm256_hadd_epi32(v[4], v[5]), _mm256_hadd_epi32(v[6], v[7]));
    *first = _mm256_permute2x128_si256(a, b, 0x20);
    *second = _mm256_permute2x128_si256(a, b, 0x31);
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
    __m256i v[8];
    for (int i = 0; i < 4; i++) {
        __m256i bytes = _mm256_loadu_si256((const __m256i *)(b + 16 + 32 * i));
        __m256i low = _mm256_and_si256(bytes, nibble), high = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), nibble);
        v[2 * i] = _mm256_madd_epi16(
            _mm256_maddubs_epi16(low, _mm256_loadu_si256((const __m256i *)(q + 64 * i))), ones);
        v[2 * i + 1] = _mm256_madd_epi16(
            _mm256_maddubs_epi16(high, _mm256_loadu_si256((const __m256i *)(q + 64 * i + 32))), ones);
    }
    __m256i first, second;
    half_sums_avx2(v, &first, &second);
    __m256i isum = _mm256_mullo_epi32(_mm256_add_epi32(first, second), scales);
    // Each group's activation sum: adjacent half sums, in order.
    __m256i msum = _mm256_mullo_epi32(_mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)s16), ones), mins);
    __m256 d = _mm256_set1_ps(half(u16(b))), dm = _mm256_set1_ps(-half(u16(b + 2)));
    return epilogue_avx2(acc, d, dm, da, isum, &msum);
}

// Q6_K: codes q − 32 with q 0-63. Σ (q − 32)·x = Σ q·x − 32·Σ x, so q goes into maddubs unsigned and
// the half sums of x take the offset off; each half has its own signed 8-bit scale.
INLINE __m256 q6_K_tile_avx2(__m256 acc, const uint8_t *b, const int8_t *q, const int16_t *s16, const float *da) {
    const __m256i four = _mm256_set1_epi8(0xF), two = _mm256_set1_epi8(3), ones = _mm256_set1_epi16(1);
    __m256i v[8];
    for (int i = 0; i < 2; i++) {
        __m256i low0 = _mm256_loadu_si256((const __m256i *)(b + 64 * i));
        __m256i low1 = _mm256_loadu_si256((const __m256i *)(b + 64 * i + 32));
        __m256i high = _mm256_loadu_si256((const __m256i *)(b + 128 + 32 * i));
        __m256i lows[4] = {_mm256_and_si256(low0, four), _mm256_and_si256(low1, four),
                           _mm256_and_si256(_mm256_srli_epi16(low0, 4), four),
                           _mm256_and_si256(_mm256_srli_epi16(low1, 4), four)};
        for (int j = 0; j < 4; j++) {
            __m256i top = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(high, 2 * j), two), 4);
            __m256i x = _mm256_loadu_si256((const __m256i *)(q + 128 * i + 32 * j));
            v[4 * i + j] = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_or_si256(lows[j], top), x), ones);
        }
    }
    __m256i first, second, x1, x2;
    half_sums_avx2(v, &first, &second);
    halves_avx2(s16, &x1, &x2);
    first = _mm256_sub_epi32(first, _mm256_slli_epi32(x1, 5));
    second = _mm256_sub_epi32(second, _mm256_slli_epi32(x2, 5));
    const __m128i order = _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
    __m128i scales = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(b + 192)), order);
    __m256i isum = _mm256_add_epi32(_mm256_mullo_epi32(first, _mm256_cvtepi8_epi32(scales)),
                                    _mm256_mullo_epi32(second, _mm256_cvtepi8_epi32(_mm_srli_si128(scales, 8))));
    __m256 d = _mm256_set1_ps(half(u16(b + 208)));
    return epilogue_avx2(acc, d, d, da, isum, NULL);
}

// Q8_0, eight blocks: signed codes (|c| times x with c's sign), one fp16 factor per block.
INLINE __m256 q8_0_tile_avx2(__m256 acc, const uint8_t *b, const int8_t *q, const float *da) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i v[8];
    float factors[8];
    for (int g = 0; g < 8; g++) {
        const uint8_t *block = b + 34 * g;
        __m256i c = _mm256_loadu_si256((const __m256i *)(block + 2));
        __m256i x = _mm256_loadu_si256((const __m256i *)(q + 32 * g));
        v[g] = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(c), _mm256_sign_epi8(x, c)), ones);
        factors[g] = half(u16(block));
    }
    __m256i first, second;
    half_sums_avx2(v, &first, &second);
    return epilogue_avx2(acc, _mm256_loadu_ps(factors), _mm256_setzero_ps(), da, _mm256_add_epi32(first, second), NULL);
}

// Q4_0 and Q4_1, eight blocks: byte j holds element j (low nibble) and j + 16 (high nibble), codes
// 0-15 unsigned into maddubs. Q4_0's codes are q − 8: Σ (q − 8)·x = Σ q·x − 8·Σ x. Q4_1 adds m·Σ x.
INLINE __m256 q4_01_tile_avx2(__m256 acc, int type, const uint8_t *b, const int8_t *q, const int16_t *s16,
                              const float *da) {
    const __m256i nibble = _mm256_set1_epi8(0xF), ones = _mm256_set1_epi16(1);
    int bytes = type == Q4_0 ? 18 : 20, offset = type == Q4_0 ? 2 : 4;
    __m256i v[8];
    float factors[8], minimums[8];
    for (int g = 0; g < 8; g++) {
        const uint8_t *block = b + bytes * g;
        __m128i packed = _mm_loadu_si128((const __m128i *)(block + offset));
        __m256i codes = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(packed, 4), packed), nibble);
        __m256i x = _mm256_loadu_si256((const __m256i *)(q + 32 * g));
        v[g] = _mm256_madd_epi16(_mm256_maddubs_epi16(codes, x), ones);
        factors[g] = half(u16(block));
        minimums[g] = type == Q4_1 ? half(u16(block + 2)) : 0;
    }
    __m256i first, second;
    half_sums_avx2(v, &first, &second);
    __m256i isum = _mm256_add_epi32(first, second);
    __m256i xsum = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)s16), ones);   // Σ x per group
    if (type == Q4_0) isum = _mm256_sub_epi32(isum, _mm256_slli_epi32(xsum, 3));
    __m256 d = _mm256_loadu_ps(factors);
    return epilogue_avx2(acc, d, _mm256_loadu_ps(minimums), da, isum, type == Q4_1 ? &xsum : NULL);
}

INLINE int whole_tiles_in_registers(int type) {
    return type == Q4_K || type == Q6_K || type == Q8_0 || type == Q4_0 || type == Q4_1;
}

// One row of a type above against one vector; the last partial tile (blocks of 32 only) through the tile
// struct, as the reference.
INLINE void dot_row_in_registers_avx2(int type, const uint8_t *row, int bytes, q8_vector x, int64_t k, float *lane) {
    __m256 acc = _mm256_setzero_ps();
    int64_t whole = k / TILE * TILE;
    for (int64_t start = 0; start < whole; start += TILE) {
        const int8_t *q = x.q + start;
        const int16_t *s16 = x.s16 + start / 16;
        const float *da = x.d + start / 32;
        if (type == Q4_K) acc = q4_K_tile_avx2(acc, row + start / 256 * bytes, q, s16, da);
        else if (type == Q6_K) acc = q6_K_tile_avx2(acc, row + start / 256 * bytes, q, s16, da);
        else if (type == Q8_0) acc = q8_0_tile_avx2(acc, row + start / 32 * bytes, q, da);
        else acc = q4_01_tile_avx2(acc, type, row + start / 32 * bytes, q, s16, da);
    }
    _mm256_storeu_ps(lane, acc);
    if (whole == k) return;
    tile t;
    int groups = (int)((k - whole) / 32);
    unpack_tile_scalar(type, row, whole, groups, 32, bytes, &t);
    int32_t isum[GROUPS], msum[GROUPS];
    _mm256_storeu_si256((__m256i *)isum, group_sums_avx2(&t, x.q + whole, groups, type != Q4_1));
    minimum_sums(&t, x.s16 + whole / 16, groups, msum);
    epilogue_scalar(lane, &t, x.d + whole / 32, isum, msum, groups, type == Q4_1);
}

static void dot_rows_q8_avx2(DOT_Q8_ARGUMENTS) {
    int signed_codes = !(type == Q4_1 || type == Q5_1 || type == Q2_K || type == Q4_K || type == Q5_K);
    tile t;
    for (int64_t r = 0; r < rows; r++) {
        const uint8_t *row = w0 + r * row_bytes;
        memset(lanes, 0, sizeof(float) * GROUPS * vectors);
        if (whole_tiles_in_registers(type)) {
            for (int64_t v = 0; v < vectors; v++) {
                dot_row_in_registers_avx2(type, row, bytes, q8_view(xq + v * stride, k), k, lanes + GROUPS * v);
                y[v * ldy + r] = fold8(lanes + GROUPS * v);
            }
            continue;
        }
        for (int64_t start = 0; start < k; start += TILE) {
            int groups = (int)((k - start < TILE ? k - start : TILE) / 32);
            unpack_tile_scalar(type, row, start, groups, elements, bytes, &t);
            __m256 d = _mm256_loadu_ps(t.d), dm = _mm256_loadu_ps(t.dm);
            for (int64_t v = 0; v < vectors; v++) {
                q8_vector x = q8_view(xq + v * stride, k);
                __m256i isum = group_sums_avx2(&t, x.q + start, groups, signed_codes);
                float *lane = lanes + GROUPS * v;
                if (groups < GROUPS) {                     // a row's last, partial tile: the reference's steps
                    int32_t is[GROUPS], ms[GROUPS];
                    _mm256_storeu_si256((__m256i *)is, isum);
                    minimum_sums(&t, x.s16 + start / 16, groups, ms);
                    epilogue_scalar(lane, &t, x.d + start / 32, is, ms, groups, has_min);
                    continue;
                }
                __m256 da = _mm256_loadu_ps(x.d + start / 32);
                __m256 acc = _mm256_fmadd_ps(_mm256_mul_ps(d, da), _mm256_cvtepi32_ps(isum), _mm256_loadu_ps(lane));
                if (has_min) {
                    __m256i msum = minimum_sums_avx2(&t, x.s16 + start / 16);
                    acc = _mm256_fmadd_ps(_mm256_mul_ps(dm, da), _mm256_cvtepi32_ps(msum), acc);
                }
                _mm256_storeu_ps(lane, acc);
            }
        }
        for (int64_t v = 0; v < vectors; v++) y[v * ldy + r] = fold8(lanes + GROUPS * v);
    }
}

#pragma clang attribute pop
#endif

// ---- entry ---------------------------------------------------------------------------------------------

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
    if (path >= SCALPEL_PATH_AVX2)
        dot_rows_q8_avx2(type, w, row_bytes, rows, xq, stride, vectors, k, y, ldy, lanes, elements, bytes, has_min);
    else
#endif
        dot_rows_q8_scalar(type, w, row_bytes, rows, xq, stride, vectors, k, y, ldy, lanes, elements, bytes, has_min);
    if (lanes != stack) free(lanes);
    return 1;
}

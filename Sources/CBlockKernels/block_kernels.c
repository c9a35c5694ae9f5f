// Decoding and row products of ggml's block formats (see block_kernels.h for the definitions).
//
// Every decoder below is inlined into a scalar and an AVX2 function; an element's value is one chain of
// IEEE operations, never contracted into a fused multiply-add, so both give the same bits. Only the dot
// product's accumulation is fused, explicitly, with the same lanes in both.
#pragma STDC FP_CONTRACT OFF
#pragma clang fp contract(off)

#include "block_kernels.h"
#include "cpu_features.h"
#include "q8_kernels.h"
#include "block_scalars.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define SCALPEL_X86 1
#endif


int scalpel_blocks_supported(int type) {
    int elements, bytes;
    block_shape(type, &elements, &bytes);
    return elements > 0;
}

// ---- legacy 32-element blocks: byte j holds element j (low nibble) and j + 16 (high nibble) ----------

// { f16 d; u8 qs[16] }: (q − 8)·d
INLINE void q4_0(const uint8_t *b, float *y) {
    float d = half(u16(b));
    for (int j = 0; j < 16; j++) {
        y[j] = (float)((b[2 + j] & 0xF) - 8) * d;
        y[j + 16] = (float)((b[2 + j] >> 4) - 8) * d;
    }
}

// { f16 d; f16 m; u8 qs[16] }: q·d + m
INLINE void q4_1(const uint8_t *b, float *y) {
    float d = half(u16(b)), m = half(u16(b + 2));
    for (int j = 0; j < 16; j++) {
        y[j] = (float)(b[4 + j] & 0xF) * d + m;
        y[j + 16] = (float)(b[4 + j] >> 4) * d + m;
    }
}

// { f16 d; u8 qh[4]; u8 qs[16] }: (q − 16)·d, bit j of qh the fifth bit of element j
INLINE void q5_0(const uint8_t *b, float *y) {
    float d = half(u16(b));
    uint32_t qh = u32(b + 2);
    for (int j = 0; j < 16; j++) {
        int high0 = ((qh >> j) & 1) << 4, high1 = ((qh >> (j + 16)) & 1) << 4;
        y[j] = (float)(((b[6 + j] & 0xF) | high0) - 16) * d;
        y[j + 16] = (float)(((b[6 + j] >> 4) | high1) - 16) * d;
    }
}

// { f16 d; f16 m; u8 qh[4]; u8 qs[16] }: q·d + m
INLINE void q5_1(const uint8_t *b, float *y) {
    float d = half(u16(b)), m = half(u16(b + 2));
    uint32_t qh = u32(b + 4);
    for (int j = 0; j < 16; j++) {
        int high0 = ((qh >> j) & 1) << 4, high1 = ((qh >> (j + 16)) & 1) << 4;
        y[j] = (float)((b[8 + j] & 0xF) | high0) * d + m;
        y[j + 16] = (float)((b[8 + j] >> 4) | high1) * d + m;
    }
}

// { f16 d; i8 qs[32] }: q·d
INLINE void q8_0(const uint8_t *b, float *y) {
    float d = half(u16(b));
    for (int j = 0; j < 32; j++) y[j] = (float)(int8_t)b[2 + j] * d;
}

// ---- K-quants, 256-element super-blocks ---------------------------------------------------------------

// { u8 scales[16]; u8 qs[64]; f16 d; f16 dmin }: (d·sc)·q − dmin·m per sub-block of 16; element
// 128c + 32s + l is bits 2s of byte 32c + l.
INLINE void q2_K(const uint8_t *b, float *y) {
    float d = half(u16(b + 80)), dmin = half(u16(b + 82));
    const uint8_t *qs = b + 16;
    for (int sub = 0; sub < 16; sub++) {
        float dl = d * (float)(b[sub] & 0xF), ml = dmin * (float)(b[sub] >> 4);
        int c = sub / 8, s = (sub / 2) % 4, l0 = (sub % 2) * 16;
        for (int l = l0; l < l0 + 16; l++) y[128 * c + 32 * s + l] = dl * (float)((qs[32 * c + l] >> (2 * s)) & 3) - ml;
    }
}

// The scale of a Q3_K block's sub-block i: d·(6-bit scale − 32).
INLINE float q3_K_scale(const uint8_t *b, int i) {
    const uint8_t *packed = b + 96;
    int low = i < 8 ? packed[i] & 0xF : packed[i - 8] >> 4;
    int high = (packed[8 + i % 4] >> (2 * (i / 4))) & 3;
    return half(u16(b + 108)) * (float)((low | (high << 4)) - 32);
}

// { u8 hmask[32]; u8 qs[64]; u8 scales[12]; f16 d }: scale·(q − 4 when bit 4c + s of hmask[l] is clear)
INLINE void q3_K(const uint8_t *b, float *y) {
    const uint8_t *hmask = b, *qs = b + 32;
    for (int sub = 0; sub < 16; sub++) {
        float scale = q3_K_scale(b, sub);
        int c = sub / 8, s = (sub / 2) % 4, l0 = (sub % 2) * 16;
        for (int l = l0; l < l0 + 16; l++) {
            int low = (qs[32 * c + l] >> (2 * s)) & 3, high = (hmask[l] >> (4 * c + s)) & 1;
            y[128 * c + 32 * s + l] = scale * (float)(low - (high ? 0 : 4));
        }
    }
}

// Sub-block j's 6-bit scale and min, packed in 12 bytes (ggml's get_scale_min_k4).
INLINE void scale_min_k4(int j, const uint8_t *q, float *scale, float *min) {
    if (j < 4) {
        *scale = (float)(q[j] & 63);
        *min = (float)(q[j + 4] & 63);
    } else {
        *scale = (float)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *min = (float)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

// { f16 d; f16 dmin; u8 scales[12]; u8 qs[128] }: (d·sc)·q − dmin·m per sub-block of 32; chunk c of 64
// takes sub-block 2c from the low nibbles of its 32 bytes and 2c + 1 from the high ones.
INLINE void q4_K(const uint8_t *b, float *y) {
    float d = half(u16(b)), dmin = half(u16(b + 2));
    for (int c = 0; c < 4; c++) {
        float sc1, m1, sc2, m2;
        scale_min_k4(2 * c, b + 4, &sc1, &m1);
        scale_min_k4(2 * c + 1, b + 4, &sc2, &m2);
        float d1 = d * sc1, min1 = dmin * m1, d2 = d * sc2, min2 = dmin * m2;
        const uint8_t *q = b + 16 + 32 * c;
        float *out = y + 64 * c;
        for (int l = 0; l < 32; l++) {
            out[l] = d1 * (float)(q[l] & 0xF) - min1;
            out[l + 32] = d2 * (float)(q[l] >> 4) - min2;
        }
    }
}

// { f16 d; f16 dmin; u8 scales[12]; u8 qh[32]; u8 qs[128] }: as Q4_K, bit 2c (2c + 1) of qh[l] adding 16
INLINE void q5_K(const uint8_t *b, float *y) {
    float d = half(u16(b)), dmin = half(u16(b + 2));
    const uint8_t *qh = b + 16;
    for (int c = 0; c < 4; c++) {
        float sc1, m1, sc2, m2;
        scale_min_k4(2 * c, b + 4, &sc1, &m1);
        scale_min_k4(2 * c + 1, b + 4, &sc2, &m2);
        float d1 = d * sc1, min1 = dmin * m1, d2 = d * sc2, min2 = dmin * m2;
        const uint8_t *q = b + 48 + 32 * c;
        float *out = y + 64 * c;
        for (int l = 0; l < 32; l++) {
            out[l] = d1 * (float)((q[l] & 0xF) + (((qh[l] >> (2 * c)) & 1) << 4)) - min1;
            out[l + 32] = d2 * (float)((q[l] >> 4) + (((qh[l] >> (2 * c + 1)) & 1) << 4)) - min2;
        }
    }
}

// { u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d }: (d·sc)·(q − 32), q 4 low bits | 2 high bits
INLINE void q6_K(const uint8_t *b, float *y) {
    float d = half(u16(b + 208));
    for (int h = 0; h < 2; h++) {                          // 128 elements each
        const uint8_t *ql = b + 64 * h, *qh = b + 128 + 32 * h;
        const int8_t *sc = (const int8_t *)(b + 192 + 8 * h);
        float *out = y + 128 * h;
        for (int s = 0; s < 2; s++) {
            float d1 = d * (float)sc[s], d2 = d * (float)sc[s + 2],
                d3 = d * (float)sc[s + 4], d4 = d * (float)sc[s + 6];
            for (int l = 16 * s; l < 16 * s + 16; l++) {
                int low0 = ql[l], low1 = ql[l + 32], high = qh[l];
                out[l] = d1 * (float)(((low0 & 0xF) | ((high & 3) << 4)) - 32);
                out[l + 32] = d2 * (float)(((low1 & 0xF) | (((high >> 2) & 3) << 4)) - 32);
                out[l + 64] = d3 * (float)(((low0 >> 4) | (((high >> 4) & 3) << 4)) - 32);
                out[l + 96] = d4 * (float)(((low1 >> 4) | (((high >> 6) & 3) << 4)) - 32);
            }
        }
    }
}

// Decodes `count` elements (whole blocks) of `type`; the caller has checked the type.
INLINE void decode(int type, const uint8_t *b, int64_t count, float *y) {
    switch (type) {
    case F32: memcpy(y, b, (size_t)count * 4); return;
    case F16: for (int64_t i = 0; i < count; i++) y[i] = half(u16(b + 2 * i)); return;
    case BF16: for (int64_t i = 0; i < count; i++) y[i] = bfloat16(u16(b + 2 * i)); return;
    case Q4_0: for (int64_t i = 0; i < count / 32; i++) q4_0(b + 18 * i, y + 32 * i); return;
    case Q4_1: for (int64_t i = 0; i < count / 32; i++) q4_1(b + 20 * i, y + 32 * i); return;
    case Q5_0: for (int64_t i = 0; i < count / 32; i++) q5_0(b + 22 * i, y + 32 * i); return;
    case Q5_1: for (int64_t i = 0; i < count / 32; i++) q5_1(b + 24 * i, y + 32 * i); return;
    case Q8_0: for (int64_t i = 0; i < count / 32; i++) q8_0(b + 34 * i, y + 32 * i); return;
    case Q2_K: for (int64_t i = 0; i < count / 256; i++) q2_K(b + 84 * i, y + 256 * i); return;
    case Q3_K: for (int64_t i = 0; i < count / 256; i++) q3_K(b + 110 * i, y + 256 * i); return;
    case Q4_K: for (int64_t i = 0; i < count / 256; i++) q4_K(b + 144 * i, y + 256 * i); return;
    case Q5_K: for (int64_t i = 0; i < count / 256; i++) q5_K(b + 176 * i, y + 256 * i); return;
    case Q6_K: for (int64_t i = 0; i < count / 256; i++) q6_K(b + 210 * i, y + 256 * i); return;
    }
}

// ---- the dot product's lanes ---------------------------------------------------------------------------

enum { LANES = 32, CHUNK = 256 };

// Folds the 32 lanes into one value, in the order the header defines.
INLINE float fold_lanes(const float *lane) {
    float v[8];
    for (int l = 0; l < 8; l++) v[l] = (lane[l] + lane[8 + l]) + (lane[16 + l] + lane[24 + l]);
    return ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7]));
}

// lane[(offset + e) mod 32] += w[e]·x[e] for e < n, with `offset` a multiple of 32.
INLINE void accumulate_scalar(float *lane, const float *w, const float *x, int64_t n) {
    for (int64_t e = 0; e < n; e++) lane[e % LANES] = fmaf(w[e], x[e], lane[e % LANES]);
}

// The chunks of row r: decoded into `buffer` (F32 rows are read in place), then the body, which sees
// `w` (n decoded elements) and `start` (the first one's column).
#define FOR_EACH_CHUNK(k, ...)                                                                      \
    for (int64_t start = 0; start < (k); start += CHUNK) {                                          \
        int64_t n = (k) - start < CHUNK ? (k) - start : CHUNK;                                      \
        const uint8_t *source = row + start / elements * bytes;                                     \
        const float *w = buffer;                                                                    \
        if (type == F32) w = (const float *)source; else decode(type, source, n, buffer);           \
        __VA_ARGS__                                                                                 \
    }

// Arguments of both kernels: rows of W, the vectors x[v] (`ldx` apart), y[v][r] (`ldy` apart), and
// `lanes`, 32 per vector.
#define DOT_ARGUMENTS int type, const uint8_t *w0, size_t row_bytes, int64_t rows, const float *x, \
    int64_t vectors, int64_t ldx, int64_t k, float *y, int64_t ldy, float *lanes, int elements, int bytes

static void dot_rows_scalar(DOT_ARGUMENTS) {
    float buffer[CHUNK];
    for (int64_t r = 0; r < rows; r++) {
        const uint8_t *row = w0 + r * row_bytes;
        memset(lanes, 0, sizeof(float) * LANES * vectors);
        FOR_EACH_CHUNK(k, {
            for (int64_t v = 0; v < vectors; v++) accumulate_scalar(lanes + LANES * v, w, x + v * ldx + start, n);
        })
        for (int64_t v = 0; v < vectors; v++) y[v * ldy + r] = fold_lanes(lanes + LANES * v);
    }
}

#if SCALPEL_X86
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)

static void dequantize_avx2(int type, const uint8_t *b, int64_t count, float *y) { decode(type, b, count, y); }

// lane[e mod 32] += w[e]·x[e] for e < n, a multiple of 32, in four 8-lane registers.
INLINE void accumulate_avx2(float *lane, const float *w, const float *x, int64_t n) {
    __m256 a0 = _mm256_loadu_ps(lane), a1 = _mm256_loadu_ps(lane + 8);
    __m256 a2 = _mm256_loadu_ps(lane + 16), a3 = _mm256_loadu_ps(lane + 24);
    for (int64_t e = 0; e < n; e += LANES) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + e), _mm256_loadu_ps(x + e), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + e + 8), _mm256_loadu_ps(x + e + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w + e + 16), _mm256_loadu_ps(x + e + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w + e + 24), _mm256_loadu_ps(x + e + 24), a3);
    }
    _mm256_storeu_ps(lane, a0);
    _mm256_storeu_ps(lane + 8, a1);
    _mm256_storeu_ps(lane + 16, a2);
    _mm256_storeu_ps(lane + 24, a3);
}

// One vector against Q4_K, Q6_K and 32-element rows, decoding in registers: each element's value is the
// decoder's, bit for bit, accumulated into its lane in element order. (Two rows at a time, for two independent
// chains of additions, measured slower on a Zen 2 once the rows no longer fit in cache.)

// Q4_K: d1·q − m1. The decoder multiplies, then subtracts; here one fused multiply-add does both. That
// is the same value: d1 = d·sc holds at most 11 + 6 significant bits and q 4, so d1·q is exact in
// Float32 and the fused operation rounds once, where the subtraction does (for finite scales: a NaN
// scale gives a NaN either way).
// Chunk c of 64 holds element 64c + l in the low nibble of byte l and 64c + 32 + l in the high one:
// both lane l.
INLINE void accumulate_q4_K_avx2(__m256 a[4], const uint8_t *b, const float *x) {
    const __m256i nibble = _mm256_set1_epi32(0xF);
    float d = half(u16(b)), dmin = half(u16(b + 2));
    for (int c = 0; c < 4; c++) {
        float sc1, m1, sc2, m2;
        scale_min_k4(2 * c, b + 4, &sc1, &m1);
        scale_min_k4(2 * c + 1, b + 4, &sc2, &m2);
        __m256 d1 = _mm256_set1_ps(d * sc1), min1 = _mm256_set1_ps(-(dmin * m1));
        __m256 d2 = _mm256_set1_ps(d * sc2), min2 = _mm256_set1_ps(-(dmin * m2));
        const uint8_t *q = b + 16 + 32 * c;
        const float *xs = x + 64 * c;
        for (int g = 0; g < 4; g++) {
            __m256i bytes = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(q + 8 * g)));
            __m256 low = _mm256_cvtepi32_ps(_mm256_and_si256(bytes, nibble));
            __m256 high = _mm256_cvtepi32_ps(_mm256_srli_epi32(bytes, 4));
            a[g] = _mm256_fmadd_ps(_mm256_fmadd_ps(d1, low, min1), _mm256_loadu_ps(xs + 8 * g), a[g]);
            a[g] = _mm256_fmadd_ps(_mm256_fmadd_ps(d2, high, min2), _mm256_loadu_ps(xs + 32 + 8 * g), a[g]);
        }
    }
}

// Q6_K: (d·sc)·(q − 32), a multiply as in the decoder. Half h of 128 elements: element 128h + 32j + l
// (lane l) takes its low 4 bits from ql[64h + l + 32(j mod 2)] (the low nibble for j < 2, the high
// one after) and its high 2 bits from bits 2j, 2j + 1 of qh[32h + l]; its scale is sc[8h + l / 16 + 2j].
INLINE void accumulate_q6_K_avx2(__m256 a[4], const uint8_t *b, const float *x) {
    const __m256i low4 = _mm256_set1_epi32(0xF), low2 = _mm256_set1_epi32(3), bias = _mm256_set1_epi32(32);
    float d = half(u16(b + 208));
    for (int h = 0; h < 2; h++) {
        const uint8_t *ql = b + 64 * h, *qh = b + 128 + 32 * h;
        const int8_t *sc = (const int8_t *)(b + 192 + 8 * h);
        const float *xs = x + 128 * h;
        for (int g = 0; g < 4; g++) {
            int l = 8 * g, s = g / 2;
            __m256i low0 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(ql + l)));
            __m256i low1 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(ql + l + 32)));
            __m256i high = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(qh + l)));
            __m256i q[4] = {
                _mm256_or_si256(_mm256_and_si256(low0, low4), _mm256_slli_epi32(_mm256_and_si256(high, low2), 4)),
                _mm256_or_si256(_mm256_and_si256(low1, low4),
                                _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(high, 2), low2), 4)),
                _mm256_or_si256(_mm256_srli_epi32(low0, 4),
                                _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(high, 4), low2), 4)),
                _mm256_or_si256(_mm256_srli_epi32(low1, 4), _mm256_slli_epi32(_mm256_srli_epi32(high, 6), 4)),
            };
            for (int j = 0; j < 4; j++) {
                __m256 scale = _mm256_set1_ps(d * (float)sc[s + 2 * j]);
                __m256 w = _mm256_mul_ps(scale, _mm256_cvtepi32_ps(_mm256_sub_epi32(q[j], bias)));
                a[g] = _mm256_fmadd_ps(w, _mm256_loadu_ps(xs + 32 * j + l), a[g]);
            }
        }
    }
}

// Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0: a 32-element block's codes as int32, elements 8g to 8g + 7 in q[g]
// (lanes 8g to 8g + 7), then each value as its decoder computes it: (q − z)·d for Q4_0 and Q5_0, q·d + m
// (a multiply, then an add) for Q4_1 and Q5_1, q·d for Q8_0.
INLINE void accumulate_legacy_avx2(int type, __m256 a[4], const uint8_t *b, const float *x) {
    legacy_layout l = legacy_layout_of(type);
    __m256 d = _mm256_set1_ps(half(u16(b))), m = _mm256_set1_ps(l.has_min ? half(u16(b + 2)) : 0);
    __m256i q[4];
    if (type == Q8_0) {
        for (int g = 0; g < 4; g++) q[g] = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(b + 2 + 8 * g)));
    } else {
        const uint8_t *qs = b + l.codes_at;                // byte j: element j low, j + 16 high
        for (int g = 0; g < 4; g++) {
            __m256i bytes = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(qs + 8 * (g % 2))));
            q[g] = g < 2 ? _mm256_and_si256(bytes, _mm256_set1_epi32(0xF)) : _mm256_srli_epi32(bytes, 4);
        }
        if (l.has_fifth_bit) {                             // bit e of qh is element e's fifth
            __m256i qh = _mm256_set1_epi32((int)u32(qs - 4)), e = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
            for (int g = 0; g < 4; g++, e = _mm256_add_epi32(e, _mm256_set1_epi32(8))) {
                __m256i bit = _mm256_and_si256(_mm256_srlv_epi32(qh, e), _mm256_set1_epi32(1));
                q[g] = _mm256_or_si256(q[g], _mm256_slli_epi32(bit, 4));
            }
        }
        for (int g = 0; g < 4 && l.zero; g++) q[g] = _mm256_sub_epi32(q[g], _mm256_set1_epi32(l.zero));
    }
    for (int g = 0; g < 4; g++) {
        __m256 w = _mm256_mul_ps(_mm256_cvtepi32_ps(q[g]), d);
        if (l.has_min) w = _mm256_add_ps(w, m);
        a[g] = _mm256_fmadd_ps(w, _mm256_loadu_ps(x + 8 * g), a[g]);
    }
}

INLINE int decodes_in_registers(int type) {
    return type == Q4_K || type == Q6_K || type == Q4_0 || type == Q4_1 || type == Q5_0 || type == Q5_1 ||
           type == Q8_0;
}

INLINE void accumulate_block_avx2(int type, __m256 a[4], const uint8_t *b, const float *x) {
    if (type == Q4_K) accumulate_q4_K_avx2(a, b, x);
    else if (type == Q6_K) accumulate_q6_K_avx2(a, b, x);
    else accumulate_legacy_avx2(type, a, b, x);
}

// Row `row` against one vector, block by block, in four 8-lane registers.
INLINE float dot_row_in_registers_avx2(int type, const uint8_t *row, const float *x, int64_t k,
                                       int elements, int bytes) {
    __m256 a[4];
    for (int g = 0; g < 4; g++) a[g] = _mm256_setzero_ps();
    for (int64_t block = 0; block < k / elements; block++)
        accumulate_block_avx2(type, a, row + bytes * block, x + elements * block);
    float lanes[LANES];
    for (int g = 0; g < 4; g++) _mm256_storeu_ps(lanes + 8 * g, a[g]);
    return fold_lanes(lanes);
}

// Whole groups of 32 in registers; a tail (F16, BF16 and F32 rows only: blocks come in 32s) in the
// scalar lanes, which pick up where the registers stop.
static void dot_rows_avx2(DOT_ARGUMENTS) {
    float buffer[CHUNK] __attribute__((aligned(32)));
    for (int64_t r = 0; r < rows; r++) {
        const uint8_t *row = w0 + r * row_bytes;
        memset(lanes, 0, sizeof(float) * LANES * vectors);
        if (vectors == 1 && decodes_in_registers(type)) {  // a decoding step's commonest rows
            y[r] = dot_row_in_registers_avx2(type, row, x, k, elements, bytes);
            continue;
        }
        FOR_EACH_CHUNK(k, {
            int64_t whole = n / LANES * LANES;
            for (int64_t v = 0; v < vectors; v++) {
                const float *xs = x + v * ldx + start;
                accumulate_avx2(lanes + LANES * v, w, xs, whole);
                if (whole < n) accumulate_scalar(lanes + LANES * v, w + whole, xs + whole, n - whole);
            }
        })
        for (int64_t v = 0; v < vectors; v++) y[v * ldy + r] = fold_lanes(lanes + LANES * v);
    }
}

#pragma clang attribute pop
#endif

// ---- dispatch -----------------------------------------------------------------------------------------

// The path chosen (q8_kernels.h): AVX2 and every path above it run the AVX2 kernels here.
static int has_avx2_fma(void) { return scalpel_kernel_path() >= SCALPEL_PATH_AVX2; }

const char *scalpel_dot_kernel(void) {
#if SCALPEL_X86
    if (has_avx2_fma()) return "avx2";
#endif
    return "scalar";
}

int scalpel_dequantize(int type, const void *source, int64_t count, float *y) {
    int elements, bytes;
    block_shape(type, &elements, &bytes);
    if (elements == 0 || count < 0 || count % elements) return 0;
#if SCALPEL_X86
    if (has_avx2_fma()) { dequantize_avx2(type, source, count, y); return 1; }
#endif
    decode(type, source, count, y);
    return 1;
}

int scalpel_dot_rows(int type, const void *w, size_t row_bytes, int64_t rows, const float *x, int64_t vectors,
                     int64_t ldx, int64_t k, float *y, int64_t ldy, int reference) {
    int elements, bytes;
    block_shape(type, &elements, &bytes);
    if (elements == 0 || k < 0 || k % elements || row_bytes < (size_t)(k / elements * bytes) || ldx < k) return 0;
    if (rows <= 0 || vectors <= 0) return 1;
    float stack[LANES * 8], *lanes = vectors <= 8 ? stack : malloc(sizeof(float) * LANES * vectors);
    if (!lanes) return 0;
#if SCALPEL_X86
    if (!reference && has_avx2_fma())
        dot_rows_avx2(type, w, row_bytes, rows, x, vectors, ldx, k, y, ldy, lanes, elements, bytes);
    else
#endif
        dot_rows_scalar(type, w, row_bytes, rows, x, vectors, ldx, k, y, ldy, lanes, elements, bytes);
    if (lanes != stack) free(lanes);
    return 1;
}

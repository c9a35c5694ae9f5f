// The scalars of ggml's block formats, shared by the Float32 and the integer kernels: little-endian
// loads, exact binary16 and bfloat16 decoding, and the types' block shapes.
#ifndef SCALPEL_BLOCK_SCALARS_H
#define SCALPEL_BLOCK_SCALARS_H

#include <stdint.h>
#include <string.h>

#define INLINE static inline __attribute__((always_inline))

INLINE uint16_t u16(const uint8_t *b) { return (uint16_t)(b[0] | (b[1] << 8)); }
INLINE uint32_t u32(const uint8_t *b) {
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}
INLINE float from_bits(uint32_t bits) { float f; memcpy(&f, &bits, 4); return f; }

// binary16 → float, exact.
INLINE float half(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exponent = (h >> 10) & 0x1F, mantissa = h & 0x3FF;
    if (exponent == 0) {                                   // zero or subnormal: mantissa × 2⁻²⁴
        float magnitude = (float)mantissa * 0x1p-24f;
        return sign ? -magnitude : magnitude;
    }
    if (exponent == 31) return from_bits(sign | 0x7F800000u | (mantissa << 13));
    return from_bits(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

INLINE float bfloat16(uint16_t b) { return from_bits((uint32_t)b << 16); }

enum { F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8,
       Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, BF16 = 30 };

// Elements and bytes per block; 0 for an unsupported type.
INLINE void block_shape(int type, int *elements, int *bytes) {
    switch (type) {
    case F32: *elements = 1; *bytes = 4; return;
    case F16: case BF16: *elements = 1; *bytes = 2; return;
    case Q4_0: *elements = 32; *bytes = 18; return;
    case Q4_1: *elements = 32; *bytes = 20; return;
    case Q5_0: *elements = 32; *bytes = 22; return;
    case Q5_1: *elements = 32; *bytes = 24; return;
    case Q8_0: *elements = 32; *bytes = 34; return;
    case Q2_K: *elements = 256; *bytes = 84; return;
    case Q3_K: *elements = 256; *bytes = 110; return;
    case Q4_K: *elements = 256; *bytes = 144; return;
    case Q5_K: *elements = 256; *bytes = 176; return;
    case Q6_K: *elements = 256; *bytes = 210; return;
    default: *elements = 0; *bytes = 0;
    }
}

// The 32-element types' blocks: { f16 d; f16 m (Q4_1, Q5_1); u32 qh (Q5_0, Q5_1); codes at codes_at }.
// Q8_0's codes are 32 signed bytes; the others' are 16 bytes, element j in the low nibble of byte j and
// j + 16 in the high one, with bit j of qh as element j's fifth bit. A value is (q − zero)·d (+ m).
typedef struct { int bytes, has_min, has_fifth_bit, codes_at, zero; } legacy_layout;

INLINE legacy_layout legacy_layout_of(int type) {
    int elements, bytes, has_min = type == Q4_1 || type == Q5_1, fifth = type == Q5_0 || type == Q5_1;
    block_shape(type, &elements, &bytes);
    return (legacy_layout){bytes, has_min, fifth, 2 + 2 * has_min + 4 * fifth,
                           type == Q4_0 ? 8 : type == Q5_0 ? 16 : 0};
}

#endif

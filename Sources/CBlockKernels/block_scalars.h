// The scalars of ggml's block formats, shared by the Float32 and the integer kernels: little-endian
// loads and exact binary16 and bfloat16 decoding.
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

#endif

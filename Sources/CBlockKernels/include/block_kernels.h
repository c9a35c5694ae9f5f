// ggml's block formats, decoded and multiplied in C: one dequantizer for the whole of Scalpel, and a
// matrix-vector product that reads a weight's blocks where they lie (a decoding step's products).
//
//   dequantize   y[e] = value of element e, by ggml's formulas (Checkpoints/Quantization documents them)
//   dot rows     y[r] = Σ_e W[r, e] · x[e], W[r, :] decoded 256 elements at a time into a buffer in L1
//                (for one vector, the commonest types block by block in registers)
//
// The dot product has one definition, the scalar reference below; the AVX2 kernel computes it bit for bit:
//   32 lanes; element e accumulates into lane e mod 32 with a fused multiply-add, in order of e;
//   v[l] = (lane[l] + lane[8 + l]) + (lane[16 + l] + lane[24 + l])          for l < 8
//   y    = ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7]))
// so a row's value never depends on the processor, the number of cores or the rows beside it, and is
// the same whether W is a quantized tensor or its dequantized Float32 copy (type F32). (A NaN's payload
// may: which of two NaNs a multiply-add keeps is the instruction's choice.)
// Types are GGML type numbers: F32 0, F16 1, Q4_0 2, Q4_1 3, Q5_0 6, Q5_1 7, Q8_0 8, Q2_K 10, Q3_K 11,
// Q4_K 12, Q5_K 13, Q6_K 14, BF16 30.
#ifndef SCALPEL_BLOCK_KERNELS_H
#define SCALPEL_BLOCK_KERNELS_H

#include <stddef.h>
#include <stdint.h>

// Whether these kernels handle `type`.
int scalpel_blocks_supported(int type);

// Decodes `count` elements (whole blocks) from `source` into `y`. Returns 0, writing nothing, for an
// unsupported type or a count that is not a whole number of blocks.
int scalpel_dequantize(int type, const void *source, int64_t count, float *y);

// y[v·ldy + r] = W[r, :] · x[v·ldx …] for r < rows and v < vectors; W's rows are `row_bytes` apart, each
// `k` elements of `type` (whole blocks), decoded once for all the vectors. `reference` 1 runs the scalar
// definition, 0 the fastest kernel this processor has. Returns 0, writing nothing, for an unsupported
// type, a k that is not whole blocks, rows shorter than k or ldx < k (or when out of memory for more
// than 8 vectors).
int scalpel_dot_rows(int type, const void *w, size_t row_bytes, int64_t rows, const float *x, int64_t vectors,
                     int64_t ldx, int64_t k, float *y, int64_t ldy, int reference);

// The kernel scalpel_dot_rows runs: "avx2" or "scalar".
const char *scalpel_dot_kernel(void);

#endif

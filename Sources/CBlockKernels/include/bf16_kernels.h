// Products in bfloat16: weights and activations rounded to bfloat16, pairs of products summed in
// Float32 lanes, as AVX512-BF16's vdpbf16ps sums them.
//
//   bf16(x)  = x's top 16 bits rounded to nearest even; a NaN stays a quiet NaN of its sign
//   value(h) = the Float32 whose top 16 bits are h, a subnormal one counted as a zero of its sign
//   flush(z) = z, or a zero of z's sign when z is subnormal (judged after rounding)
//
// Row r of W (k values, k a multiple of 32) times vector x has one definition, the scalar reference;
// every path computes it bit for bit. Pair p is elements 2p and 2p + 1, and goes to lane p mod 16:
//   lane[p mod 16] = flush(fma(value(w[2p + 1]), value(x[2p + 1]), lane[p mod 16]))
//   lane[p mod 16] = flush(fma(value(w[2p]),     value(x[2p]),     lane[p mod 16]))
// in order of p, the 16 lanes starting at +0; then for s = 8, 4, 2, 1: lane[i] = lane[i] + lane[i + s]
// for i < s, in plain Float32 adds; y = lane[0]. (A NaN's payload may differ between paths.)
//
// The paths that run these products: "scalar" (the reference, for tests and bug reports) and
// "avx512bf16". The avx512bf16 path runs only where the processor's vdpbf16ps is checked to sum as
// above (scalpel_bf16_instruction_agrees).
#ifndef SCALPEL_BF16_KERNELS_H
#define SCALPEL_BF16_KERNELS_H

#include <stddef.h>
#include <stdint.h>

// out[i] = bf16(x[i]) for i < count: the same bits on every processor.
void scalpel_bf16_round(const float *x, int64_t count, uint16_t *out);

// y[v·ldy + r] = W[r, :] · x_v for r < rows, v < vectors: W's row r at w + r·ldw, x_v at x + v·ldx (in
// elements). `path` is a path number of q8_kernels.h or SCALPEL_PATH_CHOSEN. Returns 0, writing nothing,
// for a k that is not a multiple of 32, or a path other than scalar and avx512bf16, or one this processor
// does not run.
int scalpel_dot_rows_bf16(const uint16_t *w, int64_t ldw, int64_t rows, const uint16_t *x, int64_t ldx,
                          int64_t vectors, int64_t k, float *y, int64_t ldy, int path);

// 1 when this processor has AVX512-BF16 and its vdpbf16ps gives the definition's bits on inputs that
// tell the possible roundings apart (fused or not, which element first, subnormals kept or flushed).
// Checked once.
int scalpel_bf16_instruction_agrees(void);

#endif

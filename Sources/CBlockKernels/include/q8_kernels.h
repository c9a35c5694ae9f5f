// Integer row products: ggml weight blocks times activations quantized to int8, summed in int32.
//
// Activations, per group of 32 (one buffer of scalpel_q8_bytes(k) bytes per vector):
//   a       = max |x[32g + i]| over i < 32
//   d[g]    = a / 127                     (0 when a = 0, or when 127 / a overflows)
//   q[e]    = nearbyint(x[e] · (127 / a)) clamped to [−127, 127]   (never −128: no saturation below)
//   s16[h]  = Σ q over the 16 elements of half-group h
// A group holding a NaN or an infinity gets d = NaN and q = 0, so the products it enters are NaN.
//
// Weights, per block, in integer form (q8_unpack writes it; it equals the dequantizer's values exactly):
//   value[e] = (d · sc[h]) · c[e] + dm · mn[h]      h = e / 16, c and sc, mn small integers
//
// The product of row r with vector v has one definition, the scalar reference; every path computes it
// bit for bit:
//   isum_g = Σ_h sc[h] · Σ_{e in h} c[e] · q[e]      over the two halves of group g   (exact, int32)
//   msum_g = Σ_h mn[h] · s16[h]                                                        (exact, int32)
//   lane[g mod 8] = fma(d · d_a[g], isum_g, lane[g mod 8])
//   lane[g mod 8] = fma(dm · d_a[g], msum_g, lane[g mod 8])       only for types with minimums
//   y = ((lane0 + lane4) + (lane2 + lane6)) + ((lane1 + lane5) + (lane3 + lane7))
// in order of g, the lanes starting at +0: independent of the thread count and of the rows beside it.
//
// Paths (SCALPEL_KERNELS names them): 0 "scalar" (the reference); 1 "avx2" (maddubs, madd); 2 "avx512"
// (AVX-512 F, BW, VL and VNNI: vpdpbusd); 3 "avx512bf16" (the avx512 path's integer products, and
// bfloat16 products by vdpbf16ps: bf16_kernels.h).
#ifndef SCALPEL_Q8_KERNELS_H
#define SCALPEL_Q8_KERNELS_H

#include <stddef.h>
#include <stdint.h>

enum { SCALPEL_PATH_CHOSEN = -1, SCALPEL_PATH_SCALAR = 0, SCALPEL_PATH_AVX2 = 1, SCALPEL_PATH_AVX512 = 2,
       SCALPEL_PATH_AVX512BF16 = 3, SCALPEL_PATH_COUNT = 4 };

// The path's name, or "" for a number that names none.
const char *scalpel_kernel_path_name(int path);
// 1 when this build has the path's kernels and this processor runs them.
int scalpel_kernel_path_available(int path);
// What the path needs that is missing ("" when available): for messages.
const char *scalpel_kernel_path_missing(int path);
// The path every product runs from now on. Returns 0, changing nothing, for an unavailable path.
int scalpel_kernel_path_choose(int path);
// The path products run: the one chosen, else the best this processor has.
int scalpel_kernel_path(void);

// Bytes of one vector of k activations in int8 form; 0 when k is not a multiple of 32.
size_t scalpel_q8_bytes(int64_t k);
// Quantizes x[0 ..< k] into `out` (scalpel_q8_bytes(k) bytes) on the chosen path. Returns 0 for a k that
// is not whole groups.
int scalpel_quantize_q8(const float *x, int64_t k, void *out);
// The same on `path` (a path number, or SCALPEL_PATH_CHOSEN): every path writes the scalar path's bytes.
// Returns 0 also for a path this processor does not run.
int scalpel_quantize_q8_path(const float *x, int64_t k, void *out, int path);
// Whether scalpel_dot_rows_q8 reads `type` (the block types of 32 and 256 elements).
int scalpel_q8_supported(int type);

// y[v·ldy + r] = W[r, :] · x_v for r < rows, v < vectors; W's rows `row_bytes` apart, each k elements of
// `type`; x_v the v-th quantized vector, scalpel_q8_bytes(k) bytes after the previous one. `path` is a
// path number or SCALPEL_PATH_CHOSEN. Returns 0, writing nothing, for an unsupported type, a k that is
// not whole blocks, rows shorter than k, or a path this processor does not run.
int scalpel_dot_rows_q8(int type, const void *w, size_t row_bytes, int64_t rows, const void *xq, int64_t vectors,
                        int64_t k, float *y, int64_t ldy, int path);

// For tests: the integer form of one block of `type` (see above). c: one per element; sc, mn: one per
// 16 elements; d, dm: the block's two factors. Returns 0 for an unsupported type.
int scalpel_q8_unpack(int type, const void *block, int8_t *c, int16_t *sc, int16_t *mn, float *d, float *dm);

#endif

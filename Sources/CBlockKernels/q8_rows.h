// Rows × vectors from prepared tiles: the loops every SIMD path shares, filled in with the path's
// registers and its way of forming a tile's sums. q8_kernels.c includes this file once per path, inside
// that path's target attribute, after defining
//   ROWS_AT_ONCE          the rows the path multiplies together (their tiles side by side in registers)
//   OPERAND               the type of a tile as the path's sums read it (prepared_tile, prepared_pair, …)
//   OPERANDS(tiles, here, n, scratch)
//                         the operands of `here` ≤ ROWS_AT_ONCE rows whose n tiles each lie at tiles + i·n:
//                         the tiles themselves, or what the path builds from them in `scratch`
//   SCRATCH_BYTES(n)      the bytes OPERANDS may use, for rows of n tiles
//   ACCUMULATOR, ZERO()   the accumulator's type (lane[0..8) of each row, for one vector) and its zero
//   APPLY(p, q, s16, da, acc, form, chunks)
//                         acc after operand p (see apply_tile_avx2)
//   STORE(acc, here, y)   y[i] = the lanes of row i folded (fold8), for i < here
//   MULTIPLY_ROWS, DOT_ROWS_PREPARED   the names the two functions below take for the path
// Not a header of declarations: it defines functions, and is included nowhere else.

// y[v·ldy + i] for each of the `here` rows whose tiles are prepared at tiles + i·n, times `count` chunked
// vectors `stride` bytes apart: two vectors at once, for two independent chains of sums.
INLINE void MULTIPLY_ROWS(const prepared_tile *tiles, int here, int64_t n, void *scratch, int64_t k,
                          const uint8_t *xc, size_t stride, int count, float *y, int64_t ldy, tile_form f) {
    const OPERAND *operands = OPERANDS(tiles, here, n, scratch);
    int64_t whole = k / TILE;                              // a last, partial tile apart
    int v = 0;
    for (; v + 1 < count; v += 2) {
        chunked_vector x0 = chunked_view(xc + v * stride, k), x1 = chunked_view(xc + (v + 1) * stride, k);
        ACCUMULATOR acc0 = ZERO(), acc1 = ZERO();
        for (int64_t t = 0; t < whole; t++) {
            acc0 = APPLY(operands + t, x0.q + t * TILE, x0.s16 + 16 * t, x0.d + 8 * t, acc0, f, GROUPS);
            acc1 = APPLY(operands + t, x1.q + t * TILE, x1.s16 + 16 * t, x1.d + 8 * t, acc1, f, GROUPS);
        }
        if (whole < n) {
            const OPERAND *p = operands + whole;
            acc0 = APPLY(p, x0.q + whole * TILE, x0.s16 + 16 * whole, x0.d + 8 * whole, acc0, f, p->chunks);
            acc1 = APPLY(p, x1.q + whole * TILE, x1.s16 + 16 * whole, x1.d + 8 * whole, acc1, f, p->chunks);
        }
        STORE(acc0, here, y + v * ldy);
        STORE(acc1, here, y + (v + 1) * ldy);
    }
    for (; v < count; v++) {
        chunked_vector x = chunked_view(xc + v * stride, k);
        ACCUMULATOR acc = ZERO();
        for (int64_t t = 0; t < n; t++)
            acc = APPLY(operands + t, x.q + t * TILE, x.s16 + 16 * t, x.d + 8 * t, acc, f, operands[t].chunks);
        STORE(acc, here, y + v * ldy);
    }
}

// Rows × vectors, vectors a block at a time: a block's activations, chunked, stay in the nearest caches
// while each row's tiles, prepared once per block, stay in the nearest one.
static void DOT_ROWS_PREPARED(DOT_Q8_ARGUMENTS) {
    (void)lanes;
    int64_t n = (k + TILE - 1) / TILE;
    size_t chunked = chunked_bytes(k);
    uint8_t *xc = aligned_alloc(64, (chunked * VECTOR_BLOCK + 63) / 64 * 64);
    prepared_tile *tiles = aligned_alloc(64, (sizeof(prepared_tile) * (size_t)n * ROWS_AT_ONCE + 63) / 64 * 64);
    void *scratch = aligned_alloc(64, (SCRATCH_BYTES(n) + 64 + 63) / 64 * 64);
    if (!xc || !tiles || !scratch) abort();
    for (int64_t v0 = 0; v0 < vectors; v0 += VECTOR_BLOCK) {
        int count = (int)(vectors - v0 < VECTOR_BLOCK ? vectors - v0 : VECTOR_BLOCK);
        for (int v = 0; v < count; v++) chunk_activations(q8_view(xq + (v0 + v) * stride, k), k, xc + v * chunked);
        for (int64_t r = 0; r < rows; r += ROWS_AT_ONCE) {
            int here = (int)(rows - r < ROWS_AT_ONCE ? rows - r : ROWS_AT_ONCE);
            for (int i = 0; i < here; i++)
                for (int64_t t = 0; t < n; t++)
                    prepare_tile(type, w0 + (r + i) * row_bytes, t * TILE,
                                 (int)((k - t * TILE < TILE ? k - t * TILE : TILE) / 32), elements, bytes, tiles + i * n + t);
            float *out = y + v0 * ldy + r;
            switch (type) {                                // the commonest forms as constants
            case Q4_K: case Q4_1: MULTIPLY_ROWS(tiles, here, n, scratch, k, xc, chunked, count, out, ldy, (tile_form){8, 0, 0, 1}); break;
            case Q4_0: MULTIPLY_ROWS(tiles, here, n, scratch, k, xc, chunked, count, out, ldy, (tile_form){8, 0, 1, 0}); break;
            case Q6_K: MULTIPLY_ROWS(tiles, here, n, scratch, k, xc, chunked, count, out, ldy, (tile_form){2, 0, 1, 0}); break;
            case Q8_0: MULTIPLY_ROWS(tiles, here, n, scratch, k, xc, chunked, count, out, ldy, (tile_form){1, 1, 0, 0}); break;
            default:
                MULTIPLY_ROWS(tiles, here, n, scratch, k, xc, chunked, count, out, ldy,
                             (tile_form){span_of(type), tiles->is_signed, tiles->has_offset, has_min});
            }
        }
    }
    free(scratch);
    free(tiles);
    free(xc);
}

#undef ROWS_AT_ONCE
#undef OPERAND
#undef OPERANDS
#undef SCRATCH_BYTES
#undef ACCUMULATOR
#undef ZERO
#undef APPLY
#undef STORE
#undef MULTIPLY_ROWS
#undef DOT_ROWS_PREPARED

// Rows × vectors from prepared tiles: the skeleton every SIMD path shares, filled in with the path's way
// of forming a tile's exact integer sums. q8_kernels.c includes this file once per path, inside that
// path's target attribute, after defining
//   APPLY_TILE(p, q, s16, da, acc, form, chunks)    acc (lane[0..8) of one vector) after tile p
//   MULTIPLY_ROW, DOT_ROWS_PREPARED                 the names the two functions below take for the path
// Not a header of declarations: it defines functions, and is included nowhere else.

// y[v·ldy] = a row, its tiles prepared, times `count` chunked vectors `stride` bytes apart.
INLINE void MULTIPLY_ROW(const prepared_tile *tiles, int64_t k, const uint8_t *xc, size_t stride, int count,
                         float *y, int64_t ldy, tile_form f) {
    int64_t n = (k + TILE - 1) / TILE, whole = k / TILE;   // a last, partial tile apart
    int v = 0;
    for (; v + 1 < count; v += 2) {                      // two vectors at once: two chains of sums in flight
        chunked_vector x0 = chunked_view(xc + v * stride, k), x1 = chunked_view(xc + (v + 1) * stride, k);
        __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
        for (int64_t t = 0; t < whole; t++) {
            acc0 = APPLY_TILE(tiles + t, x0.q + t * TILE, x0.s16 + 16 * t, x0.d + 8 * t, acc0, f, GROUPS);
            acc1 = APPLY_TILE(tiles + t, x1.q + t * TILE, x1.s16 + 16 * t, x1.d + 8 * t, acc1, f, GROUPS);
        }
        if (whole < n) {
            const prepared_tile *p = tiles + whole;
            acc0 = APPLY_TILE(p, x0.q + whole * TILE, x0.s16 + 16 * whole, x0.d + 8 * whole, acc0, f, p->chunks);
            acc1 = APPLY_TILE(p, x1.q + whole * TILE, x1.s16 + 16 * whole, x1.d + 8 * whole, acc1, f, p->chunks);
        }
        float lane[GROUPS];
        _mm256_storeu_ps(lane, acc0);
        y[v * ldy] = fold8(lane);
        _mm256_storeu_ps(lane, acc1);
        y[(v + 1) * ldy] = fold8(lane);
    }
    for (; v < count; v++) {
        chunked_vector x = chunked_view(xc + v * stride, k);
        __m256 acc = _mm256_setzero_ps();
        for (int64_t t = 0; t < n; t++)
            acc = APPLY_TILE(tiles + t, x.q + t * TILE, x.s16 + 16 * t, x.d + 8 * t, acc, f, tiles[t].chunks);
        float lane[GROUPS];
        _mm256_storeu_ps(lane, acc);
        y[v * ldy] = fold8(lane);
    }
}

// Rows × vectors, vectors a block at a time: a block's activations, chunked, stay in the nearest caches
// while each row's tiles, prepared once per block, stay in the nearest one.
static void DOT_ROWS_PREPARED(DOT_Q8_ARGUMENTS) {
    (void)lanes;
    int64_t n = (k + TILE - 1) / TILE;
    size_t chunked = chunked_bytes(k);
    uint8_t *xc = aligned_alloc(64, (chunked * VECTOR_BLOCK + 63) / 64 * 64);
    prepared_tile *tiles = aligned_alloc(64, sizeof(prepared_tile) * (size_t)n);
    if (!xc || !tiles) abort();
    for (int64_t v0 = 0; v0 < vectors; v0 += VECTOR_BLOCK) {
        int count = (int)(vectors - v0 < VECTOR_BLOCK ? vectors - v0 : VECTOR_BLOCK);
        for (int v = 0; v < count; v++) chunk_activations(q8_view(xq + (v0 + v) * stride, k), k, xc + v * chunked);
        for (int64_t r = 0; r < rows; r++) {
            const uint8_t *row = w0 + r * row_bytes;
            for (int64_t t = 0; t < n; t++)
                prepare_tile(type, row, t * TILE, (int)((k - t * TILE < TILE ? k - t * TILE : TILE) / 32), elements,
                             bytes, tiles + t);
            float *out = y + v0 * ldy + r;
            switch (type) {                                // the commonest forms as constants
            case Q4_K: case Q4_1: MULTIPLY_ROW(tiles, k, xc, chunked, count, out, ldy, (tile_form){8, 0, 0, 1}); break;
            case Q4_0: MULTIPLY_ROW(tiles, k, xc, chunked, count, out, ldy, (tile_form){8, 0, 1, 0}); break;
            case Q6_K: MULTIPLY_ROW(tiles, k, xc, chunked, count, out, ldy, (tile_form){2, 0, 1, 0}); break;
            case Q8_0: MULTIPLY_ROW(tiles, k, xc, chunked, count, out, ldy, (tile_form){1, 1, 0, 0}); break;
            default:
                MULTIPLY_ROW(tiles, k, xc, chunked, count, out, ldy,
                             (tile_form){span_of(type), tiles->is_signed, tiles->has_offset, has_min});
            }
        }
    }
    free(tiles);
    free(xc);
}

#undef APPLY_TILE
#undef MULTIPLY_ROW
#undef DOT_ROWS_PREPARED

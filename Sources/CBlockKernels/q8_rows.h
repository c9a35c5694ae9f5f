// Rows × vectors from prepared tiles: the loop every SIMD path shares, filled in with the path's way of
// multiplying prepared rows by a block of chunked vectors. q8_kernels.c includes this file once per path,
// inside that path's target attribute, after defining
//   ROWS_AT_ONCE                     the rows the path multiplies together
//   MULTIPLY_ROWS(tiles, here, n, scratch, k, xc, stride, count, y, ldy, form)
//                                    `here` ≤ ROWS_AT_ONCE rows, row i's n tiles at tiles + i·n, times
//                                    `count` vectors: y[v·ldy + i] (see multiply_rows_avx2)
//   SCRATCH_BYTES(n)                 the working memory MULTIPLY_ROWS takes, for rows of n tiles
//   DOT_ROWS_PREPARED                the name of the function defined here, for the path
// Not a header of declarations: it defines a function, and is included nowhere else.

// Rows × vectors, vectors a block at a time: a block's activations, chunked, stay in the nearest caches
// while each row's tiles, prepared once per block, stay in the nearest one.
static void DOT_ROWS_PREPARED(DOT_Q8_ARGUMENTS) {
    (void)lanes;
    int64_t n = (k + TILE - 1) / TILE;
    size_t chunked = chunked_bytes(k);
    uint8_t *xc = aligned_alloc(64, (chunked * VECTOR_BLOCK + 63) / 64 * 64);
    prepared_tile *tiles = aligned_alloc(64, sizeof(prepared_tile) * (size_t)n * ROWS_AT_ONCE);
    void *scratch = aligned_alloc(64, SCRATCH_BYTES(n) + 64);
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
#undef MULTIPLY_ROWS
#undef SCRATCH_BYTES
#undef DOT_ROWS_PREPARED

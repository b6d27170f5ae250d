// A C face for hnswlib (Debian's libhnswlib-dev, header-only C++): an inner-product HNSW index
// over float vectors labelled 0..<count, built, saved, loaded and searched from Swift.
// Errors never cross as C++ exceptions: every call that can fail returns NULL or a negative
// count and writes a message into `error` (at most `error_len` bytes, NUL-terminated).
#ifndef REC_HNSW_H
#define REC_HNSW_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rec_hnsw rec_hnsw;

// Builds an index over `count` rows of `dim` floats (row i is labelled i), adding points on
// `threads` threads (hnswlib's insertion is thread-safe). M and ef_construction as in hnswlib.
// The graph's links are chosen by inner product, or by L2 distance when `l2_graph` is
// non-zero; searches rank by inner product either way (a saved file does not record which).
rec_hnsw *rec_hnsw_build(const float *rows, size_t count, size_t dim, size_t m, size_t ef_construction,
                         uint64_t seed, int threads, int l2_graph, char *error, size_t error_len);

// Reads an index written by rec_hnsw_save; `dim` must be the width it was built with.
rec_hnsw *rec_hnsw_load(const char *path, size_t dim, char *error, size_t error_len);

// Writes the index to `path`; 0 on success.
int rec_hnsw_save(const rec_hnsw *index, const char *path, char *error, size_t error_len);

// The ef used by every search (hnswlib keeps one per index: set it before serving, not
// concurrently with searches). A search for k > ef explores k.
void rec_hnsw_set_ef(rec_hnsw *index, size_t ef);

// Up to k labels with the largest inner product with `query` (dim floats), best first, into
// `labels`; returns how many. Safe to call from many threads at once.
long rec_hnsw_search(const rec_hnsw *index, const float *query, size_t k, int32_t *labels);

size_t rec_hnsw_count(const rec_hnsw *index);
size_t rec_hnsw_dim(const rec_hnsw *index);
// Bytes the index holds in memory (vectors and level-0 links; upper levels approximated).
size_t rec_hnsw_memory_bytes(const rec_hnsw *index);

void rec_hnsw_free(rec_hnsw *index);

#ifdef __cplusplus
}
#endif

#endif

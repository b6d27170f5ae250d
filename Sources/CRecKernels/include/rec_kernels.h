#ifndef REC_KERNELS_H
#define REC_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The OpenBLAS kernel set in use ("SkylakeX", "Haswell", ...; "unknown" without OpenBLAS).
const char *rec_blas_core(void);
/// The kernel set OpenBLAS chose itself when recfuse replaced it at load time (its SSE3
/// fallback for a processor model it does not know), or NULL when it was kept.
const char *rec_blas_retuned_from(void);

/// Score bounds for the items of blocks [block_begin, block_end) of an int8 item table (the
/// first pass of Retrieve's screened exact path), and the `k` largest lower bounds among them.
///
/// Layout: items in blocks of 8; a block holds `pairs` groups of 16 bytes, group p holding
/// dimensions 2p and 2p+1 of its 8 items (item k's two codes at bytes 2k, 2k+1). The query is
/// int16, its dimensions 2p, 2p+1 packed in `xpairs[p]` (low half first). Item i = 8 block + k:
///
///     S   = sum_j x_j c_ij                                   (exact, in int32)
///     A   = scale[i] * xscale * S + base + bias[i]           (bias may be NULL: 0)
///     E   = xnorm * eps[i] + dq * scale[i] + gamma * (2 |bias[i]| + absc + |A|)
///     lo  = A - E,  hi[i] = A + E                            (lo[i] too when lo is not NULL)
///
/// `scale`, `eps`, `bias`, `lo` and `hi` are indexed by item and cover whole blocks. Of the
/// items below `count`, the (up to) `k` with the largest finite lower bounds go to `idx` and
/// `val` (any order); the return value is how many. Every other such item's lower bound is no
/// larger than the smallest returned. The caller keeps |S| below 2^31. Uses AVX2 when the
/// processor has it (checked once), portable C otherwise; both compute S exactly.
size_t rec_q8_screen(const int8_t *codes, size_t pairs, size_t block_begin, size_t block_end, size_t count,
                     const float *scale, const float *eps, const float *bias, const int32_t *xpairs, float xscale,
                     float xnorm, float dq, float base, float gamma, float absc, float *lo, float *hi, size_t k,
                     int32_t *idx, float *val);

/// Indices i in [begin, end) with hi[i] >= t, in order, into `out` (room for `cap`); returns how
/// many there are (more than `cap`: only the first `cap` written).
size_t rec_collect_at_least(const float *hi, size_t begin, size_t end, float t, int32_t *out, size_t cap);

/// 1 when rec_q8_screen and rec_collect_at_least run their AVX2 kernel on this processor, else 0.
int rec_q8_uses_avx2(void);

/// Tests: 1 makes every kernel take its portable path (0 restores the processor's choice).
void rec_kernels_force_portable(int on);

#ifdef __cplusplus
}
#endif

#endif

#include "rec_kernels.h"

#include <math.h>

/* The k best lower bounds seen so far: a min-heap on val (val[0] the smallest kept). */
struct top {
	int32_t *idx;
	float *val;
	size_t k, n;
};

static void sift_down(struct top *t, size_t p)
{
	for (;;) {
		size_t l = 2 * p + 1, r = l + 1, m = p;
		if (l < t->n && t->val[l] < t->val[m]) m = l;
		if (r < t->n && t->val[r] < t->val[m]) m = r;
		if (m == p) return;
		float tv = t->val[p];
		t->val[p] = t->val[m];
		t->val[m] = tv;
		int32_t ti = t->idx[p];
		t->idx[p] = t->idx[m];
		t->idx[m] = ti;
		p = m;
	}
}

/* The smallest value that would enter (-inf while the heap is not full). */
static inline float top_floor(const struct top *t)
{
	if (t->k == 0) return INFINITY;
	return t->n < t->k ? -INFINITY : t->val[0];
}

static void top_offer(struct top *t, size_t i, float v)
{
	if (!isfinite(v) || t->k == 0) return;
	if (t->n < t->k) {
		t->idx[t->n] = (int32_t) i;
		t->val[t->n] = v;
		t->n++;
		if (t->n == t->k)
			for (size_t p = t->k / 2; p-- > 0;) sift_down(t, p);
	} else if (v > t->val[0]) {
		t->idx[0] = (int32_t) i;
		t->val[0] = v;
		sift_down(t, 0);
	}
}

static size_t screen_portable(const int8_t *codes, size_t pairs, size_t begin, size_t end, size_t count,
                              const float *scale, const float *eps, const float *bias, const int32_t *xpairs,
                              float xscale, float xnorm, float dq, float base, float gamma, float absc, float *lo,
                              float *hi, struct top *t)
{
	for (size_t blk = begin; blk < end; blk++) {
		const int8_t *c = codes + blk * pairs * 16;
		int32_t s[8] = {0};
		for (size_t p = 0; p < pairs; p++) {
			int32_t x0 = (int16_t) (xpairs[p] & 0xffff), x1 = (int16_t) ((uint32_t) xpairs[p] >> 16);
			const int8_t *g = c + p * 16;
			for (int k = 0; k < 8; k++) s[k] += x0 * g[2 * k] + x1 * g[2 * k + 1];
		}
		for (size_t k = 0; k < 8; k++) {
			size_t i = blk * 8 + k;
			float b = bias ? bias[i] : 0.0f;
			float a = scale[i] * xscale * (float) s[k] + base + b;
			float e = xnorm * eps[i] + dq * scale[i] + gamma * (2.0f * fabsf(b) + absc + fabsf(a));
			float l = a - e;
			if (lo) lo[i] = l;
			hi[i] = a + e;
			if (i < count && l > top_floor(t)) top_offer(t, i, l);
		}
	}
	return t->n;
}

static size_t collect_portable(const float *hi, size_t begin, size_t end, float t, int32_t *out, size_t cap)
{
	size_t n = 0;
	for (size_t i = begin; i < end; i++) {
		if (hi[i] >= t) {
			if (n < cap) out[n] = (int32_t) i;
			n++;
		}
	}
	return n;
}

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx2,fma"))) static size_t screen_avx2(const int8_t *codes, size_t pairs, size_t begin,
                                                                size_t end, size_t count, const float *scale,
                                                                const float *eps, const float *bias,
                                                                const int32_t *xpairs, float xscale, float xnorm,
                                                                float dq, float base, float gamma, float absc,
                                                                float *lo, float *hi, struct top *t)
{
	const __m256 vxs = _mm256_set1_ps(xscale), vxn = _mm256_set1_ps(xnorm), vdq = _mm256_set1_ps(dq);
	const __m256 vbase = _mm256_set1_ps(base), vg = _mm256_set1_ps(gamma), vabsc = _mm256_set1_ps(absc);
	const __m256 two = _mm256_set1_ps(2.0f), sign = _mm256_set1_ps(-0.0f);
	__m256 floor_ = _mm256_set1_ps(top_floor(t));
	for (size_t blk = begin; blk < end; blk++) {
		const int8_t *c = codes + blk * pairs * 16;
		__m256i a0 = _mm256_setzero_si256(), a1 = _mm256_setzero_si256();
		size_t p = 0;
		for (; p + 2 <= pairs; p += 2) {
			__m256i g0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) (c + p * 16)));
			__m256i g1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) (c + p * 16 + 16)));
			a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(g0, _mm256_set1_epi32(xpairs[p])));
			a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(g1, _mm256_set1_epi32(xpairs[p + 1])));
		}
		if (p < pairs) {
			__m256i g0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) (c + p * 16)));
			a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(g0, _mm256_set1_epi32(xpairs[p])));
		}
		size_t i = blk * 8;
		__m256 s = _mm256_cvtepi32_ps(_mm256_add_epi32(a0, a1));
		__m256 sc = _mm256_loadu_ps(scale + i);
		__m256 b = bias ? _mm256_loadu_ps(bias + i) : _mm256_setzero_ps();
		// The portable kernel's operations, in its order (mul and add kept apart: no FMA).
		__m256 a = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(_mm256_mul_ps(sc, vxs), s), vbase), b);
		__m256 mag = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(two, _mm256_andnot_ps(sign, b)), vabsc),
		                           _mm256_andnot_ps(sign, a));
		__m256 e = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(vxn, _mm256_loadu_ps(eps + i)), _mm256_mul_ps(vdq, sc)),
		                         _mm256_mul_ps(vg, mag));
		__m256 l = _mm256_sub_ps(a, e);
		if (lo) _mm256_storeu_ps(lo + i, l);
		_mm256_storeu_ps(hi + i, _mm256_add_ps(a, e));
		int mask = _mm256_movemask_ps(_mm256_cmp_ps(l, floor_, _CMP_GT_OQ));
		if (mask) {
			float lv[8];
			_mm256_storeu_ps(lv, l);
			for (size_t k = 0; k < 8; k++)
				if ((mask >> k) & 1 && i + k < count && lv[k] > top_floor(t)) top_offer(t, i + k, lv[k]);
			floor_ = _mm256_set1_ps(top_floor(t));
		}
	}
	return t->n;
}

__attribute__((target("avx2,fma"))) static size_t collect_avx2(const float *hi, size_t begin, size_t end, float t,
                                                                 int32_t *out, size_t cap)
{
	size_t n = 0, i = begin;
	const __m256 vt = _mm256_set1_ps(t);
	for (; i + 8 <= end; i += 8) {
		int mask = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(hi + i), vt, _CMP_GE_OQ));
		while (mask) {
			int k = __builtin_ctz(mask);
			if (n < cap) out[n] = (int32_t) (i + k);
			n++;
			mask &= mask - 1;
		}
	}
	for (; i < end; i++) {
		if (hi[i] >= t) {
			if (n < cap) out[n] = (int32_t) i;
			n++;
		}
	}
	return n;
}

static int force_portable = 0;

void rec_kernels_force_portable(int on) { __atomic_store_n(&force_portable, on, __ATOMIC_RELAXED); }

static int has_avx2(void)
{
	if (__atomic_load_n(&force_portable, __ATOMIC_RELAXED)) return 0;
	static int cached = -1;  // -1: not asked yet; whichever thread asks first stores the (same) answer
	int v = __atomic_load_n(&cached, __ATOMIC_RELAXED);
	if (v < 0) {
		__builtin_cpu_init();
		v = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
		__atomic_store_n(&cached, v, __ATOMIC_RELAXED);
	}
	return v;
}
#else
void rec_kernels_force_portable(int on) { (void) on; }
static int has_avx2(void) { return 0; }
#endif

int rec_q8_uses_avx2(void) { return has_avx2(); }

size_t rec_q8_screen(const int8_t *codes, size_t pairs, size_t begin, size_t end, size_t count, const float *scale,
                     const float *eps, const float *bias, const int32_t *xpairs, float xscale, float xnorm, float dq,
                     float base, float gamma, float absc, float *lo, float *hi, size_t k, int32_t *idx, float *val)
{
	struct top t = {idx, val, k, 0};
#if defined(__x86_64__)
	if (has_avx2())
		return screen_avx2(codes, pairs, begin, end, count, scale, eps, bias, xpairs, xscale, xnorm, dq, base, gamma,
		                   absc, lo, hi, &t);
#endif
	return screen_portable(codes, pairs, begin, end, count, scale, eps, bias, xpairs, xscale, xnorm, dq, base, gamma,
	                       absc, lo, hi, &t);
}

size_t rec_collect_at_least(const float *hi, size_t begin, size_t end, float t, int32_t *out, size_t cap)
{
#if defined(__x86_64__)
	if (has_avx2()) return collect_avx2(hi, begin, end, t, out, cap);
#endif
	return collect_portable(hi, begin, end, t, out, cap);
}

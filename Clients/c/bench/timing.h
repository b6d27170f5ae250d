/*
 * Timing helpers shared by the latency benchmarks: Clients/c/bench/latency.c (over NNG) and
 * Bindings/bench/inproc.c (in-process, through librecfuse).
 */
#ifndef RECFUSE_BENCH_TIMING_H
#define RECFUSE_BENCH_TIMING_H

#include <stdlib.h>
#include <time.h>

static inline double
now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *) a, y = *(const double *) b;
	return x < y ? -1 : x > y;
}

typedef struct {
	double p50, p90, p99, max;
} percentiles;

/* Sorts the n samples in t and reads off their percentiles. */
static inline percentiles
summarize(double *t, int n)
{
	qsort(t, (size_t) n, sizeof(double), cmp_double);
	percentiles p = { t[n / 2], t[(int) (n * 0.90)], t[(int) (n * 0.99)], t[n - 1] };
	return p;
}

#endif

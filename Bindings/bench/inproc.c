/*
 * inproc: Rank latency through librecfuse in-process, the same request latency.c sends over
 * NNG (user 196, 100 candidates), as protobuf bytes through recfuse_call and through the
 * typed recfuse_rank. One thread, one call at a time.
 *
 *   inproc BUNDLE_DIR MODELS_DIR [-n calls]
 */
#define _DEFAULT_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "recfuse.h"
#include "recfuse/v1/recommender.pb-c.h"
#include "timing.h" /* Clients/c/bench */

int
main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s BUNDLE_DIR MODELS_DIR [calls]\n", argv[0]);
		return 2;
	}
	int  n = argc > 3 ? atoi(argv[3]) : 5000;
	char opts[1024];
	snprintf(opts, sizeof(opts), "{\"models_dir\": \"%s\"}", argv[2]);
	recfuse_engine *e;
	if (recfuse_open(argv[1], opts, &e) != RECFUSE_OK) {
		fprintf(stderr, "open: %s\n", recfuse_last_error());
		return 1;
	}
	char        ids[100][8];
	const char *idp[100];
	for (int i = 0; i < 100; i++) {
		snprintf(ids[i], sizeof(ids[i]), "%d", i * 13 % 1682 + 1);
		idp[i] = ids[i];
	}
	Recfuse__V1__RankRequest req = RECFUSE__V1__RANK_REQUEST__INIT;
	Recfuse__V1__User        u = RECFUSE__V1__USER__INIT;
	u.id = "196";
	req.user = &u;
	req.item_ids = (char **) idp;
	req.n_item_ids = 100;
	size_t   qlen = recfuse__v1__rank_request__get_packed_size(&req);
	uint8_t *q = malloc(qlen);
	recfuse__v1__rank_request__pack(&req, q);

	double *t = malloc(sizeof(double) * n);
	printf("%d calls each after 500 warm-up, Rank of 100 candidates for user 196, microseconds\n", n);
	printf("%-28s %8s %8s %8s %8s\n", "path", "p50", "p90", "p99", "max");
	for (int kind = 0; kind < 2; kind++) {
		for (int i = -500; i < n; i++) {
			double t0 = now_us();
			int    rc;
			if (kind == 0) {
				uint8_t *resp;
				size_t   len;
				rc = recfuse_call(e, "Rank", q, qlen, &resp, &len);
				if (rc == RECFUSE_OK) recfuse_free(resp);
			} else {
				recfuse_scored *out;
				size_t          m;
				rc = recfuse_rank(e, "196", idp, 100, NULL, 0, &out, &m);
				if (rc == RECFUSE_OK) recfuse_free(out);
			}
			if (rc != RECFUSE_OK) {
				fprintf(stderr, "call failed: %s\n", recfuse_last_error());
				return 1;
			}
			if (i >= 0) t[i] = now_us() - t0;
		}
		percentiles p = summarize(t, n);
		printf("%-28s %8.1f %8.1f %8.1f %8.1f\n", kind == 0 ? "recfuse_call (protobuf)" : "recfuse_rank (typed)", p.p50, p.p90,
		       p.p99, p.max);
	}
	free(t);
	free(q);
	recfuse_close(e);
	return 0;
}

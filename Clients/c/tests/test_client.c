/*
 * test_client: checks the C client against a live recfuse server serving an ml-100k bundle.
 *
 *   test_client URL
 *
 * Prints one line per check and a closing "N passed, N failed"; exits non-zero on failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "recfuse_client.h"

static int passed, failed;

#define CHECK(cond, ...)                                                                                               \
	do {                                                                                                           \
		if (cond) {                                                                                            \
			passed++;                                                                                      \
			printf("ok   ");                                                                               \
		} else {                                                                                               \
			failed++;                                                                                      \
			printf("FAIL ");                                                                               \
		}                                                                                                      \
		printf(__VA_ARGS__);                                                                                   \
		printf("\n");                                                                                          \
	} while (0)

/* Sends raw bytes; returns the reply's status code, or -1 if the reply is not a Reply. */
static int
raw_status(rfc_client *c, const uint8_t *data, size_t len)
{
	uint8_t *raw;
	size_t   n;
	if (rfc_call_raw(c, data, len, &raw, &n) != 0) return -2;
	Recfuse__V1__Reply *r = recfuse__v1__reply__unpack(NULL, n, raw);
	free(raw);
	if (r == NULL) return -1;
	int code = r->status ? (int) r->status->code : 0;
	recfuse__v1__reply__free_unpacked(r, NULL);
	return code;
}

static int
envelope_status(rfc_client *c, const char *method, const uint8_t *payload, size_t plen, int64_t deadline_unix_ms)
{
	Recfuse__V1__Envelope env = RECFUSE__V1__ENVELOPE__INIT;
	env.method = (char *) method;
	env.payload.data = (uint8_t *) payload;
	env.payload.len = plen;
	env.deadline_unix_ms = deadline_unix_ms;
	size_t   n = recfuse__v1__envelope__get_packed_size(&env);
	uint8_t *buf = malloc(n + 1);
	recfuse__v1__envelope__pack(&env, buf);
	int code = raw_status(c, buf, n);
	free(buf);
	return code;
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s URL\n", argv[0]);
		return 2;
	}
	const char *urls[] = { argv[1] };
	rfc_client *c;
	int         rv = rfc_open(&c, urls, 1, 5000);
	CHECK(rv == 0, "open %s", argv[1]);
	if (rv != 0) return 1;

	Recfuse__V1__HealthResponse *h;
	rv = rfc_health(c, &h);
	CHECK(rv == 0 && h->status == RECFUSE__V1__HEALTH_RESPONSE__SERVING_STATUS__SERVING && h->bundle_version[0],
	    "Health says SERVING with a bundle version");
	if (rv == 0) protobuf_c_message_free_unpacked(&h->base, NULL);

	/* Rank 100 candidates for user 196. */
	char  idbuf[100][8];
	char *ids[102];
	for (int i = 0; i < 100; i++) {
		snprintf(idbuf[i], sizeof(idbuf[i]), "%d", i + 1);
		ids[i] = idbuf[i];
	}
	Recfuse__V1__RankResponse *r;
	rv = rfc_rank(c, "196", (const char *const *) ids, 100, 10, "", -1, &r);
	CHECK(rv == 0 && r->n_items == 10, "Rank 100 candidates, k=10 -> 10 items (status %d %s)", rv, rfc_errmsg(c));
	if (rv == 0) {
		int sorted = 1, titled = 1, ranked = 1;
		for (size_t i = 0; i < r->n_items; i++) {
			if (i > 0 && r->items[i]->score > r->items[i - 1]->score) sorted = 0;
			if (r->items[i]->title == NULL || r->items[i]->title[0] == '\0') titled = 0;
			if (r->items[i]->rank != i + 1) ranked = 0;
		}
		CHECK(sorted && titled && ranked, "Rank items are sorted by score, titled and numbered");
		CHECK(r->meta && r->meta->bundle_version[0] && !r->meta->degraded, "Rank meta carries the bundle, not degraded");
		protobuf_c_message_free_unpacked(&r->base, NULL);
	}

	/* Unknown candidates are reported, not fatal. */
	ids[100] = "no-such-item";
	ids[101] = "also-missing";
	rv = rfc_rank(c, "196", (const char *const *) ids + 98, 4, 0, "", -1, &r);
	CHECK(rv == 0 && r->n_items == 2 && r->n_unknown_items == 2 && strcmp(r->unknown_items[0], "no-such-item") == 0,
	    "Rank reports unknown candidate ids");
	if (rv == 0) protobuf_c_message_free_unpacked(&r->base, NULL);

	/* Unknown user: answered by the fallback, marked degraded. */
	Recfuse__V1__RetrieveResponse *t;
	rv = rfc_retrieve(c, "no-such-user", 5, "", &t);
	CHECK(rv == 0 && t->n_items == 5 && t->meta && t->meta->degraded && strcmp(t->meta->engine, "popularity") == 0,
	    "Retrieve for an unknown user falls back to popularity, degraded");
	if (rv == 0) protobuf_c_message_free_unpacked(&t->base, NULL);

	rv = rfc_retrieve(c, "196", 1000000, "", &t);
	CHECK(rv == RECFUSE__V1__CODE__INVALID_ARGUMENT && strstr(rfc_errmsg(c), "max_k"), "huge k -> INVALID_ARGUMENT (%s)",
	    rfc_errmsg(c));
	rv = rfc_retrieve(c, "196", 10, "no-such-engine", &t);
	CHECK(rv == RECFUSE__V1__CODE__INVALID_ARGUMENT, "unknown engine -> INVALID_ARGUMENT");

	/* Writes: this server runs without a store, and says how to get one. */
	rfc_event                      ev = {"196", "50", 5.0f, 0, "c-test-1"};
	Recfuse__V1__FeedbackResponse *fb;
	rv = rfc_feedback(c, &ev, 1, &fb);
	CHECK(rv == RECFUSE__V1__CODE__FAILED_PRECONDITION && strstr(rfc_errmsg(c), "--store") && fb == NULL,
	    "Feedback without a store -> FAILED_PRECONDITION naming --store (%s)", rfc_errmsg(c));

	Recfuse__V1__HealthRequest hreq = RECFUSE__V1__HEALTH_REQUEST__INIT;
	ProtobufCMessage          *out;
	rv = rfc_call(c, "/recfuse.v1.Recommender/NoSuchMethod", &hreq.base, &recfuse__v1__health_response__descriptor, &out);
	CHECK(rv == RECFUSE__V1__CODE__UNIMPLEMENTED, "unknown method -> UNIMPLEMENTED");

	const uint8_t garbage[] = { 0xff, 0xff, 0xff, 0xff, 0x0f, 0x13, 0x37, 0x00, 0xde, 0xad };
	CHECK(raw_status(c, garbage, sizeof(garbage)) == RECFUSE__V1__CODE__INVALID_ARGUMENT, "garbage bytes -> INVALID_ARGUMENT");
	CHECK(raw_status(c, garbage, 0) == RECFUSE__V1__CODE__INVALID_ARGUMENT, "empty message -> INVALID_ARGUMENT");
	CHECK(envelope_status(c, RFC_METHOD_RANK, garbage, sizeof(garbage), 0) == RECFUSE__V1__CODE__INVALID_ARGUMENT,
	    "undecodable payload -> INVALID_ARGUMENT");
	CHECK(envelope_status(c, RFC_METHOD_HEALTH, NULL, 0, 1) == RECFUSE__V1__CODE__DEADLINE_EXCEEDED,
	    "expired deadline -> DEADLINE_EXCEEDED");

	rv = rfc_health(c, &h);
	CHECK(rv == 0, "server still serving after bad input");
	if (rv == 0) protobuf_c_message_free_unpacked(&h->base, NULL);

	rfc_close(c);

	/* Nothing listens: UNAVAILABLE naming the URL (after the 1 s connect check), not a
	 * DEADLINE_EXCEEDED after the whole 30 s timeout. */
	char nobody[128];
	snprintf(nobody, sizeof(nobody), "ipc:///tmp/rf-nobody-%ld.sock", (long) getpid());
	const char *none[] = { nobody };
	rfc_client *d = NULL;
	CHECK(rfc_open(&d, none, 1, 30000) == 0, "open %s (nothing listens)", nobody);
	if (d != NULL) {
		Recfuse__V1__HealthResponse *dh = NULL;
		rv = rfc_health(d, &dh);
		CHECK(rv == RECFUSE__V1__CODE__UNAVAILABLE && strstr(rfc_errmsg(d), "no connection to ipc:///tmp/rf-nobody-"),
		    "no listener -> UNAVAILABLE (%d: %s)", rv, rfc_errmsg(d));
		rfc_close(d);
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}

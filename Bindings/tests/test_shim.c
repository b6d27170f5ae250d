/*
 * test_shim: librecfuse's C API end to end, built with -fsanitize=address,undefined.
 *
 *   test_shim BUNDLE_DIR MODELS_DIR
 *
 * Success paths (typed helpers and recfuse_call with protobuf-c messages), every bad input
 * the header promises to survive, concurrent calls from several pthreads, close racing with
 * calls, and per-thread last-error messages. Exits non-zero on the first failed check.
 */
#define _DEFAULT_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "recfuse.h"
#include "recfuse/v1/recommender.pb-c.h"

static int checks;

#define CHECK(cond, ...)                                                                   \
	do {                                                                               \
		checks++;                                                                  \
		if (!(cond)) {                                                             \
			fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                                      \
			fprintf(stderr, " (last error: %s)\n", recfuse_last_error());      \
			exit(1);                                                           \
		}                                                                          \
	} while (0)

static const char *ITEMS[] = {"1", "50", "100", "181", "258", "286", "294", "300", "313", "328"};
#define N_ITEMS (sizeof(ITEMS) / sizeof(ITEMS[0]))

static uint8_t *
pack_rank(const char *user, const char *const *items, size_t n, size_t *len)
{
	Recfuse__V1__RankRequest req = RECFUSE__V1__RANK_REQUEST__INIT;
	Recfuse__V1__User        u = RECFUSE__V1__USER__INIT;
	u.id = (char *) user;
	req.user = &u;
	req.item_ids = (char **) items;
	req.n_item_ids = n;
	*len = recfuse__v1__rank_request__get_packed_size(&req);
	uint8_t *buf = malloc(*len ? *len : 1);
	recfuse__v1__rank_request__pack(&req, buf);
	return buf;
}

static void
test_static_calls(void)
{
	CHECK(strcmp(recfuse_version(), "0.1.0") == 0, "version %s", recfuse_version());
	CHECK(strcmp(recfuse_strerror(RECFUSE_OK), "ok") == 0, "strerror(0)");
	CHECK(strcmp(recfuse_strerror(RECFUSE_INVALID_ARGUMENT), "invalid argument") == 0, "strerror(3)");
	CHECK(strcmp(recfuse_strerror(-7), "unrecognised status") == 0, "strerror(-7)");
	recfuse_free(NULL);
	recfuse_close(NULL);
}

static void
test_open_errors(const char *models)
{
	recfuse_engine *e = (recfuse_engine *) 0x1;
	CHECK(recfuse_open(NULL, NULL, &e) == RECFUSE_INVALID_ARGUMENT && e == NULL, "NULL bundle_dir");
	CHECK(strstr(recfuse_last_error(), "bundle_dir is NULL") != NULL, "message");
	CHECK(recfuse_open("/nonexistent/bundle", NULL, NULL) == RECFUSE_INVALID_ARGUMENT, "NULL out");
	CHECK(recfuse_open("/nonexistent/bundle", NULL, &e) == RECFUSE_NOT_FOUND && e == NULL, "missing bundle");
	CHECK(strstr(recfuse_last_error(), "/nonexistent/bundle") != NULL, "message names the path");
	CHECK(recfuse_open("/tmp", "{not json", &e) == RECFUSE_INVALID_ARGUMENT, "bad options");
	CHECK(recfuse_open("/tmp", "{\"max_kk\": 3}", &e) == RECFUSE_INVALID_ARGUMENT, "unknown option");
	CHECK(strstr(recfuse_last_error(), "max_kk") != NULL, "message names the key");

	/* A corrupt bundle: a folder whose manifest is garbage. */
	char dir[] = "/tmp/rf-shim-XXXXXX";
	CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	char path[256];
	snprintf(path, sizeof(path), "%s/manifest.json", dir);
	FILE *f = fopen(path, "w");
	fputs("{\"this is\": \"not a manifest\"", f);
	fclose(f);
	char opts[512];
	snprintf(opts, sizeof(opts), "{\"models_dir\": \"%s\"}", models);
	int rc = recfuse_open(dir, opts, &e);
	CHECK(rc != RECFUSE_OK && e == NULL && recfuse_last_error()[0] != '\0', "corrupt bundle: %d", rc);
	unlink(path);
	rmdir(dir);
}

static void
test_rank(recfuse_engine *e)
{
	recfuse_scored *out = NULL;
	size_t          n = 0;
	CHECK(recfuse_rank(e, "196", ITEMS, N_ITEMS, NULL, 0, &out, &n) == RECFUSE_OK, "rank");
	CHECK(n == N_ITEMS && out != NULL, "n = %zu", n);
	for (size_t i = 1; i < n; i++) CHECK(out[i - 1].score >= out[i].score, "descending at %zu", i);
	int found = 0;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < N_ITEMS; j++) found += strcmp(out[i].item_id, ITEMS[j]) == 0;
	CHECK(found == (int) N_ITEMS, "every id comes back once");
	recfuse_free(out);

	/* k, an explicit engine, an unknown id left out. */
	const char *mixed[] = {"1", "no-such-item", "50"};
	CHECK(recfuse_rank(e, "196", mixed, 3, "popularity", 1, &out, &n) == RECFUSE_OK && n == 1, "k=1: %zu", n);
	recfuse_free(out);
	CHECK(recfuse_rank(e, "196", mixed, 3, "no-such-engine", 0, &out, &n) == RECFUSE_INVALID_ARGUMENT && out == NULL && n == 0,
	      "unknown engine");
	CHECK(strstr(recfuse_last_error(), "no-such-engine") != NULL, "message names the engine");

	CHECK(recfuse_retrieve(e, "196", NULL, 10, &out, &n) == RECFUSE_OK && n == 10, "retrieve");
	recfuse_free(out);

	/* Bad arguments. */
	CHECK(recfuse_rank(e, NULL, ITEMS, N_ITEMS, NULL, 0, &out, &n) == RECFUSE_INVALID_ARGUMENT, "NULL user");
	CHECK(recfuse_rank(e, "196", NULL, 3, NULL, 0, &out, &n) == RECFUSE_INVALID_ARGUMENT, "NULL items, n > 0");
	const char *holes[] = {"1", NULL};
	CHECK(recfuse_rank(e, "196", holes, 2, NULL, 0, &out, &n) == RECFUSE_INVALID_ARGUMENT, "NULL item id");
	CHECK(strstr(recfuse_last_error(), "item_ids[1]") != NULL, "message names the index");
	CHECK(recfuse_rank(e, "196", ITEMS, N_ITEMS, NULL, 0, NULL, &n) == RECFUSE_INVALID_ARGUMENT, "NULL out");
	CHECK(recfuse_retrieve(e, "196", NULL, 1u << 30, &out, &n) == RECFUSE_INVALID_ARGUMENT, "k above max_k");
}

static void
test_call(recfuse_engine *e)
{
	uint8_t *resp = NULL;
	size_t   len = 0;
	/* Health with an empty request (zero bytes). */
	CHECK(recfuse_call(e, "Health", NULL, 0, &resp, &len) == RECFUSE_OK && resp != NULL, "health");
	Recfuse__V1__HealthResponse *h = recfuse__v1__health_response__unpack(NULL, len, resp);
	CHECK(h && h->status == RECFUSE__V1__HEALTH_RESPONSE__SERVING_STATUS__SERVING, "health status");
	CHECK(strlen(h->bundle_version) > 0, "bundle version");
	recfuse__v1__health_response__free_unpacked(h, NULL);
	recfuse_free(resp);

	/* Rank by the full wire name, with protobuf bytes both ways. */
	size_t   qlen;
	uint8_t *q = pack_rank("196", ITEMS, N_ITEMS, &qlen);
	CHECK(recfuse_call(e, "/recfuse.v1.Recommender/Rank", q, qlen, &resp, &len) == RECFUSE_OK, "rank call");
	Recfuse__V1__RankResponse *r = recfuse__v1__rank_response__unpack(NULL, len, resp);
	CHECK(r && r->n_items == N_ITEMS && r->meta && strlen(r->meta->engine) > 0, "rank response");
	/* The typed helper agrees with the protobuf call. */
	recfuse_scored *out;
	size_t          n;
	CHECK(recfuse_rank(e, "196", ITEMS, N_ITEMS, NULL, 0, &out, &n) == RECFUSE_OK, "rank helper");
	for (size_t i = 0; i < n; i++)
		CHECK(strcmp(out[i].item_id, r->items[i]->item_id) == 0 && out[i].score == r->items[i]->score, "same at %zu", i);
	recfuse_free(out);
	recfuse__v1__rank_response__free_unpacked(r, NULL);
	recfuse_free(resp);

	/* Bad input. */
	uint8_t garbage[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f};
	CHECK(recfuse_call(e, "Rank", garbage, sizeof(garbage), &resp, &len) == RECFUSE_INVALID_ARGUMENT && resp == NULL && len == 0,
	      "garbage bytes");
	CHECK(strstr(recfuse_last_error(), "RankRequest") != NULL, "message names the message type");
	CHECK(recfuse_call(e, "Nope", q, qlen, &resp, &len) == RECFUSE_UNIMPLEMENTED, "unknown method");
	CHECK(recfuse_call(e, NULL, q, qlen, &resp, &len) == RECFUSE_INVALID_ARGUMENT, "NULL method");
	CHECK(recfuse_call(e, "Rank", NULL, 5, &resp, &len) == RECFUSE_INVALID_ARGUMENT, "NULL req, len 5");
	CHECK(recfuse_call(e, "Rank", q, qlen, NULL, &len) == RECFUSE_INVALID_ARGUMENT, "NULL resp");
	CHECK(recfuse_call(e, "Rank", q, qlen, &resp, NULL) == RECFUSE_INVALID_ARGUMENT, "NULL resp_len");
	CHECK(recfuse_call(NULL, "Rank", q, qlen, &resp, &len) == RECFUSE_INVALID_ARGUMENT, "NULL engine");
	CHECK(recfuse_call((recfuse_engine *) 0x12340, "Rank", q, qlen, &resp, &len) == RECFUSE_FAILED_PRECONDITION,
	      "never-opened handle");
	free(q);
}

/* ---- concurrency */

typedef struct {
	recfuse_engine *e;
	int             calls;
	const char     *expect_first;
	int             failures;
	int             closed_seen;
	int             other_errors;
} worker_arg;

static void *
worker(void *p)
{
	worker_arg *a = p;
	for (int i = 0; i < a->calls; i++) {
		recfuse_scored *out;
		size_t          n;
		int             rc = recfuse_rank(a->e, "196", ITEMS, N_ITEMS, NULL, 0, &out, &n);
		if (rc == RECFUSE_OK) {
			if (n != N_ITEMS || strcmp(out[0].item_id, a->expect_first) != 0) a->failures++;
			recfuse_free(out);
		} else if (rc == RECFUSE_FAILED_PRECONDITION) {
			a->closed_seen++;
		} else {
			a->other_errors++;
		}
	}
	return NULL;
}

/* Starts `t` workers making `calls` Rank calls each, checked against `expect_first`. */
static void
start_workers(recfuse_engine *e, int t, int calls, const char *expect_first, pthread_t *th, worker_arg *args)
{
	for (int i = 0; i < t; i++) {
		args[i] = (worker_arg){e, calls, expect_first, 0, 0, 0};
		pthread_create(&th[i], NULL, worker, &args[i]);
	}
}

static void *
error_thread(void *p)
{
	(void) p;
	/* A fresh thread has no last error; its own failure does not leak to others. */
	int ok = recfuse_last_error()[0] == '\0';
	recfuse_engine *e;
	recfuse_open(NULL, NULL, &e);
	ok = ok && strstr(recfuse_last_error(), "bundle_dir") != NULL;
	return ok ? (void *) 1 : NULL;
}

static void
test_threads(recfuse_engine *e)
{
	recfuse_scored *ref;
	size_t          n;
	CHECK(recfuse_rank(e, "196", ITEMS, N_ITEMS, NULL, 0, &ref, &n) == RECFUSE_OK, "reference");
	enum { T = 8 };
	pthread_t  th[T];
	worker_arg args[T];
	start_workers(e, T, 200, ref[0].item_id, th, args);
	for (int t = 0; t < T; t++) {
		pthread_join(th[t], NULL);
		CHECK(args[t].failures == 0 && args[t].closed_seen == 0 && args[t].other_errors == 0, "thread %d: %d wrong, %d errors", t,
		      args[t].failures, args[t].other_errors);
	}
	recfuse_free(ref);

	/* Last errors are per thread: this thread's stays what it was. */
	recfuse_call(NULL, "Rank", NULL, 0, NULL, NULL);
	char mine[256];
	snprintf(mine, sizeof(mine), "%s", recfuse_last_error());
	pthread_t other;
	void     *ok;
	pthread_create(&other, NULL, error_thread, NULL);
	pthread_join(other, &ok);
	CHECK(ok != NULL, "the other thread saw its own last error only");
	CHECK(strcmp(mine, recfuse_last_error()) == 0, "ours is unchanged");
}

static void
test_close_races(const char *bundle, const char *opts)
{
	recfuse_engine *e;
	CHECK(recfuse_open(bundle, opts, &e) == RECFUSE_OK, "open for the race");
	recfuse_scored *ref;
	size_t          n;
	CHECK(recfuse_rank(e, "196", ITEMS, N_ITEMS, NULL, 0, &ref, &n) == RECFUSE_OK, "reference");
	enum { T = 4 };
	pthread_t  th[T];
	worker_arg args[T];
	start_workers(e, T, 300, ref[0].item_id, th, args);
	usleep(20000);
	recfuse_close(e); /* while the workers call */
	int closed = 0;
	for (int t = 0; t < T; t++) {
		pthread_join(th[t], NULL);
		CHECK(args[t].failures == 0 && args[t].other_errors == 0, "thread %d: %d wrong, %d errors", t, args[t].failures,
		      args[t].other_errors);
		closed += args[t].closed_seen;
	}
	recfuse_free(ref);
	recfuse_scored *out;
	CHECK(recfuse_rank(e, "196", ITEMS, N_ITEMS, NULL, 0, &out, &n) == RECFUSE_FAILED_PRECONDITION, "closed engine");
	CHECK(strstr(recfuse_last_error(), "closed") != NULL, "message says closed");
	recfuse_close(e); /* twice: a no-op */
	printf("close during calls: %d calls after the close were refused, none crashed\n", closed);
}

int
main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s BUNDLE_DIR MODELS_DIR\n", argv[0]);
		return 2;
	}
	char opts[512];
	snprintf(opts, sizeof(opts), "{\"models_dir\": \"%s\", \"max_k\": 5000}", argv[2]);

	test_static_calls();
	test_open_errors(argv[2]);
	recfuse_engine *e = NULL;
	CHECK(recfuse_open(argv[1], opts, &e) == RECFUSE_OK && e != NULL, "open %s", argv[1]);
	test_rank(e);
	test_call(e);
	test_threads(e);
	recfuse_close(e);
	test_close_races(argv[1], opts);
	printf("test_shim: %d checks passed\n", checks);
	return 0;
}

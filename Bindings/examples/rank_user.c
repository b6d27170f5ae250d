/*
 * rank_user: an outside program using librecfuse through recfuse.h and pkg-config only.
 *
 *   cc rank_user.c -o rank_user $(pkg-config --cflags --libs recfuse)
 *   ./rank_user BUNDLE_DIR [USER] [MODELS_DIR]
 *
 * Prints the user's top 10 of the whole catalogue, then re-ranks those 10 with another
 * engine, all in-process.
 */
#include <stdio.h>

#include <recfuse.h>

int
main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s BUNDLE_DIR [USER] [MODELS_DIR]\n", argv[0]);
		return 2;
	}
	if (recfuse_abi_version() != RECFUSE_ABI_VERSION) {
		fprintf(stderr, "librecfuse has ABI %d, this program was built for %d\n", recfuse_abi_version(),
		        RECFUSE_ABI_VERSION);
		return 1;
	}
	const char *user = argc > 2 ? argv[2] : "196";
	char        opts[1024];
	snprintf(opts, sizeof(opts), "{\"models_dir\": \"%s\"}", argc > 3 ? argv[3] : "models");

	recfuse_engine *e;
	int             rc = recfuse_open(argv[1], opts, &e);
	if (rc != RECFUSE_OK) {
		fprintf(stderr, "recfuse_open: %s: %s\n", recfuse_strerror(rc), recfuse_last_error());
		return 1;
	}
	recfuse_scored *top;
	size_t          n;
	if ((rc = recfuse_retrieve(e, user, NULL, 10, &top, &n)) != RECFUSE_OK) {
		fprintf(stderr, "recfuse_retrieve: %s: %s\n", recfuse_strerror(rc), recfuse_last_error());
		recfuse_close(e);
		return 1;
	}
	printf("top-%zu for user %s (librecfuse %s, in-process):\n", n, user, recfuse_version());
	const char *ids[10];
	for (size_t i = 0; i < n; i++) {
		printf("  %2zu. %6s %10.3f\n", i + 1, top[i].item_id, top[i].score);
		ids[i] = top[i].item_id;
	}
	recfuse_scored *ranked;
	size_t          m;
	if ((rc = recfuse_rank(e, user, ids, n, "svdpp", 0, &ranked, &m)) == RECFUSE_OK) {
		printf("the same items ranked by svdpp:");
		for (size_t i = 0; i < m; i++) printf(" %s", ranked[i].item_id);
		printf("\n");
		recfuse_free(ranked);
	} else {
		fprintf(stderr, "recfuse_rank: %s: %s\n", recfuse_strerror(rc), recfuse_last_error());
	}
	recfuse_free(top);
	recfuse_close(e);
	return rc == RECFUSE_OK ? 0 : 1;
}

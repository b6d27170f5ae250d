/*
 * rank: calls Health, then Rank for one user over a candidate list, and prints the top-k
 * with titles.
 *
 *   rank [-u URL]... [-U user] [-k k] [-n pool] [-e engine] [item_id ...]
 *
 * Candidates are the item ids given after the options (any id scheme), or without them the
 * user's top `pool` (default 100) from Retrieve, as a two-stage recommender would do it. The
 * user's already-seen items are left out. Any failed call, or candidates none of which the
 * server knows, is a message on stderr and exit status 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "recfuse_client.h"

int
main(int argc, char **argv)
{
	const char *urls[16];
	size_t      nurls = 0;
	const char *user = "196", *engine = "";
	int         k = 10, n = 100, opt;
	rfc_tls     tls = {NULL, NULL, NULL};

	while ((opt = getopt(argc, argv, "u:U:k:n:e:C:S:K:")) != -1) {
		switch (opt) {
		case 'u':
			if (nurls < 16) urls[nurls++] = optarg;
			break;
		case 'U': user = optarg; break;
		case 'k': k = atoi(optarg); break;
		case 'n': n = atoi(optarg); break;
		case 'e': engine = optarg; break;
		case 'C': tls.ca_file = optarg; break;       /* tls+tcp: CA of the server certificate */
		case 'S': tls.server_name = optarg; break;   /* tls+tcp: name to verify */
		case 'K': tls.cert_key_file = optarg; break; /* tls+tcp: client cert + key (mutual TLS) */
		default:
			fprintf(stderr, "usage: %s [-u URL]... [-U user] [-k k] [-n pool] [-e engine] [-C ca.pem -S name [-K cert+key.pem]] [item_id ...]\n",
			        argv[0]);
			return 2;
		}
	}
	if (nurls == 0) urls[nurls++] = "ipc:///tmp/recfuse.sock";
	if (n < 1 || k < 0) {
		fprintf(stderr, "need -n >= 1 and -k >= 0\n");
		return 2;
	}

	rfc_client *c;
	int         rv = rfc_open_tls(&c, urls, nurls, 5000, &tls);
	if (rv != 0) {
		fprintf(stderr, "cannot open a client (status %d)\n", rv);
		return 1;
	}
	Recfuse__V1__HealthResponse *h;
	if ((rv = rfc_health(c, &h)) != 0) {
		fprintf(stderr, "Health failed (status %d): %s\n", rv, rfc_errmsg(c));
		rfc_close(c);
		return 1;
	}
	printf("server %s: %s, bundle %s\n", urls[0], h->status == RECFUSE__V1__HEALTH_RESPONSE__SERVING_STATUS__SERVING ? "SERVING" : "NOT SERVING",
	    h->bundle_version);
	protobuf_c_message_free_unpacked(&h->base, NULL);

	/* The candidates: the arguments, or the user's top n from Retrieve. */
	const char *const             *ids;
	size_t                         nids;
	const char                    *source;
	Recfuse__V1__RetrieveResponse *pool = NULL;
	char                         **pool_ids = NULL;
	if (optind < argc) {
		ids = (const char *const *) &argv[optind];
		nids = (size_t) (argc - optind);
		source = "given";
	} else {
		if ((rv = rfc_retrieve(c, user, (uint32_t) n, engine, &pool)) != 0) {
			fprintf(stderr, "Retrieve failed (status %d): %s\n", rv, rfc_errmsg(c));
			rfc_close(c);
			return 1;
		}
		nids = pool->n_items;
		pool_ids = calloc(nids ? nids : 1, sizeof(char *));
		if (pool_ids == NULL) {
			fprintf(stderr, "out of memory\n");
			return 1;
		}
		for (size_t i = 0; i < nids; i++) pool_ids[i] = pool->items[i]->item_id;
		ids = (const char *const *) pool_ids;
		source = "from Retrieve";
	}
	if (nids == 0) {
		fprintf(stderr, "no candidates: Retrieve found nothing for user %s\n", user);
		rfc_close(c);
		return 1;
	}
	Recfuse__V1__RankResponse *r;
	rv = rfc_rank(c, user, ids, nids, (uint32_t) k, engine, 1, &r);
	free(pool_ids); /* the ids themselves belong to the Retrieve response */
	if (pool != NULL) protobuf_c_message_free_unpacked(&pool->base, NULL);
	if (rv != 0) {
		fprintf(stderr, "Rank failed (status %d): %s\n", rv, rfc_errmsg(c));
		rfc_close(c);
		return 1;
	}
	if (r->n_items == 0 && r->n_unknown_items > 0) {
		fprintf(stderr, "none of the %zu candidates is known to the server (unknown: %s%s)\n", nids, r->unknown_items[0],
		    r->n_unknown_items > 1 ? ", ..." : "");
		protobuf_c_message_free_unpacked(&r->base, NULL);
		rfc_close(c);
		return 1;
	}
	if (r->n_unknown_items > 0) fprintf(stderr, "%zu unknown candidates left out\n", r->n_unknown_items);
	printf("top-%d of %zu candidates (%s) for user %s by %s%s%s:\n", k, nids, source, user, r->meta ? r->meta->engine : "?",
	    r->meta && r->meta->degraded ? " (degraded: " : "", r->meta && r->meta->degraded ? r->meta->degraded_reason : "");
	if (r->meta && r->meta->degraded) printf(")\n");
	for (size_t i = 0; i < r->n_items; i++) {
		Recfuse__V1__ScoredItem *it = r->items[i];
		if (it->year)
			printf("%3u. %5s  %8.3f  %s (%u)\n", it->rank, it->item_id, it->score, it->title, it->year);
		else
			printf("%3u. %5s  %8.3f  %s\n", it->rank, it->item_id, it->score, it->title);
	}
	protobuf_c_message_free_unpacked(&r->base, NULL);
	rfc_close(c);
	return 0;
}

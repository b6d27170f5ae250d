/*
 * rank: calls Health, then Rank for one user over a candidate list, and prints the top-k
 * with titles.
 *
 *   rank [-u URL]... [-U user] [-k k] [-n candidates] [-e engine]
 *
 * Candidates are the item ids 1..n (MovieLens ids; n = 1682 is all of ml-100k), with the
 * user's already-seen items left out.
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
	int         k = 10, n = 1682, opt;
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
			fprintf(stderr, "usage: %s [-u URL]... [-U user] [-k k] [-n candidates] [-e engine] [-C ca.pem -S name [-K cert+key.pem]]\n",
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

	char **ids = calloc((size_t) n, sizeof(char *));
	for (int i = 0; i < n; i++) {
		ids[i] = malloc(16);
		snprintf(ids[i], 16, "%d", i + 1);
	}
	Recfuse__V1__RankResponse *r;
	rv = rfc_rank(c, user, (const char *const *) ids, (size_t) n, (uint32_t) k, engine, 1, &r);
	for (int i = 0; i < n; i++) free(ids[i]);
	free(ids);
	if (rv != 0) {
		fprintf(stderr, "Rank failed (status %d): %s\n", rv, rfc_errmsg(c));
		rfc_close(c);
		return 1;
	}
	printf("top-%d of %d candidates for user %s by %s%s%s:\n", k, n, user, r->meta ? r->meta->engine : "?",
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

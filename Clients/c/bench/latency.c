#define _DEFAULT_SOURCE
/*
 * latency: round-trip latency of one client against a recfuse server, next to a bare NNG
 * echo measured in the same run (a forked REP process that sends every message back).
 *
 *   latency -u URL [-n calls] [-w warmup] [-U user]
 *
 * For each request kind (an empty Health call; Rank over 100 candidates) the exact same
 * envelope bytes go first to the echo server, then to recfuse, one call at a time. Prints
 * median, p90, p99 and max in microseconds and the ratio to the echo. Every recfuse reply
 * is decoded and must have status OK.
 */
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "recfuse_client.h"
#include "timing.h"

static void
echo_server(const char *url)
{
	nng_socket s;
	if (nng_rep0_open(&s) != 0 || nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, 4 << 20) != 0 || nng_listen(s, url, NULL, 0) != 0) {
		_exit(1);
	}
	for (;;) {
		nng_msg *m;
		if (nng_recvmsg(s, &m, 0) != 0) _exit(0);
		if (nng_sendmsg(s, m, 0) != 0) nng_msg_free(m);
	}
}

typedef struct {
	percentiles p;
	int         errors;
} stats;

/* n round trips of buf over sock; check_status decodes replies as recfuse Replies. */
static stats
measure(nng_socket sock, const uint8_t *buf, size_t len, int n, int warmup, int check_status)
{
	double *t = malloc(sizeof(double) * (size_t) n);
	stats   st = { 0 };
	for (int i = -warmup; i < n; i++) {
		double   t0 = now_us();
		nng_msg *m;
		nng_msg_alloc(&m, 0);
		nng_msg_append(m, buf, len);
		if (nng_sendmsg(sock, m, 0) != 0 || nng_recvmsg(sock, &m, 0) != 0) {
			st.errors++;
			continue;
		}
		double dt = now_us() - t0;
		if (check_status) {
			Recfuse__V1__Reply *r = recfuse__v1__reply__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
			if (r == NULL || (r->status && r->status->code != 0)) st.errors++;
			if (r) recfuse__v1__reply__free_unpacked(r, NULL);
		}
		nng_msg_free(m);
		if (i >= 0) t[i] = dt;
	}
	st.p = summarize(t, n);
	free(t);
	return st;
}

static uint8_t *
envelope(const char *method, const ProtobufCMessage *req, size_t *len)
{
	Recfuse__V1__Envelope env = RECFUSE__V1__ENVELOPE__INIT;
	size_t                plen = protobuf_c_message_get_packed_size(req);
	uint8_t              *payload = malloc(plen + 1);
	protobuf_c_message_pack(req, payload);
	env.method = (char *) method;
	env.payload.data = payload;
	env.payload.len = plen;
	*len = recfuse__v1__envelope__get_packed_size(&env);
	uint8_t *out = malloc(*len);
	recfuse__v1__envelope__pack(&env, out);
	free(payload);
	return out;
}

static nng_socket
dial(const char *url)
{
	nng_socket s;
	int        rv;
	if ((rv = nng_req0_open(&s)) != 0 || (rv = nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 5000)) != 0 ||
	    (rv = nng_dial(s, url, NULL, 0)) != 0) {
		fprintf(stderr, "cannot dial %s: %s\n", url, nng_strerror(rv));
		exit(1);
	}
	return s;
}

int
main(int argc, char **argv)
{
	const char *url = "ipc:///tmp/recfuse.sock", *user = "196";
	int         n = 20000, warmup = 1000, opt;
	while ((opt = getopt(argc, argv, "u:n:w:U:")) != -1) {
		switch (opt) {
		case 'u': url = optarg; break;
		case 'n': n = atoi(optarg); break;
		case 'w': warmup = atoi(optarg); break;
		case 'U': user = optarg; break;
		default: fprintf(stderr, "usage: %s -u URL [-n calls] [-w warmup] [-U user]\n", argv[0]); return 2;
		}
	}
	if (n < 100) n = 100;
	char echo_url[128];
	snprintf(echo_url, sizeof(echo_url), "ipc:///tmp/rf-echo-%d.sock", (int) getpid());
	pid_t child = fork();
	if (child == 0) echo_server(echo_url);
	usleep(200000);

	Recfuse__V1__HealthRequest health = RECFUSE__V1__HEALTH_REQUEST__INIT;
	Recfuse__V1__RankRequest   rank = RECFUSE__V1__RANK_REQUEST__INIT;
	Recfuse__V1__User          u = RECFUSE__V1__USER__INIT;
	char                       ids[100][8];
	char                      *idp[100];
	for (int i = 0; i < 100; i++) {
		snprintf(ids[i], sizeof(ids[i]), "%d", i * 13 % 1682 + 1);
		idp[i] = ids[i];
	}
	u.id = (char *) user;
	rank.user = &u;
	rank.item_ids = idp;
	rank.n_item_ids = 100;
	struct {
		const char *name;
		uint8_t    *buf;
		size_t      len;
	} kinds[2];
	kinds[0].name = "Health (empty)";
	kinds[0].buf = envelope(RFC_METHOD_HEALTH, &health.base, &kinds[0].len);
	kinds[1].name = "Rank, 100 candidates";
	kinds[1].buf = envelope(RFC_METHOD_RANK, &rank.base, &kinds[1].len);

	nng_socket echo = dial(echo_url), server = dial(url);
	printf("%d calls each after %d warm-up, one client, latency in microseconds\n", n, warmup);
	printf("%-22s %-12s %6s %8s %8s %8s %8s %8s\n", "request", "target", "bytes", "p50", "p90", "p99", "max", "errors");
	int errors = 0;
	for (int k = 0; k < 2; k++) {
		stats e = measure(echo, kinds[k].buf, kinds[k].len, n, warmup, 0);
		stats s = measure(server, kinds[k].buf, kinds[k].len, n, warmup, 1);
		printf("%-22s %-12s %6zu %8.1f %8.1f %8.1f %8.1f %8d\n", kinds[k].name, "nng echo", kinds[k].len, e.p.p50, e.p.p90, e.p.p99, e.p.max, e.errors);
		printf("%-22s %-12s %6zu %8.1f %8.1f %8.1f %8.1f %8d\n", kinds[k].name, "recfuse", kinds[k].len, s.p.p50, s.p.p90, s.p.p99, s.p.max, s.errors);
		printf("%-22s %-12s %6s %7.2fx %7.2fx %7.2fx\n", "", "ratio", "", s.p.p50 / e.p.p50, s.p.p90 / e.p.p90, s.p.p99 / e.p.p99);
		errors += e.errors + s.errors;
		free(kinds[k].buf);
	}
	nng_close(echo);
	nng_close(server);
	kill(child, SIGTERM);
	waitpid(child, NULL, 0);
	return errors == 0 ? 0 : 1;
}

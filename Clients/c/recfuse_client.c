#include "recfuse_client.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>
#include <nng/supplemental/util/platform.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One REQ socket per replica URL: the client, not NNG, picks where each attempt goes (NNG's
 * own re-send may pick a hung replica again, and libnng 1.5 checks for re-sends only once a
 * second). */
struct rfc_client {
	nng_socket *socks;
	size_t      n;
	size_t      next;          /* replica the next call starts at */
	int64_t    *ejected_until; /* monotonic ms: skip this replica until then */
	int        *pipes;         /* connections per socket, kept by pipe notifications */
	char      **urls;
	int         timeout_ms;
	int         resend_ms; /* several replicas: an attempt's time before the next replica */
	char        err[512];
};

#define RFC_EJECT_MS 5000
/* How long a call waits for a connection before it says UNAVAILABLE (capped by its time). */
#define RFC_CONNECT_MS 1000

static void
on_pipe_add(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	(void) p;
	(void) ev;
	__atomic_add_fetch((int *) arg, 1, __ATOMIC_SEQ_CST);
}

static void
on_pipe_rem(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	(void) p;
	(void) ev;
	__atomic_sub_fetch((int *) arg, 1, __ATOMIC_SEQ_CST);
}

static void
free_client(rfc_client *c)
{
	if (c->urls != NULL) {
		for (size_t i = 0; i < c->n; i++) free(c->urls[i]);
	}
	free(c->urls);
	free(c->pipes);
	free(c->socks);
	free(c->ejected_until);
	free(c);
}

static int64_t
mono_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t) t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int
fail(rfc_client *c, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	return code;
}

/* nng's int codes -> wire status codes, keeping nng's own message. */
static int
nng_fail(rfc_client *c, int rv, const char *what)
{
	int code = rv == NNG_ETIMEDOUT ? RECFUSE__V1__CODE__DEADLINE_EXCEEDED : RECFUSE__V1__CODE__UNAVAILABLE;
	return fail(c, code, "%s: %s", what, nng_strerror(rv));
}

int
rfc_open(rfc_client **out, const char *const *urls, size_t nurls, int timeout_ms)
{
	return rfc_open_tls(out, urls, nurls, timeout_ms, NULL);
}

/* A client TLS configuration from PEM files; NULL (and a message on stderr) on failure. */
static nng_tls_config *
tls_client_config(const rfc_tls *t)
{
	nng_tls_config *cfg;
	int             rv;
	if ((rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_CLIENT)) != 0) goto fail0;
	if (t->server_name != NULL && (rv = nng_tls_config_server_name(cfg, t->server_name)) != 0) goto fail;
	if (t->ca_file != NULL) {
		if ((rv = nng_tls_config_ca_file(cfg, t->ca_file)) != 0) goto fail;
		if ((rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED)) != 0) goto fail;
	} else if ((rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_NONE)) != 0) {
		goto fail;
	}
	if (t->cert_key_file != NULL && (rv = nng_tls_config_cert_key_file(cfg, t->cert_key_file, NULL)) != 0) goto fail;
	return cfg;
fail:
	nng_tls_config_free(cfg);
fail0:
	fprintf(stderr, "recfuse: TLS configuration: %s\n", nng_strerror(rv));
	return NULL;
}

int
rfc_open_tls(rfc_client **out, const char *const *urls, size_t nurls, int timeout_ms, const rfc_tls *tls)
{
	int rv;
	if (out == NULL || urls == NULL || nurls == 0) {
		return RECFUSE__V1__CODE__INVALID_ARGUMENT;
	}
	*out = NULL;
	rfc_client *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		return RECFUSE__V1__CODE__RESOURCE_EXHAUSTED;
	}
	c->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
	/* Several replicas: an attempt without a reply after a quarter of the timeout (at least
	 * 100 ms) goes to the next replica, and the silent one is skipped for a while. */
	c->resend_ms = c->timeout_ms / 4 > 100 ? c->timeout_ms / 4 : 100;
	c->n = nurls;
	c->socks = calloc(nurls, sizeof(nng_socket));
	c->ejected_until = calloc(nurls, sizeof(int64_t));
	c->pipes = calloc(nurls, sizeof(int));
	c->urls = calloc(nurls, sizeof(char *));
	for (size_t i = 0; c->urls != NULL && i < nurls; i++) c->urls[i] = strdup(urls[i]);
	if (c->socks == NULL || c->ejected_until == NULL || c->pipes == NULL || c->urls == NULL ||
	    c->urls[nurls - 1] == NULL) {
		free_client(c);
		return RECFUSE__V1__CODE__RESOURCE_EXHAUSTED;
	}
	nng_tls_config *cfg = NULL;
	if (tls != NULL && (cfg = tls_client_config(tls)) == NULL) {
		free_client(c);
		return RECFUSE__V1__CODE__INVALID_ARGUMENT;
	}
	size_t opened = 0;
	for (size_t i = 0; i < nurls; i++) {
		if ((rv = nng_req0_open(&c->socks[i])) != 0) {
			fprintf(stderr, "recfuse: cannot open a socket: %s\n", nng_strerror(rv));
			goto fail;
		}
		opened++;
		nng_socket_set_ms(c->socks[i], NNG_OPT_RECVTIMEO, c->timeout_ms);
		nng_socket_set_ms(c->socks[i], NNG_OPT_SENDTIMEO, c->timeout_ms);
		nng_pipe_notify(c->socks[i], NNG_PIPE_EV_ADD_POST, on_pipe_add, &c->pipes[i]);
		nng_pipe_notify(c->socks[i], NNG_PIPE_EV_REM_POST, on_pipe_rem, &c->pipes[i]);
		/* Non-blocking: NNG keeps (re)connecting in the background. */
		if (strncmp(urls[i], "tls+", 4) == 0 && cfg != NULL) {
			nng_dialer d;
			if ((rv = nng_dialer_create(&d, c->socks[i], urls[i])) == 0 &&
			    (rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg)) == 0) {
				rv = nng_dialer_start(d, NNG_FLAG_NONBLOCK);
			}
		} else {
			rv = nng_dial(c->socks[i], urls[i], NULL, NNG_FLAG_NONBLOCK);
		}
		if (rv != 0) {
			fprintf(stderr, "recfuse: cannot dial %s: %s\n", urls[i], nng_strerror(rv));
			goto fail;
		}
	}
	if (cfg != NULL) nng_tls_config_free(cfg); /* each dialer holds its own reference */
	*out = c;
	return 0;
fail:
	if (cfg != NULL) nng_tls_config_free(cfg);
	for (size_t i = 0; i < opened; i++) nng_close(c->socks[i]);
	free_client(c);
	return RECFUSE__V1__CODE__INVALID_ARGUMENT;
}

void
rfc_close(rfc_client *c)
{
	if (c != NULL) {
		/* nng_close returns once the socket's pipes (and their notifications) are done. */
		for (size_t i = 0; i < c->n; i++) nng_close(c->socks[i]);
		free_client(c);
	}
}

const char *
rfc_errmsg(const rfc_client *c)
{
	return c != NULL ? c->err : "no client";
}

/* One attempt on replica i within attempt_ms: 0 and the reply, or nng's error code. */
static int
attempt(rfc_client *c, size_t i, const uint8_t *data, size_t len, int attempt_ms, nng_msg **reply, const char **what)
{
	nng_ctx  ctx;
	nng_aio *aio = NULL;
	nng_msg *msg = NULL;
	int      rv;

	/* Not connected (nothing listens, a wrong path or port): wait a short while for the
	 * background dialer, then give up with UNAVAILABLE instead of spending the whole timeout. */
	int wait_ms = attempt_ms < RFC_CONNECT_MS ? attempt_ms : RFC_CONNECT_MS;
	for (int64_t until = mono_ms() + wait_ms; __atomic_load_n(&c->pipes[i], __ATOMIC_SEQ_CST) == 0;) {
		if (mono_ms() >= until) {
			*what = "not connected";
			return NNG_ECONNREFUSED;
		}
		nng_msleep(5);
	}

	/* nng 1.5 has no nng_ctx_sendmsg/recvmsg: a context is driven through an aio. */
	*what = "allocating an aio";
	if ((rv = nng_aio_alloc(&aio, NULL, NULL)) != 0) return rv;
	*what = "opening a context";
	if ((rv = nng_ctx_open(&ctx, c->socks[i])) != 0) {
		nng_aio_free(aio);
		return rv;
	}
	/* NNG's REQ would send the request again after its resend time (60 s): an attempt sends
	 * once (a long call, a Retrain, must not be started twice). */
	nng_ctx_set_ms(ctx, NNG_OPT_REQ_RESENDTIME, attempt_ms > 0 ? attempt_ms : 1);
	int64_t end = mono_ms() + attempt_ms;
	nng_aio_set_timeout(aio, attempt_ms);
	*what = "building the request";
	if ((rv = nng_msg_alloc(&msg, 0)) != 0 || (rv = nng_msg_append(msg, data, len)) != 0) {
		nng_msg_free(msg);
		goto out;
	}
	nng_aio_set_msg(aio, msg);
	nng_ctx_send(ctx, aio);
	nng_aio_wait(aio);
	*what = "sending";
	if ((rv = nng_aio_result(aio)) != 0) {
		nng_msg_free(nng_aio_get_msg(aio)); /* not consumed on failure */
		goto out;
	}
	int64_t left = end - mono_ms();
	nng_aio_set_timeout(aio, left > 0 ? (nng_duration) left : 1);
	nng_ctx_recv(ctx, aio);
	nng_aio_wait(aio);
	*what = "waiting for the reply";
	if ((rv = nng_aio_result(aio)) == 0) *reply = nng_aio_get_msg(aio);
out:
	nng_ctx_close(ctx);
	nng_aio_free(aio);
	return rv;
}

int
rfc_call_raw(rfc_client *c, const uint8_t *data, size_t len, uint8_t **reply, size_t *reply_len)
{
	*reply = NULL;
	*reply_len = 0;
	/* The order: replicas not skipped, starting at the next one, then skipped ones. */
	size_t  order[c->n];
	size_t  k = 0;
	int64_t now = mono_ms();
	size_t  start = c->next;
	c->next = (c->next + 1) % c->n;
	for (size_t j = 0; j < c->n; j++) {
		size_t i = (start + j) % c->n;
		if (c->ejected_until[i] <= now) order[k++] = i;
	}
	for (size_t j = 0; j < c->n; j++) {
		size_t i = (start + j) % c->n;
		if (c->ejected_until[i] > now) order[k++] = i;
	}
	int64_t     end = now + c->timeout_ms;
	int         rv = NNG_ETIMEDOUT;
	const char *what = "waiting for the reply";
	size_t      failed = order[0];
	for (size_t j = 0; j < c->n; j++) {
		int64_t left = end - mono_ms();
		if (left <= 0) break;
		int      last = j + 1 == c->n;
		int      ms = (!last && left > c->resend_ms) ? c->resend_ms : (int) left;
		nng_msg *msg = NULL;
		size_t   i = order[j];
		rv = attempt(c, i, data, len, ms, &msg, &what);
		failed = i;
		if (rv == 0) {
			*reply_len = nng_msg_len(msg);
			*reply = malloc(*reply_len > 0 ? *reply_len : 1);
			if (*reply == NULL) {
				*reply_len = 0;
				nng_msg_free(msg);
				return fail(c, RECFUSE__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
			}
			memcpy(*reply, nng_msg_body(msg), *reply_len);
			nng_msg_free(msg);
			return 0;
		}
		if (c->n == 1) break;
		c->ejected_until[i] = mono_ms() + RFC_EJECT_MS; /* silent or unreachable: skip it a while */
	}
	if (rv == NNG_ECONNREFUSED && strcmp(what, "not connected") == 0) {
		return fail(
		    c, RECFUSE__V1__CODE__UNAVAILABLE, "no connection to %s%s (is a server listening there?)",
		    c->urls[failed], c->n > 1 ? " or any other replica" : "");
	}
	return nng_fail(c, rv, what);
}

int
rfc_call(rfc_client *c, const char *method, const ProtobufCMessage *req,
         const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp)
{
	Recfuse__V1__Envelope env = RECFUSE__V1__ENVELOPE__INIT;
	uint8_t              *payload, *buf, *raw;
	size_t                raw_len;
	int                   rv;

	*resp = NULL;
	c->err[0] = '\0';
	size_t plen = protobuf_c_message_get_packed_size(req);
	payload = malloc(plen > 0 ? plen : 1);
	if (payload == NULL) {
		return fail(c, RECFUSE__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
	}
	protobuf_c_message_pack(req, payload);
	env.method = (char *) method;
	env.deadline_ms = (uint32_t) c->timeout_ms;
	/* Also absolute, so the time the request waits in a queue before a server thread takes
	 * it counts against the deadline (a request whose caller gave up is not worked on). */
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	env.deadline_unix_ms = (int64_t) now.tv_sec * 1000 + now.tv_nsec / 1000000 + c->timeout_ms;
	env.payload.data = payload;
	env.payload.len = plen;
	size_t elen = recfuse__v1__envelope__get_packed_size(&env);
	buf = malloc(elen);
	if (buf == NULL) {
		free(payload);
		return fail(c, RECFUSE__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
	}
	recfuse__v1__envelope__pack(&env, buf);
	free(payload);
	rv = rfc_call_raw(c, buf, elen, &raw, &raw_len);
	free(buf);
	if (rv != 0) {
		return rv;
	}
	Recfuse__V1__Reply *reply = recfuse__v1__reply__unpack(NULL, raw_len, raw);
	free(raw);
	if (reply == NULL) {
		return fail(c, RECFUSE__V1__CODE__INTERNAL, "reply is not a recfuse.v1.Reply (%zu bytes)", raw_len);
	}
	int code = reply->status != NULL ? (int) reply->status->code : 0;
	if (code != 0) {
		fail(c, code, "%s", reply->status->message ? reply->status->message : "");
		recfuse__v1__reply__free_unpacked(reply, NULL);
		return code;
	}
	*resp = protobuf_c_message_unpack(resp_desc, NULL, reply->payload.len, reply->payload.data);
	recfuse__v1__reply__free_unpacked(reply, NULL);
	if (*resp == NULL) {
		return fail(c, RECFUSE__V1__CODE__INTERNAL, "response payload is not a %s", resp_desc->name);
	}
	return 0;
}

int
rfc_health(rfc_client *c, Recfuse__V1__HealthResponse **out)
{
	Recfuse__V1__HealthRequest req = RECFUSE__V1__HEALTH_REQUEST__INIT;
	return rfc_call(c, RFC_METHOD_HEALTH, &req.base, &recfuse__v1__health_response__descriptor,
	    (ProtobufCMessage **) out);
}

int
rfc_rank(rfc_client *c, const char *user_id, const char *const *item_ids, size_t n, uint32_t k,
    const char *engine, int exclude_seen, Recfuse__V1__RankResponse **out)
{
	Recfuse__V1__RankRequest req = RECFUSE__V1__RANK_REQUEST__INIT;
	Recfuse__V1__User        user = RECFUSE__V1__USER__INIT;
	user.id = (char *) (user_id ? user_id : "");
	req.user = &user;
	req.engine = (char *) (engine ? engine : "");
	req.n_item_ids = n;
	req.item_ids = (char **) item_ids;
	req.k = k;
	if (exclude_seen >= 0) {
		req.seen_policy_case = RECFUSE__V1__RANK_REQUEST__SEEN_POLICY_EXCLUDE_SEEN;
		req.exclude_seen = exclude_seen ? 1 : 0;
	}
	return rfc_call(c, RFC_METHOD_RANK, &req.base, &recfuse__v1__rank_response__descriptor,
	    (ProtobufCMessage **) out);
}

int
rfc_retrieve(rfc_client *c, const char *user_id, uint32_t k, const char *engine, Recfuse__V1__RetrieveResponse **out)
{
	Recfuse__V1__RetrieveRequest req = RECFUSE__V1__RETRIEVE_REQUEST__INIT;
	Recfuse__V1__User            user = RECFUSE__V1__USER__INIT;
	user.id = (char *) (user_id ? user_id : "");
	req.user = &user;
	req.engine = (char *) (engine ? engine : "");
	req.k = k;
	return rfc_call(c, RFC_METHOD_RETRIEVE, &req.base, &recfuse__v1__retrieve_response__descriptor,
	    (ProtobufCMessage **) out);
}

int
rfc_feedback(rfc_client *c, const rfc_event *events, size_t n, Recfuse__V1__FeedbackResponse **out)
{
	*out = NULL;
	Recfuse__V1__FeedbackEvent  *items = calloc(n ? n : 1, sizeof *items);
	Recfuse__V1__FeedbackEvent **ptrs = calloc(n ? n : 1, sizeof *ptrs);
	if (items == NULL || ptrs == NULL) {
		free(items);
		free(ptrs);
		return fail(c, RECFUSE__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		Recfuse__V1__FeedbackEvent e = RECFUSE__V1__FEEDBACK_EVENT__INIT;
		e.user_id = (char *) (events[i].user_id ? events[i].user_id : "");
		e.item_id = (char *) (events[i].item_id ? events[i].item_id : "");
		e.rating = events[i].rating;
		e.timestamp = events[i].timestamp;
		e.event_id = (char *) (events[i].event_id ? events[i].event_id : "");
		items[i] = e;
		ptrs[i] = &items[i];
	}
	Recfuse__V1__FeedbackRequest req = RECFUSE__V1__FEEDBACK_REQUEST__INIT;
	req.n_events = n;
	req.events = ptrs;
	int rv = rfc_call(c, RFC_METHOD_FEEDBACK, &req.base, &recfuse__v1__feedback_response__descriptor,
	    (ProtobufCMessage **) out);
	free(ptrs);
	free(items);
	return rv;
}

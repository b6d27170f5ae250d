#include "recfuse_client.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct rfc_client {
	nng_socket sock;
	int        timeout_ms;
	char       err[512];
};

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
	if ((rv = nng_req0_open(&c->sock)) != 0) {
		free(c);
		return RECFUSE__V1__CODE__UNAVAILABLE;
	}
	nng_socket_set_ms(c->sock, NNG_OPT_RECVTIMEO, c->timeout_ms);
	nng_socket_set_ms(c->sock, NNG_OPT_SENDTIMEO, c->timeout_ms);
	if (nurls > 1) {
		/* Several replicas: a request whose replica died (or stalls) is sent again to another
		 * after a quarter of the timeout (at least 100 ms), instead of NNG's default minute. */
		int resend = c->timeout_ms / 4 > 100 ? c->timeout_ms / 4 : 100;
		nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, resend);
	}
	nng_tls_config *cfg = NULL;
	if (tls != NULL && (cfg = tls_client_config(tls)) == NULL) {
		nng_close(c->sock);
		free(c);
		return RECFUSE__V1__CODE__INVALID_ARGUMENT;
	}
	for (size_t i = 0; i < nurls; i++) {
		/* Non-blocking: NNG keeps (re)connecting in the background. */
		if (strncmp(urls[i], "tls+", 4) == 0 && cfg != NULL) {
			nng_dialer d;
			if ((rv = nng_dialer_create(&d, c->sock, urls[i])) == 0 &&
			    (rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg)) == 0) {
				rv = nng_dialer_start(d, NNG_FLAG_NONBLOCK);
			}
		} else {
			rv = nng_dial(c->sock, urls[i], NULL, NNG_FLAG_NONBLOCK);
		}
		if (rv != 0) {
			if (cfg != NULL) nng_tls_config_free(cfg);
			fprintf(stderr, "recfuse: cannot dial %s: %s\n", urls[i], nng_strerror(rv));
			nng_close(c->sock);
			free(c);
			return RECFUSE__V1__CODE__INVALID_ARGUMENT;
		}
	}
	if (cfg != NULL) nng_tls_config_free(cfg); /* each dialer holds its own reference */
	*out = c;
	return 0;
}

void
rfc_close(rfc_client *c)
{
	if (c != NULL) {
		nng_close(c->sock);
		free(c);
	}
}

const char *
rfc_errmsg(const rfc_client *c)
{
	return c != NULL ? c->err : "no client";
}

int
rfc_call_raw(rfc_client *c, const uint8_t *data, size_t len, uint8_t **reply, size_t *reply_len)
{
	nng_ctx  ctx;
	nng_aio *aio = NULL;
	nng_msg *msg = NULL;
	int      rv;

	*reply = NULL;
	*reply_len = 0;
	/* nng 1.5 has no nng_ctx_sendmsg/recvmsg: a context is driven through an aio. */
	if ((rv = nng_aio_alloc(&aio, NULL, NULL)) != 0) {
		return nng_fail(c, rv, "allocating an aio");
	}
	if ((rv = nng_ctx_open(&ctx, c->sock)) != 0) {
		nng_aio_free(aio);
		return nng_fail(c, rv, "opening a context");
	}
	nng_aio_set_timeout(aio, c->timeout_ms);
	if ((rv = nng_msg_alloc(&msg, 0)) != 0 || (rv = nng_msg_append(msg, data, len)) != 0) {
		nng_msg_free(msg);
		rv = nng_fail(c, rv, "building the request");
		goto out;
	}
	nng_aio_set_msg(aio, msg);
	nng_ctx_send(ctx, aio);
	nng_aio_wait(aio);
	if ((rv = nng_aio_result(aio)) != 0) {
		nng_msg_free(nng_aio_get_msg(aio)); /* not consumed on failure */
		rv = nng_fail(c, rv, "sending");
		goto out;
	}
	nng_ctx_recv(ctx, aio);
	nng_aio_wait(aio);
	if ((rv = nng_aio_result(aio)) != 0) {
		rv = nng_fail(c, rv, "waiting for the reply");
		goto out;
	}
	msg = nng_aio_get_msg(aio);
	*reply_len = nng_msg_len(msg);
	*reply = malloc(*reply_len > 0 ? *reply_len : 1);
	if (*reply == NULL) {
		*reply_len = 0;
		rv = fail(c, RECFUSE__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
	} else {
		memcpy(*reply, nng_msg_body(msg), *reply_len);
	}
	nng_msg_free(msg);
out:
	nng_ctx_close(ctx);
	nng_aio_free(aio);
	return rv;
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

/*
 * recfuse_client.h: a small C client for the recfuse server (protobuf over NNG REQ/REP).
 *
 * Built on libnng and the protoc-c code generated from Proto/ (gen/, never edited).
 * Every function returns an int status: 0 = OK, otherwise a wire status code
 * (gRPC numbering, see recfuse.v1.Code): transport timeouts are 4 (DEADLINE_EXCEEDED),
 * other transport failures 14 (UNAVAILABLE). rfc_errmsg() describes the last failure
 * on that client.
 *
 * Responses are protoc-c messages owned by the caller: free them with
 * protobuf_c_message_free_unpacked(&resp->base, NULL).
 *
 * Thread-safety: one rfc_client may be shared by several threads (each call opens its
 * own NNG context), but rfc_errmsg() then reports whichever call failed last.
 */
#ifndef RECFUSE_CLIENT_H
#define RECFUSE_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "recfuse/v1/envelope.pb-c.h"
#include "recfuse/v1/recommender.pb-c.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rfc_client rfc_client;

#define RFC_METHOD_RETRIEVE "/recfuse.v1.Recommender/Retrieve"
#define RFC_METHOD_RANK "/recfuse.v1.Recommender/Rank"
#define RFC_METHOD_RERANK "/recfuse.v1.Recommender/Rerank"
#define RFC_METHOD_EXPLAIN "/recfuse.v1.Recommender/Explain"
#define RFC_METHOD_HEALTH "/recfuse.v1.Recommender/Health"
#define RFC_METHOD_INFO "/recfuse.v1.Recommender/Info"
#define RFC_METHOD_FEEDBACK "/recfuse.v1.Recommender/Feedback"
#define RFC_METHOD_UPSERT_USER "/recfuse.v1.Recommender/UpsertUser"

/* Opens one REQ socket per URL in urls[0..nurls). timeout_ms bounds each call and is sent as
 * the call's deadline (relative and absolute). With several URLs (replicas), calls go to them
 * in turn; an attempt with no reply within timeout_ms / 4 (at least 100 ms), or that cannot
 * connect, goes to the next replica with the time left, and the silent replica is skipped for
 * 5 s. So a replica that dies or hangs costs a call that delay, not an error. Dialling is in
 * the background; a call to a replica with no connection waits at most 1 s (or its time, if
 * less) for one, and with none anywhere fails with UNAVAILABLE ("no connection to URL"), not
 * after the whole timeout with DEADLINE_EXCEEDED. Use one client per thread. */
int rfc_open(rfc_client **out, const char *const *urls, size_t nurls, int timeout_ms);

/* TLS for tls+tcp:// URLs: the CA that must have signed the server's certificate (NULL = do
 * not verify), the name to verify it against, and for mutual TLS this client's certificate
 * and private key in one PEM file. */
typedef struct rfc_tls {
	const char *ca_file;
	const char *server_name;
	const char *cert_key_file;
} rfc_tls;

/* rfc_open with TLS settings applied to every tls+tcp:// URL (tls may be NULL). */
int rfc_open_tls(rfc_client **out, const char *const *urls, size_t nurls, int timeout_ms, const rfc_tls *tls);
void rfc_close(rfc_client *c);

/* The last failure's message ("" if none). Valid until the next call on c. */
const char *rfc_errmsg(const rfc_client *c);

/* Generic call: packs req, sends it as `method`, unpacks the response with resp_desc.
 * On success *resp is a new message; on failure *resp is NULL. */
int rfc_call(rfc_client *c, const char *method, const ProtobufCMessage *req,
             const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp);

/* Sends raw bytes and returns the raw reply (malloc'ed; free()). For tests and tools. */
int rfc_call_raw(rfc_client *c, const uint8_t *data, size_t len, uint8_t **reply, size_t *reply_len);

int rfc_health(rfc_client *c, Recfuse__V1__HealthResponse **out);

/* Ranks item_ids[0..n) for user_id; k = 0 returns all. exclude_seen: -1 = server default. */
int rfc_rank(rfc_client *c, const char *user_id, const char *const *item_ids, size_t n, uint32_t k,
             const char *engine, int exclude_seen, Recfuse__V1__RankResponse **out);

int rfc_retrieve(rfc_client *c, const char *user_id, uint32_t k, const char *engine,
                 Recfuse__V1__RetrieveResponse **out);

/* One interaction for rfc_feedback. rating 0 = implicit; timestamp 0 = when received;
 * event_id NULL or "" = no deduplication. */
typedef struct {
	const char *user_id;
	const char *item_id;
	float       rating;
	int64_t     timestamp;
	const char *event_id;
} rfc_event;

/* Records events[0..n) in the server's store (all or none); returns once they are durable.
 * FAILED_PRECONDITION when the server runs without --store. */
int rfc_feedback(rfc_client *c, const rfc_event *events, size_t n, Recfuse__V1__FeedbackResponse **out);

#ifdef __cplusplus
}
#endif
#endif

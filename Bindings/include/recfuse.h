/*
 * recfuse.h: the in-process C API of librecfuse (the recfuse engines without a server).
 *
 * The same calls as the wire (Proto/recfuse/v1/recommender.proto), with the same protobuf
 * bytes: recfuse_call takes a serialized request message (RankRequest, ...) and returns the
 * serialized response message, so one request type serves both paths. Typed helpers cover
 * the common cases without protobuf.
 *
 * Conventions (nng style):
 *   - every function that can fail returns an int status: RECFUSE_OK (0) or one of the
 *     codes below, which are the wire's status codes (google.rpc.Code numbers);
 *   - results come back through out-parameters, which are untouched on failure except that
 *     pointer outputs are set to NULL and lengths to 0;
 *   - everything the library allocates is released with recfuse_free();
 *   - after a failure, recfuse_last_error() returns a message for the calling thread.
 *
 * Thread safety: every function may be called from any thread. Calls on one engine from
 * several threads at once are safe and run in parallel. recfuse_close() may race with calls
 * on the same engine: calls already running finish normally; later calls (and calls that
 * pass a closed or never-opened handle) return RECFUSE_FAILED_PRECONDITION, never crash.
 *
 * Runtime: librecfuse is a Swift library. It links the Swift runtime (libswiftCore.so,
 * libFoundation.so, ...) from the toolchain it was built with; `pkg-config --libs recfuse`
 * adds that directory as an rpath. It also needs libopenblas, libcurl and (for the encoder
 * weights of text engines) the models directory given in the options.
 */
#ifndef RECFUSE_H
#define RECFUSE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RECFUSE_ABI_VERSION 1

/* Status codes: the wire's (google.rpc.Code). */
enum recfuse_status {
	RECFUSE_OK                  = 0,
	RECFUSE_CANCELLED           = 1,
	RECFUSE_UNKNOWN             = 2,
	RECFUSE_INVALID_ARGUMENT    = 3,  /* NULL pointer, bad bytes, unknown engine, k above max_k, ... */
	RECFUSE_DEADLINE_EXCEEDED   = 4,
	RECFUSE_NOT_FOUND           = 5,  /* bundle directory missing */
	RECFUSE_ALREADY_EXISTS      = 6,
	RECFUSE_PERMISSION_DENIED   = 7,
	RECFUSE_RESOURCE_EXHAUSTED  = 8,  /* too many candidates, history too long, ... */
	RECFUSE_FAILED_PRECONDITION = 9,  /* closed or invalid engine handle, bundle that cannot be served */
	RECFUSE_ABORTED             = 10,
	RECFUSE_OUT_OF_RANGE        = 11,
	RECFUSE_UNIMPLEMENTED       = 12, /* unknown method */
	RECFUSE_INTERNAL            = 13,
	RECFUSE_UNAVAILABLE         = 14,
	RECFUSE_DATA_LOSS           = 15  /* corrupt bundle */
};

/* An open bundle with its engines. Opaque. */
typedef struct recfuse_engine recfuse_engine;

/* One scored item of a typed helper's result. */
typedef struct recfuse_scored {
	const char *item_id; /* NUL-terminated, owned by the result array */
	float       score;   /* the value the list is ordered by (descending) */
} recfuse_scored;

/*
 * Opens the bundle in `bundle_dir` (written by `recfuse train`). `options_json` may be NULL
 * or a JSON object with any of:
 *   "models_dir": "models"           where text engines find their sentence-encoder weights
 *   "max_k", "max_candidates", "max_history", "max_text_bytes": limits (as `recfuse serve`)
 *   "default_judge": "local"         Rerank's judge when a request leaves it unset
 *   "llm": { "base_url": ..., "model": ..., ... }   an OpenAI-compatible endpoint (docs/llm.md)
 * On success *out is a handle for the other calls; close it with recfuse_close().
 */
int recfuse_open(const char *bundle_dir, const char *options_json, recfuse_engine **out);

/* Closes an engine. NULL or an already closed handle is a no-op. */
void recfuse_close(recfuse_engine *engine);

/*
 * Calls one RPC in-process. `method` is the full wire name ("/recfuse.v1.Recommender/Rank")
 * or the short one ("Rank", "Retrieve", "Rerank", "Explain", "Health", "Info"). `req` holds
 * the serialized request message (req_len may be 0: an empty message). On RECFUSE_OK, *resp
 * (free with recfuse_free) holds the serialized response message and *resp_len its length
 * (*resp is non-NULL even when the length is 0).
 */
int recfuse_call(recfuse_engine *engine, const char *method, const uint8_t *req, size_t req_len,
                 uint8_t **resp, size_t *resp_len);

/*
 * Typed helper: scores `n_items` item ids for `user_id` with `engine_name` (NULL or "" = the
 * bundle's default engine), best first, keeping the top `k` (0 = all). Unknown item ids are
 * left out. On RECFUSE_OK, *out (free with recfuse_free; one block, strings included) holds
 * *out_len entries.
 */
int recfuse_rank(recfuse_engine *engine, const char *user_id, const char *const *item_ids, size_t n_items,
                 const char *engine_name, size_t k, recfuse_scored **out, size_t *out_len);

/* Typed helper: the top `k` items (0 = 10) of the whole catalogue for `user_id`, seen items excluded. */
int recfuse_retrieve(recfuse_engine *engine, const char *user_id, const char *engine_name, size_t k,
                     recfuse_scored **out, size_t *out_len);

/* Frees anything the library returned. NULL is a no-op. */
void recfuse_free(void *ptr);

/* A static description of a status code ("invalid argument", ...). Never NULL. */
const char *recfuse_strerror(int status);

/*
 * The message of the calling thread's last failure ("" if none yet). Valid until the next
 * recfuse call on this thread; copy it to keep it.
 */
const char *recfuse_last_error(void);

/* The library version ("0.1.0"). */
const char *recfuse_version(void);

/* The ABI version of the loaded library. A program compares it with the RECFUSE_ABI_VERSION
 * it was compiled against and refuses to run on a mismatch (the SONAME, librecfuse.so.1,
 * carries the same major version, so the dynamic loader already keeps incompatible majors
 * apart; this check also catches a library loaded by path, e.g. with dlopen or ctypes). */
int recfuse_abi_version(void);

#ifdef __cplusplus
}
#endif

#endif /* RECFUSE_H */

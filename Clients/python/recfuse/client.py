"""The recfuse client: protobuf envelopes over an NNG REQ socket (pynng)."""
from __future__ import annotations

import concurrent.futures
import threading
import time
from typing import Any, List, Literal, Mapping, Optional, Sequence, Type, Union, cast, overload

import pynng

from . import _requests as rq
from ._requests import (METHODS, R, Cancelled, Code, DeadlineExceeded, HistoryLike, Internal, RpcError,  # noqa: F401
                        Unavailable)
from .v1 import admin_pb2
from .v1 import envelope_pb2 as env_pb
from .v1 import recommender_pb2 as pb


def envelope(method: str, request: Any, timeout: float, metadata: Mapping[str, str], request_id: str) -> bytes:
    """The request envelope: the deadline goes both ways, relative (counted from when the
    server receives it) and absolute, so time spent queued before a server thread picks it up
    counts too (a request whose caller has given up is then not worked on)."""
    timeout_ms = max(1, int(timeout * 1000))
    env = env_pb.Envelope(method=METHODS.get(method, method), deadline_ms=timeout_ms,
                          deadline_unix_ms=int(time.time() * 1000) + timeout_ms,
                          payload=request.SerializeToString(), request_id=rq._str("request_id", request_id))
    for k, v in metadata.items():
        env.metadata[k] = v
    return env.SerializeToString()


def decode(raw: bytes, response_type: Type[R]) -> R:
    """The response inside a Reply envelope, or the RpcError subclass for its status."""
    reply = env_pb.Reply()
    try:
        reply.ParseFromString(raw)
    except Exception as e:  # noqa: BLE001 - any decode failure is the same problem
        raise Internal(Code.INTERNAL, f"reply is not a recfuse.v1.Reply ({len(raw)} bytes)") from e
    if int(reply.status.code) != 0:
        raise RpcError(reply.status.code, reply.status.message, reply.bundle_version)
    out = response_type()
    try:
        out.ParseFromString(reply.payload)
    except Exception as e:  # noqa: BLE001
        raise Internal(Code.INTERNAL, f"reply payload is not a {response_type.DESCRIPTOR.full_name}") from e
    return out


def probe(url: str, tls: Any, limit: float = 1.0) -> str:
    """Why nothing is connected at `url`: what one blocking dial on a throwaway socket says
    (connection refused, no such file, a TLS failure), given at most `limit` seconds."""
    s = pynng.Req0()
    out: List[str] = []

    def dial() -> None:
        try:
            if tls is not None:
                s.tls_config = tls
            s.dial(url, block=True)
            out.append("it connected only now")
        except pynng.NNGException as e:
            out.append(str(e).lower())

    t = threading.Thread(target=dial, daemon=True)
    t.start()
    t.join(limit)
    s.close()  # also ends a dial still waiting
    t.join(1.0)
    return out[0] if out else f"a dial had no answer within {limit:g} s"


def tls_config(ca_file: Optional[str], cert_file: Optional[str], key_file: Optional[str],
               server_name: Optional[str]) -> Optional[pynng.TLSConfig]:
    """The TLS configuration for `tls+tcp://` URLs (None without a CA or a certificate)."""
    if not (ca_file or cert_file):
        return None

    def read(name: str, path: Optional[str]) -> Optional[str]:
        if path is None:
            return None
        try:
            with open(path) as f:
                return f.read()
        except OSError as e:
            raise ValueError(f"{name} {path!r}: {e.strerror}") from None

    return pynng.TLSConfig(
        pynng.TLSConfig.MODE_CLIENT, server_name=tls_server_name_or_none(server_name),
        ca_string=read("tls_ca_file", ca_file), own_cert_string=read("tls_cert_file", cert_file),
        own_key_string=read("tls_key_file", key_file),
        auth_mode=pynng.TLSConfig.AUTH_MODE_REQUIRED if ca_file else pynng.TLSConfig.AUTH_MODE_NONE)


def tls_server_name_or_none(name: Optional[str]) -> Optional[str]:
    return None if name is None else rq._str("tls_server_name", name)


class _Connections:
    """The sockets of a client (one per replica: the client, not NNG, picks where each attempt
    goes; NNG's REQ re-sends go to whichever connection is next, a hung one included) and the
    bookkeeping the sync and asyncio clients share: which replica to try, which to skip."""

    def __init__(self, url: Union[str, Sequence[str]], timeout: float, resend_time: Optional[float],
                 recv_max_size: int, tls: Optional[pynng.TLSConfig], eject_time: float, connect_timeout: float):
        self.urls = rq.check_urls(url)
        self.timeout = rq.check_timeout(timeout)
        self.resend_time = None if resend_time is None else rq.check_timeout(resend_time)
        self.eject_time = rq._float("eject_time", eject_time)
        self.connect_timeout = rq.check_timeout(connect_timeout)
        self.tls = tls
        rq._int("recv_max_size", recv_max_size)
        self.socks: List[pynng.Req0] = []
        try:
            for u in self.urls:
                sock = pynng.Req0(recv_timeout=int(self.timeout * 1000), send_timeout=int(self.timeout * 1000))
                self.socks.append(sock)
                if self.resend_time is not None and len(self.urls) == 1:
                    sock.resend_time = int(self.resend_time * 1000)
                if recv_max_size:
                    sock.recv_max_size = recv_max_size
                if tls is not None:
                    sock.tls_config = tls
                # Non-blocking: the dialer connects (and reconnects) in the background; each call
                # checks for a connection first, so nothing listening is UNAVAILABLE quickly.
                try:
                    sock.dial(u, block=False)
                except pynng.NNGException as e:
                    raise ValueError(f"cannot dial {u!r}: {e}") from None
        except BaseException:
            for s in self.socks:
                s.close()
            raise
        self.lock = threading.Lock()
        self.closed = False
        self._next = 0
        self._ejected_until = [0.0] * len(self.urls)

    def close(self) -> None:
        with self.lock:
            if not self.closed:
                self.closed = True
                for s in self.socks:
                    s.close()

    def order(self) -> List[int]:
        """Replica indices for one call: healthy ones in turn, then skipped ones (longest-skipped first)."""
        with self.lock:
            n = len(self.socks)
            start = self._next
            self._next = (self._next + 1) % n
            now = time.monotonic()
            ring = [(start + k) % n for k in range(n)]
            healthy = [i for i in ring if self._ejected_until[i] <= now]
            ejected = sorted((i for i in ring if self._ejected_until[i] > now), key=lambda i: self._ejected_until[i])
            return healthy + ejected

    def eject(self, i: int) -> None:
        with self.lock:
            self._ejected_until[i] = time.monotonic() + self.eject_time

    def attempt_time(self, n: int, count: int, left: float) -> float:
        """How long attempt `n` of `count` may take: the time left, or with several replicas
        and a resend_time, at most resend_time (the last replica gets all that is left)."""
        several = count > 1 and n < count - 1
        return min(left, self.resend_time) if (several and self.resend_time) else left

    def connect_wait(self, attempt: float) -> float:
        return min(self.connect_timeout, attempt)

    def connected(self, i: int) -> bool:
        return bool(self.socks[i].pipes)

    def not_connected(self, i: int, waited: float) -> Unavailable:
        url = self.urls[i]
        return Unavailable(Code.UNAVAILABLE, f"no connection to {url} within {waited:g} s ({probe(url, self.tls)})")

    def context(self, i: int, attempt: float) -> pynng.Context:
        if self.closed:
            raise Cancelled(Code.CANCELLED, "client is closed")
        try:
            ctx = self.socks[i].new_context()
        except pynng.NNGException as e:  # Closed, or a socket closed under us
            raise Cancelled(Code.CANCELLED, "client is closed") from e
        ms = max(1, int(attempt * 1000))
        # On the NNG context itself (pynng's Context attributes do not reach NNG, so a context
        # would otherwise wait for the socket's timeout).
        pynng.lib.nng_ctx_set_ms(ctx.context, b"recv-timeout", ms)
        pynng.lib.nng_ctx_set_ms(ctx.context, b"send-timeout", ms)
        # NNG's REQ sends a request again after its resend time (60 s by default): an attempt
        # sends once, so a long call (Retrain) is never started twice behind the caller's back.
        pynng.lib.nng_ctx_set_ms(ctx.context, b"req:resend-time", ms)
        return ctx

    def failed(self, last: Optional[BaseException], timeout: float) -> RpcError:
        """The error for a call whose every attempt failed."""
        if isinstance(last, RpcError):
            return last
        if isinstance(last, pynng.NNGException) and not isinstance(last, pynng.Timeout):
            return Unavailable(Code.UNAVAILABLE, f"{last} ({', '.join(self.urls)})")
        return DeadlineExceeded(Code.DEADLINE_EXCEEDED, f"no reply within {timeout:g} s from {', '.join(self.urls)}")


def _many(n: int, per_user: Any, name: str) -> List[List[str]]:
    """item_ids for `rank_many`: one list for every user, or one list per user."""
    if isinstance(per_user, (str, bytes)):
        rq._ids(name, per_user)  # raises the TypeError
    lists = list(per_user)
    if lists and all(isinstance(x, str) for x in lists):
        return [lists] * n
    if len(lists) != n:
        raise ValueError(f"{name} must be one list of ids for every user or one list per user "
                         f"({n} users, {len(lists)} lists)")
    return [rq._ids(f"{name}[{k}]", x) for k, x in enumerate(lists)]


def _concurrency(v: Any) -> int:
    c = rq._int("concurrency", v)
    if c < 1:
        raise ValueError("concurrency must be at least 1")
    return c


class Client:
    """A connection to one or more recfuse servers.

    `url` is an NNG URL (``ipc:///tmp/recfuse.sock``, ``tcp://127.0.0.1:7878``,
    ``tls+tcp://host:7879``) or a list of them; anything else is a ValueError naming the
    accepted schemes. `timeout` (seconds) bounds every call and is sent to the server as the
    call's deadline (relative and absolute, so time the request waits in a server's queue counts).

    The client dials without blocking and reconnects in the background. A call first waits up
    to `connect_timeout` seconds for a connection; if there is none (nothing listens, a wrong
    path or port, a TLS handshake that fails) it raises `Unavailable` saying why, instead of
    waiting out the whole timeout.

    Several URLs are replicas of one service: each gets its own socket, and calls go to them
    in turn. A call that fails to connect, or (with `resend_time`) has no reply after
    `resend_time` seconds, is sent to the next replica with the time left, and the replica
    that failed is skipped for `eject_time` seconds (all replicas skipped: the one skipped
    longest is tried). So a replica that died or hangs (accepts requests, never answers)
    costs a call at most `resend_time`. Set `resend_time` well above the slowest call you
    expect (an LLM-judged Rerank), or that call is sent twice.

    Errors: every failed call raises a `recfuse.RpcError` subclass (`InvalidArgument`,
    `NotFound`, `Unavailable`, `DeadlineExceeded`, `Cancelled` after `close()`, ...); wrong
    argument types or values raise TypeError / ValueError before anything is sent.

    Thread-safe: each call runs on its own NNG context, so several threads may share a client
    (`retrieve_many` / `rank_many` do that for you).
    """

    def __init__(self, url: Union[str, Sequence[str]], timeout: float = 5.0,
                 resend_time: Optional[float] = None, recv_max_size: int = 0,
                 tls_ca_file: Optional[str] = None, tls_cert_file: Optional[str] = None,
                 tls_key_file: Optional[str] = None, tls_server_name: Optional[str] = None,
                 eject_time: float = 5.0, connect_timeout: float = 1.0):
        """`tls_*` configure `tls+tcp://` URLs: the CA that signed the server's certificate
        (verified), and for mutual TLS this client's certificate and key (PEM files)."""
        tls = tls_config(tls_ca_file, tls_cert_file, tls_key_file, tls_server_name)
        self._c = _Connections(url, timeout, resend_time, recv_max_size, tls, eject_time, connect_timeout)
        self.urls = self._c.urls
        self.timeout = self._c.timeout

    # -- lifecycle
    def close(self) -> None:
        """Closes the sockets; calls in flight and later calls raise `Cancelled`."""
        self._c.close()

    @property
    def closed(self) -> bool:
        return self._c.closed

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- transport
    def _wait_connected(self, i: int, wait: float) -> bool:
        end = time.monotonic() + wait
        pause = 0.001
        while not self._c.connected(i):
            left = end - time.monotonic()
            if left <= 0 or self._c.closed:
                return self._c.connected(i)
            time.sleep(min(pause, left))
            pause = min(pause * 2, 0.02)
        return True

    def call_raw(self, data: bytes, timeout: Optional[float] = None) -> bytes:
        """Sends raw bytes and returns the raw reply (for tests and tools)."""
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError(f"data must be bytes, not {type(data).__name__}")
        timeout = self._c.timeout if timeout is None else rq.check_timeout(timeout)
        if self._c.closed:
            raise Cancelled(Code.CANCELLED, "client is closed")
        end = time.monotonic() + timeout
        last: Optional[BaseException] = None
        order = self._c.order()
        for n, i in enumerate(order):
            left = end - time.monotonic()
            if left <= 0:
                break
            attempt = self._c.attempt_time(n, len(order), left)
            wait = self._c.connect_wait(attempt)
            if not self._wait_connected(i, wait):
                if self._c.closed:
                    raise Cancelled(Code.CANCELLED, "client is closed")
                last = self._c.not_connected(i, wait)
                if len(order) > 1:
                    self._c.eject(i)
                continue
            ctx = self._c.context(i, end - time.monotonic() if n == len(order) - 1 else attempt)
            try:
                ctx.send(bytes(data))
                return cast(bytes, ctx.recv())
            except pynng.Timeout as e:
                last = e
                if len(order) > 1:
                    self._c.eject(i)
            except pynng.Closed as e:
                raise Cancelled(Code.CANCELLED, "client is closed") from e
            except pynng.NNGException as e:
                last = e
                if len(order) == 1:
                    raise Unavailable(Code.UNAVAILABLE, f"{e} ({self.urls[i]})") from e
                self._c.eject(i)
            finally:
                try:
                    ctx.close()
                except pynng.NNGException:
                    pass  # the socket was closed under the call: the call says Cancelled
        raise self._c.failed(last, timeout) from (last if isinstance(last, pynng.NNGException) else None)

    def call(self, method: str, request: Any, response_type: Type[R], timeout: Optional[float] = None,
             metadata: Optional[Mapping[str, str]] = None, request_id: str = "") -> R:
        """Calls `method` (a full name or a short one like "Rank") and returns the decoded response."""
        if not hasattr(request, "SerializeToString"):
            raise TypeError(f"request must be a protobuf message, not {type(request).__name__}")
        timeout = self._c.timeout if timeout is None else rq.check_timeout(timeout)
        data = envelope(rq._str("method", method), request, timeout, rq.check_metadata(metadata), request_id)
        return decode(self.call_raw(data, timeout), response_type)

    def _run(self, c: rq.Call[R], timeout: Optional[float], metadata: Optional[Mapping[str, str]],
             request_id: str) -> R:
        return self.call(c.method, c.request, c.response_type, timeout=timeout, metadata=metadata,
                         request_id=request_id)

    # -- RPCs
    def health(self, *, timeout: Optional[float] = None, metadata: Optional[Mapping[str, str]] = None,
               request_id: str = "") -> pb.HealthResponse:
        return self._run(rq.health_call(), timeout, metadata, request_id)

    def info(self, *, timeout: Optional[float] = None, metadata: Optional[Mapping[str, str]] = None,
             request_id: str = "") -> pb.InfoResponse:
        return self._run(rq.info_call(), timeout, metadata, request_id)

    def retrieve(self, user_id: Optional[str] = None, k: int = 10, engine: str = "", *,
                 history: Optional[HistoryLike] = None, preference: str = "",
                 exclude_seen: Optional[bool] = None, filters: Any = None, path: int = pb.RETRIEVAL_PATH_AUTO,
                 timeout: Optional[float] = None, metadata: Optional[Mapping[str, str]] = None,
                 request_id: str = "") -> pb.RetrieveResponse:
        """Top-k items from the whole catalogue for a user (by id and/or inline history).

        `path`: RETRIEVAL_PATH_AUTO (the engine's approximate index from the server's ann_min_items),
        RETRIEVAL_PATH_EXACT (the true top k, possibly screened) or RETRIEVAL_PATH_APPROXIMATE;
        `.meta.retrieval` says which served."""
        return self._run(rq.retrieve_call(user_id, k, engine, history, preference, exclude_seen, filters, path),
                         timeout, metadata, request_id)

    def rank(self, user_id: Optional[str] = None, item_ids: Sequence[str] = (), k: int = 0, engine: str = "", *,
             history: Optional[HistoryLike] = None, preference: str = "",
             exclude_seen: Optional[bool] = None, filters: Any = None, timeout: Optional[float] = None,
             metadata: Optional[Mapping[str, str]] = None, request_id: str = "") -> pb.RankResponse:
        """Scores and orders `item_ids` (a list of str ids) for a user; unknown ids come back in `.unknown_items`."""
        return self._run(rq.rank_call(user_id, item_ids, k, engine, history, preference, exclude_seen, filters),
                         timeout, metadata, request_id)

    def rerank(self, user_id: Optional[str] = None, candidates: Sequence[Any] = (), k: int = 0, *,
               base_engine: str = "", judge: int = pb.JUDGE_DEFAULT, alpha: Optional[float] = None,
               history: Optional[HistoryLike] = None, preference: str = "", diversity: float = 0.0,
               pool_size: int = 0, timeout: Optional[float] = None, metadata: Optional[Mapping[str, str]] = None,
               request_id: str = "") -> pb.RerankResponse:
        """Re-scores candidates (item ids, or (item_id, base_score) pairs) with a judge and fuses."""
        return self._run(rq.rerank_call(user_id, candidates, k, base_engine, judge, alpha, history, preference,
                                        diversity, pool_size), timeout, metadata, request_id)

    def explain(self, user_id: Optional[str] = None, item_id: str = "", engine: str = "", *,
                history: Optional[HistoryLike] = None, preference: str = "",
                style: int = pb.EXPLAIN_STYLE_DEFAULT, timeout: Optional[float] = None,
                metadata: Optional[Mapping[str, str]] = None, request_id: str = "") -> pb.ExplainResponse:
        """Why `item_id` suits the user: text plus evidence."""
        return self._run(rq.explain_call(user_id, item_id, engine, history, preference, style),
                         timeout, metadata, request_id)

    def reload(self, token: str, bundle_dir: str = "", *, timeout: Optional[float] = None,
               metadata: Optional[Mapping[str, str]] = None, request_id: str = "") -> admin_pb2.ReloadResponse:
        """Admin: loads `bundle_dir` (default: the one served) and swaps it in; needs the server's admin token."""
        meta = rq.check_metadata(metadata)
        meta["authorization"] = f"Bearer {rq._str('token', token)}"
        return self._run(rq.reload_call(bundle_dir), timeout, meta, request_id)

    def feedback(self, events: Sequence[Any], *, timeout: Optional[float] = None,
                   metadata: Optional[Mapping[str, str]] = None, request_id: str = "") -> pb.FeedbackResponse:
        """Records interactions (mappings with user_id, item_id and optionally rating (0 = implicit),
        timestamp, event_id, event_type), all or none; returns once they are durable."""
        return self._run(rq.feedback_call(events), timeout, metadata, request_id)

    def upsert_user(self, user_id: str, attributes: Optional[Mapping[str, str]] = None, *, age: int = 0,
                      gender: str = "", occupation: str = "", event_id: str = "", timeout: Optional[float] = None,
                      metadata: Optional[Mapping[str, str]] = None, request_id: str = "") -> pb.WriteResponse:
        """Creates a user or replaces their attributes."""
        return self._run(rq.upsert_user_call(user_id, attributes, age, gender, occupation, event_id),
                         timeout, metadata, request_id)

    def upsert_item(self, token: str, item_id: str, title: str = "", *, categories: Sequence[str] = (),
                      fields: Optional[Mapping[str, str]] = None, year: int = 0, event_id: str = "",
                      timeout: Optional[float] = None, metadata: Optional[Mapping[str, str]] = None,
                      request_id: str = "") -> pb.WriteResponse:
        """Admin: adds an item or replaces its metadata; `.scored_by` / `.not_scored_by` name the engines."""
        return self._run(rq.upsert_item_call(item_id, title, categories, fields, year, event_id), timeout,
                         rq.admin_metadata(token, metadata), request_id)

    def delete_item(self, token: str, item_id: str, *, event_id: str = "", timeout: Optional[float] = None,
                      metadata: Optional[Mapping[str, str]] = None, request_id: str = "") -> pb.WriteResponse:
        """Admin: hides an item from every reply from now on."""
        return self._run(rq.delete_item_call(item_id, event_id), timeout, rq.admin_metadata(token, metadata),
                         request_id)

    def retrain(self, token: str, *, timeout: Optional[float] = 3600.0,
                  metadata: Optional[Mapping[str, str]] = None, request_id: str = "") -> admin_pb2.RetrainResponse:
        """Admin: trains a new bundle from the served one plus the recorded writes, swaps it in when it is
        not worse on the most recent feedback (`.swapped`, `.message` with the figures). Takes minutes."""
        return self._run(rq.retrain_call(), timeout, rq.admin_metadata(token, metadata), request_id)

    # -- many users at once
    def _map(self, calls: List[rq.Call[Any]], concurrency: int, return_exceptions: bool,
             timeout: Optional[float], metadata: Optional[Mapping[str, str]]) -> List[Any]:
        def one(c: rq.Call[Any]) -> Any:
            try:
                return self._run(c, timeout, metadata, "")
            except RpcError as e:
                if return_exceptions:
                    return e
                raise
        if not calls:
            return []
        with concurrent.futures.ThreadPoolExecutor(max_workers=min(concurrency, len(calls))) as pool:
            futures = [pool.submit(one, c) for c in calls]
            try:
                return [f.result() for f in futures]
            except RpcError:
                for f in futures:
                    f.cancel()
                raise

    @overload
    def retrieve_many(self, user_ids: Sequence[str], k: int = 10, engine: str = "", *,
                      exclude_seen: Optional[bool] = None, filters: Any = None, path: int = pb.RETRIEVAL_PATH_AUTO,
                      concurrency: int = 8, return_exceptions: Literal[False] = False, timeout: Optional[float] = None,
                      metadata: Optional[Mapping[str, str]] = None) -> List[pb.RetrieveResponse]: ...

    @overload
    def retrieve_many(self, user_ids: Sequence[str], k: int = 10, engine: str = "", *,
                      exclude_seen: Optional[bool] = None, filters: Any = None, path: int = pb.RETRIEVAL_PATH_AUTO,
                      concurrency: int = 8, return_exceptions: Literal[True], timeout: Optional[float] = None,
                      metadata: Optional[Mapping[str, str]] = None) -> List[Union[pb.RetrieveResponse, RpcError]]: ...

    def retrieve_many(self, user_ids: Sequence[str], k: int = 10, engine: str = "", *,
                      exclude_seen: Optional[bool] = None, filters: Any = None, path: int = pb.RETRIEVAL_PATH_AUTO,
                      concurrency: int = 8, return_exceptions: bool = False, timeout: Optional[float] = None,
                      metadata: Optional[Mapping[str, str]] = None) -> Union[List[pb.RetrieveResponse], List[Union[pb.RetrieveResponse, RpcError]]]:
        """`retrieve` for each user, up to `concurrency` calls in flight over this client's socket;
        the responses in the order of `user_ids`. The first failure is raised (the calls not yet
        sent are dropped), or with `return_exceptions` returned in its user's place."""
        calls = [rq.retrieve_call(u, k, engine, None, "", exclude_seen, filters, path)
                 for u in rq._ids("user_ids", user_ids)]
        return self._map(calls, _concurrency(concurrency), return_exceptions, timeout, metadata)

    @overload
    def rank_many(self, user_ids: Sequence[str], item_ids: Sequence[Any], k: int = 0, engine: str = "", *,
                  exclude_seen: Optional[bool] = None, filters: Any = None, concurrency: int = 8,
                  return_exceptions: Literal[False] = False, timeout: Optional[float] = None,
                  metadata: Optional[Mapping[str, str]] = None) -> List[pb.RankResponse]: ...

    @overload
    def rank_many(self, user_ids: Sequence[str], item_ids: Sequence[Any], k: int = 0, engine: str = "", *,
                  exclude_seen: Optional[bool] = None, filters: Any = None, concurrency: int = 8,
                  return_exceptions: Literal[True], timeout: Optional[float] = None,
                  metadata: Optional[Mapping[str, str]] = None) -> List[Union[pb.RankResponse, RpcError]]: ...

    def rank_many(self, user_ids: Sequence[str], item_ids: Sequence[Any], k: int = 0, engine: str = "", *,
                  exclude_seen: Optional[bool] = None, filters: Any = None, concurrency: int = 8,
                  return_exceptions: bool = False, timeout: Optional[float] = None,
                  metadata: Optional[Mapping[str, str]] = None) -> Union[List[pb.RankResponse], List[Union[pb.RankResponse, RpcError]]]:
        """`rank` for each user: `item_ids` is one list of ids for all of them or one list per user."""
        users = rq._ids("user_ids", user_ids)
        calls = [rq.rank_call(u, ids, k, engine, None, "", exclude_seen, filters)
                 for u, ids in zip(users, _many(len(users), item_ids, "item_ids"))]
        return self._map(calls, _concurrency(concurrency), return_exceptions, timeout, metadata)

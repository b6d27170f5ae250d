"""The recfuse client: protobuf envelopes over an NNG REQ socket (pynng)."""
from __future__ import annotations

import enum
import threading
import time
from typing import Iterable, Mapping, Optional, Sequence, Union

import pynng

from .v1 import admin_pb2
from .v1 import envelope_pb2 as env_pb
from .v1 import recommender_pb2 as pb

SERVICE = "recfuse.v1.Recommender"
METHODS = {name: f"/{SERVICE}/{name}" for name in ("Retrieve", "Rank", "Rerank", "Explain", "Health", "Info")}
METHODS["Reload"] = "/recfuse.v1.Admin/Reload"


class Code(enum.IntEnum):
    """Status codes (gRPC's numbers, as on the wire)."""
    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


class RpcError(Exception):
    """A call that did not succeed: `.code` (a Code) and `.message` say why."""

    def __init__(self, code: int, message: str, bundle_version: str = ""):
        try:
            code = Code(code)
        except ValueError:
            code = Code.UNKNOWN
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
        self.bundle_version = bundle_version


class DeadlineExceeded(RpcError):
    """No reply arrived within the client's timeout."""


HistoryLike = Iterable[Union[str, tuple, Mapping, pb.HistoryItem]]


def _user(user_id: Optional[str], history: Optional[HistoryLike], preference: str,
          age: int = 0, gender: str = "", occupation: str = "") -> pb.User:
    u = pb.User(id=user_id or "", preference=preference or "", age=age, gender=gender, occupation=occupation)
    for h in history or ():
        if isinstance(h, pb.HistoryItem):
            u.history.append(h)
        elif isinstance(h, str):
            u.history.add(item_id=h)
        elif isinstance(h, Mapping):
            u.history.add(**h)
        else:  # (item_id, rating[, timestamp])
            u.history.add(item_id=str(h[0]), rating=float(h[1]) if len(h) > 1 else 0.0,
                          timestamp=int(h[2]) if len(h) > 2 else 0)
    return u


def _constrain(req, exclude_seen: Optional[bool], filters: Optional[Union[Mapping, pb.Filters]]):
    """Sets the seen policy (only when given: unset means the method's default) and filters."""
    if exclude_seen is not None:
        req.exclude_seen = exclude_seen
    if filters is not None:
        req.filters.CopyFrom(filters if isinstance(filters, pb.Filters) else pb.Filters(**filters))
    return req


class Client:
    """A connection to one or more recfuse servers.

    `url` is an NNG URL (``ipc:///tmp/recfuse.sock``, ``tcp://127.0.0.1:7878``) or a list of
    them. `timeout` (seconds) bounds every call and is sent to the server as the call's
    deadline (relative and absolute, so time the request waits in a server's queue counts).

    Several URLs are replicas of one service: each gets its own socket, and calls go to them
    in turn. A call that fails to connect, or (with `resend_time`) has no reply after
    `resend_time` seconds, is sent to the next replica with the time left, and the replica
    that failed is skipped for `eject_time` seconds (all replicas skipped: the one skipped
    longest is tried). So a replica that died or hangs (accepts requests, never answers)
    costs a call at most `resend_time`. Set `resend_time` well above the slowest call you
    expect (an LLM-judged Rerank), or that call is sent twice.

    Thread-safe: each call runs on its own NNG context, so several threads may share a client.
    """

    def __init__(self, url: Union[str, Sequence[str]], timeout: float = 5.0,
                 resend_time: Optional[float] = None, recv_max_size: int = 0,
                 tls_ca_file: Optional[str] = None, tls_cert_file: Optional[str] = None,
                 tls_key_file: Optional[str] = None, tls_server_name: Optional[str] = None,
                 eject_time: float = 5.0):
        """`tls_*` configure `tls+tcp://` URLs: the CA that signed the server's certificate
        (verified), and for mutual TLS this client's certificate and key (PEM files)."""
        self.urls = [url] if isinstance(url, str) else list(url)
        if not self.urls or not all(isinstance(u, str) and u for u in self.urls):
            raise ValueError("at least one URL is needed, each a non-empty string")
        self.timeout = float(timeout)
        self.resend_time = resend_time
        self.eject_time = float(eject_time)
        tls = None
        if tls_ca_file or tls_cert_file:
            def read(path):
                with open(path) as f:
                    return f.read()
            tls = pynng.TLSConfig(
                pynng.TLSConfig.MODE_CLIENT, server_name=tls_server_name,
                ca_string=read(tls_ca_file) if tls_ca_file else None,
                own_cert_string=read(tls_cert_file) if tls_cert_file else None,
                own_key_string=read(tls_key_file) if tls_key_file else None,
                auth_mode=pynng.TLSConfig.AUTH_MODE_REQUIRED if tls_ca_file else pynng.TLSConfig.AUTH_MODE_NONE)

        def socket(urls):
            sock = pynng.Req0(recv_timeout=int(self.timeout * 1000), send_timeout=int(self.timeout * 1000))
            if resend_time is not None and len(self.urls) == 1:
                sock.resend_time = int(resend_time * 1000)
            if recv_max_size:
                sock.recv_max_size = recv_max_size
            if tls is not None:
                sock.tls_config = tls
            for u in urls:
                sock.dial(u, block=False)
            return sock

        # One socket per replica: the client, not NNG, picks where each attempt goes (NNG's
        # REQ re-sends go to whichever connection is next, the hung one included, and libnng
        # 1.5 checks for re-sends only once a second).
        self._socks = [socket([u]) for u in self.urls]
        self._sock = self._socks[0]
        self._lock = threading.Lock()
        self._closed = False
        self._next = 0
        self._ejected_until = [0.0] * len(self.urls)

    # -- lifecycle
    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                for s in self._socks:
                    s.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- transport
    def _order(self):
        """Replica indices for one call: healthy ones in turn, then skipped ones (longest-skipped first)."""
        with self._lock:
            n = len(self._socks)
            start = self._next
            self._next = (self._next + 1) % n
            now = time.monotonic()
            ring = [(start + k) % n for k in range(n)]
            healthy = [i for i in ring if self._ejected_until[i] <= now]
            ejected = sorted((i for i in ring if self._ejected_until[i] > now), key=lambda i: self._ejected_until[i])
            return healthy + ejected

    def _eject(self, i):
        with self._lock:
            self._ejected_until[i] = time.monotonic() + self.eject_time

    def call_raw(self, data: bytes, timeout: Optional[float] = None) -> bytes:
        """Sends raw bytes and returns the raw reply (for tests and tools)."""
        timeout = self.timeout if timeout is None else timeout
        if self._closed:
            raise RpcError(Code.CANCELLED, "client is closed")
        end = time.monotonic() + timeout
        last = None
        order = self._order()
        for n, i in enumerate(order):
            left = end - time.monotonic()
            if left <= 0:
                break
            several = len(order) > 1 and n < len(order) - 1
            attempt = min(left, self.resend_time) if (several and self.resend_time) else left
            try:
                ctx = self._socks[i].new_context()
            except pynng.Closed as e:
                raise RpcError(Code.CANCELLED, "client is closed") from e
            try:
                ms = max(1, int(attempt * 1000))
                # On the NNG context itself (pynng's Context attributes do not reach NNG, so a
                # context would otherwise wait for the socket's timeout).
                pynng.lib.nng_ctx_set_ms(ctx.context, b"recv-timeout", ms)
                pynng.lib.nng_ctx_set_ms(ctx.context, b"send-timeout", ms)
                ctx.send(data)
                return ctx.recv()
            except pynng.Timeout as e:
                last = e
                if len(order) > 1:
                    self._eject(i)
            except pynng.Closed as e:
                raise RpcError(Code.CANCELLED, "client is closed") from e
            except pynng.NNGException as e:
                last = e
                if len(order) == 1:
                    raise RpcError(Code.UNAVAILABLE, f"{e} ({self.urls[i]})") from e
                self._eject(i)
            finally:
                ctx.close()
        if isinstance(last, pynng.NNGException) and not isinstance(last, pynng.Timeout):
            raise RpcError(Code.UNAVAILABLE, f"{last} ({', '.join(self.urls)})") from last
        raise DeadlineExceeded(Code.DEADLINE_EXCEEDED, f"no reply within {timeout:g} s from {', '.join(self.urls)}") \
            from last

    def call(self, method: str, request, response_type, timeout: Optional[float] = None,
             metadata: Optional[Mapping[str, str]] = None, request_id: str = ""):
        """Calls `method` (a full name or a short one like "Rank") and returns the decoded response."""
        timeout = self.timeout if timeout is None else timeout
        full = METHODS.get(method, method)
        # The deadline goes both ways: relative (counted from when the server receives it) and
        # absolute, so time spent queued before a server thread picks it up counts too (a
        # request whose caller has given up is then not worked on).
        timeout_ms = max(1, int(timeout * 1000))
        envelope = env_pb.Envelope(method=full, deadline_ms=timeout_ms,
                                   deadline_unix_ms=int(time.time() * 1000) + timeout_ms,
                                   payload=request.SerializeToString(), request_id=request_id)
        for k, v in (metadata or {}).items():
            envelope.metadata[k] = v
        raw = self.call_raw(envelope.SerializeToString(), timeout)
        reply = env_pb.Reply()
        try:
            reply.ParseFromString(raw)
        except Exception as e:  # noqa: BLE001 - any decode failure is the same problem
            raise RpcError(Code.INTERNAL, f"reply is not a recfuse.v1.Reply ({len(raw)} bytes)") from e
        if reply.status.code != Code.OK:
            raise RpcError(reply.status.code, reply.status.message, reply.bundle_version)
        out = response_type()
        out.ParseFromString(reply.payload)
        return out

    # -- RPCs
    def health(self, **kw) -> pb.HealthResponse:
        return self.call("Health", pb.HealthRequest(), pb.HealthResponse, **kw)

    def info(self, **kw) -> pb.InfoResponse:
        return self.call("Info", pb.InfoRequest(), pb.InfoResponse, **kw)

    def retrieve(self, user_id: Optional[str] = None, k: int = 10, engine: str = "", *,
                 history: Optional[HistoryLike] = None, preference: str = "",
                 exclude_seen: Optional[bool] = None, filters=None, path: int = pb.RETRIEVAL_PATH_AUTO,
                 **kw) -> pb.RetrieveResponse:
        """Top-k items from the whole catalogue for a user (by id and/or inline history).

        `path`: RETRIEVAL_PATH_AUTO (the engine's approximate index from the server's ann_min_items),
        RETRIEVAL_PATH_EXACT (the true top k, possibly screened) or RETRIEVAL_PATH_APPROXIMATE;
        `.meta.retrieval` says which served."""
        req = pb.RetrieveRequest(user=_user(user_id, history, preference), engine=engine, k=k, path=path)
        return self.call("Retrieve", _constrain(req, exclude_seen, filters), pb.RetrieveResponse, **kw)

    def rank(self, user_id: Optional[str] = None, item_ids: Sequence[str] = (), k: int = 0, engine: str = "", *,
             history: Optional[HistoryLike] = None, preference: str = "",
             exclude_seen: Optional[bool] = None, filters=None, **kw) -> pb.RankResponse:
        """Scores and orders `item_ids` for a user; unknown ids come back in `.unknown_items`."""
        req = pb.RankRequest(user=_user(user_id, history, preference), engine=engine,
                             item_ids=[str(i) for i in item_ids], k=k)
        return self.call("Rank", _constrain(req, exclude_seen, filters), pb.RankResponse, **kw)

    def rerank(self, user_id: Optional[str] = None, candidates: Sequence = (), k: int = 0, *,
               base_engine: str = "", judge: int = pb.JUDGE_DEFAULT, alpha: Optional[float] = None,
               history: Optional[HistoryLike] = None, preference: str = "", diversity: float = 0.0,
               pool_size: int = 0, **kw) -> pb.RerankResponse:
        """Re-scores candidates (item ids, or (item_id, base_score) pairs) with a judge and fuses."""
        req = pb.RerankRequest(user=_user(user_id, history, preference), base_engine=base_engine, k=k,
                               judge=judge, diversity=diversity, pool_size=pool_size)
        if alpha is not None:
            req.alpha = alpha
        for c in candidates:
            if isinstance(c, str):
                req.candidates.add(item_id=c)
            else:
                req.candidates.add(item_id=str(c[0]), base_score=float(c[1]))
        return self.call("Rerank", req, pb.RerankResponse, **kw)

    def reload(self, token: str, bundle_dir: str = "", **kw) -> admin_pb2.ReloadResponse:
        """Admin: loads `bundle_dir` (default: the one served) and swaps it in; needs the server's admin token."""
        meta = dict(kw.pop("metadata", None) or {})
        meta["authorization"] = f"Bearer {token}"
        return self.call("Reload", admin_pb2.ReloadRequest(bundle_dir=bundle_dir), admin_pb2.ReloadResponse,
                         metadata=meta, **kw)

    def explain(self, user_id: Optional[str] = None, item_id: str = "", engine: str = "", *,
                history: Optional[HistoryLike] = None, preference: str = "",
                style: int = pb.EXPLAIN_STYLE_DEFAULT, **kw) -> pb.ExplainResponse:
        """Why `item_id` suits the user: text plus evidence."""
        req = pb.ExplainRequest(user=_user(user_id, history, preference), item_id=item_id, engine=engine, style=style)
        return self.call("Explain", req, pb.ExplainResponse, **kw)

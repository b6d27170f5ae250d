"""What the sync and asyncio clients share: status codes, the exception per code, argument
checks (raised before anything is sent) and the request messages each RPC sends."""
from __future__ import annotations

import enum
import math
import numbers
from typing import Any, Dict, Generic, Iterable, List, Mapping, Optional, Sequence, Tuple, Type, TypeVar, Union, cast

from google.protobuf.message import Message

from .v1 import admin_pb2
from .v1 import recommender_pb2 as pb

SERVICE = "recfuse.v1.Recommender"
METHODS = {name: f"/{SERVICE}/{name}"
           for name in ("Retrieve", "Rank", "Rerank", "Explain", "Health", "Info", "Feedback", "UpsertUser")}
METHODS.update({name: f"/recfuse.v1.Admin/{name}" for name in ("Reload", "UpsertItem", "DeleteItem", "Retrain")})

#: URL schemes NNG dials (the server listens on the same ones).
SCHEMES = ("ipc://", "tcp://", "tcp4://", "tcp6://", "tls+tcp://", "tls+tcp4://", "tls+tcp6://", "ws://", "wss://",
           "inproc://", "abstract://")


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
    """A call that did not succeed: `.code` (a Code) and `.message` say why. Raised as the
    subclass for its code (`InvalidArgument`, `NotFound`, `Unavailable`, ...), so callers can
    catch either the family or one kind."""

    def __new__(cls, code: int = Code.UNKNOWN, message: str = "", bundle_version: str = "") -> "RpcError":
        if cls is RpcError:
            cls = _BY_CODE.get(_code(code), RpcError)
        return super().__new__(cls)

    def __init__(self, code: int = Code.UNKNOWN, message: str = "", bundle_version: str = "") -> None:
        c = _code(code)
        super().__init__(f"{c.name}: {message}")
        self.code = c
        self.message = message
        self.bundle_version = bundle_version

    def __reduce__(self) -> Tuple[Any, Tuple[int, str, str]]:
        return (RpcError, (int(self.code), self.message, self.bundle_version))


def _code(code: int) -> Code:
    try:
        return Code(code)
    except ValueError:
        return Code.UNKNOWN


class Cancelled(RpcError):
    """The call was cancelled: the client was closed."""


class InvalidArgument(RpcError):
    """The server refused the request as malformed (an unknown engine, a NaN, k too big, ...)."""


class DeadlineExceeded(RpcError):
    """No reply arrived within the client's timeout (or the server ran out of the deadline)."""


class NotFound(RpcError):
    """An unknown user, item or bundle."""


class PermissionDenied(RpcError):
    """An Admin call with a wrong token."""


class ResourceExhausted(RpcError):
    """The server is over a limit: a message too large, too many requests in progress."""


class FailedPrecondition(RpcError):
    """The server cannot do it in its current state."""


class Unimplemented(RpcError):
    """An unknown method."""


class Internal(RpcError):
    """A bug, or a reply that is not a recfuse reply."""


class Unavailable(RpcError):
    """Nothing answers at the URL (connection refused, no such socket), or the server is
    shutting down: retry later or elsewhere."""


class DataLoss(RpcError):
    """Corrupt data (a bundle that fails its checksums)."""


class Unauthenticated(RpcError):
    """An Admin call without a token."""


_BY_CODE: Dict[Code, Type[RpcError]] = {
    Code.CANCELLED: Cancelled, Code.INVALID_ARGUMENT: InvalidArgument, Code.DEADLINE_EXCEEDED: DeadlineExceeded,
    Code.NOT_FOUND: NotFound, Code.PERMISSION_DENIED: PermissionDenied, Code.RESOURCE_EXHAUSTED: ResourceExhausted,
    Code.FAILED_PRECONDITION: FailedPrecondition, Code.UNIMPLEMENTED: Unimplemented, Code.INTERNAL: Internal,
    Code.UNAVAILABLE: Unavailable, Code.DATA_LOSS: DataLoss, Code.UNAUTHENTICATED: Unauthenticated,
}

# A history entry: an item id, (item_id, rating[, timestamp]), a mapping with those keys, or a HistoryItem.
HistoryEntry = Union[str, Tuple[Any, ...], Mapping[str, Any], pb.HistoryItem]
HistoryLike = Iterable[HistoryEntry]


# -- argument checks: TypeError / ValueError before anything is sent

def check_urls(url: Union[str, Sequence[str]]) -> List[str]:
    urls = [url] if isinstance(url, str) else list(url) if isinstance(url, (list, tuple)) else None
    if urls is None:
        raise TypeError(f"url must be a str or a list of str, not {type(url).__name__}")
    if not urls:
        raise ValueError("at least one URL is needed")
    for u in urls:
        if not isinstance(u, str):
            raise TypeError(f"each url must be a str, not {type(u).__name__} {u!r}")
        if not u.startswith(SCHEMES) or u.split("://", 1)[1] == "":
            raise ValueError(f"{u!r} is not an NNG URL: use one of {', '.join(s + '...' for s in SCHEMES[:6])} "
                             f"(for example tcp://127.0.0.1:7878 or ipc:///tmp/recfuse.sock)")
    return urls


def _id(name: str, v: Any, required: bool = False) -> str:
    if v is None or v == "":
        if required:
            raise ValueError(f"{name} is required")
        return ""
    if not isinstance(v, str):
        raise TypeError(f"{name} must be a str (ids are strings: {name}={str(v)!r}), not {type(v).__name__} {v!r}")
    return v


def _ids(name: str, v: Any) -> List[str]:
    if isinstance(v, (str, bytes)):
        raise TypeError(f"{name} must be a list of ids, not one {type(v).__name__} {v!r} "
                        f"(for several ids: {v!r}.split() if they are space-separated)")
    try:
        items = list(v)
    except TypeError:
        raise TypeError(f"{name} must be a list of str ids, not {type(v).__name__}") from None
    for i in items:
        if not isinstance(i, str):
            raise TypeError(f"every entry of {name} must be a str id, not {type(i).__name__} {i!r}")
    return items


def _int(name: str, v: Any, low: int = 0) -> int:
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name} must be an int, not {type(v).__name__} {v!r}")
    if v < low:
        raise ValueError(f"{name} must be at least {low}, got {v}")
    return int(v)


def _float(name: str, v: Any, finite: bool = True) -> float:
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a number, not {type(v).__name__} {v!r}")
    x = float(v)
    if finite and not math.isfinite(x):
        raise ValueError(f"{name} must be finite, got {x}")
    return x


def _str(name: str, v: Any) -> str:
    if v is None:
        return ""
    if not isinstance(v, str):
        raise TypeError(f"{name} must be a str, not {type(v).__name__} {v!r}")
    return v


def user(user_id: Any, history: Optional[HistoryLike], preference: Any,
         age: int = 0, gender: str = "", occupation: str = "") -> pb.User:
    u = pb.User(id=_id("user_id", user_id), preference=_str("preference", preference),
                age=_int("age", age), gender=_str("gender", gender), occupation=_str("occupation", occupation))
    if history is None:
        return u
    if isinstance(history, (str, bytes)):
        raise TypeError(f"history must be a list of entries, not one {type(history).__name__} {history!r}")
    for h in history:
        if isinstance(h, pb.HistoryItem):
            u.history.append(h)
        elif isinstance(h, str):
            u.history.add(item_id=_id("history item_id", h, required=True))
        elif isinstance(h, Mapping):
            unknown = set(h) - {"item_id", "rating", "timestamp"}
            if unknown:
                raise ValueError(f"history entry {h!r} has unknown keys {sorted(unknown)}")
            u.history.add(item_id=_id("history item_id", h.get("item_id"), required=True),
                          rating=_float("history rating", h.get("rating", 0.0)),
                          timestamp=_int("history timestamp", h.get("timestamp", 0)))
        elif isinstance(h, tuple) and 1 <= len(h) <= 3:
            u.history.add(item_id=_id("history item_id", h[0], required=True),
                          rating=_float("history rating", h[1]) if len(h) > 1 else 0.0,
                          timestamp=_int("history timestamp", h[2]) if len(h) > 2 else 0)
        else:
            raise TypeError(f"a history entry is an item id, (item_id, rating[, timestamp]), a mapping or a "
                            f"HistoryItem, not {type(h).__name__} {h!r}")
    return u


def constrain(req: Any, exclude_seen: Optional[bool], filters: Any) -> Any:
    """Sets the seen policy (only when given: unset means the method's default) and filters."""
    if exclude_seen is not None:
        if not isinstance(exclude_seen, bool):
            raise TypeError(f"exclude_seen must be a bool, not {type(exclude_seen).__name__}")
        req.exclude_seen = exclude_seen
    if filters is not None:
        if isinstance(filters, pb.Filters):
            req.filters.CopyFrom(filters)
        elif isinstance(filters, Mapping):
            try:
                req.filters.CopyFrom(pb.Filters(**filters))
            except (ValueError, TypeError) as e:
                raise ValueError(f"filters {dict(filters)!r}: {e}") from None
        else:
            raise TypeError(f"filters must be a mapping or a recfuse.recommender_pb2.Filters, not "
                            f"{type(filters).__name__}")
    return req


# -- one request message per RPC: (method, request, response type)

R = TypeVar("R", bound=Message)


class Call(Generic[R]):
    """One RPC ready to send: the method's short name, the request, the response's type."""
    __slots__ = ("method", "request", "response_type")

    def __init__(self, method: str, request: Any, response_type: Type[R]):
        self.method = method
        self.request = request
        self.response_type = response_type


def health_call() -> Call[pb.HealthResponse]:
    return Call("Health", pb.HealthRequest(), pb.HealthResponse)


def info_call() -> Call[pb.InfoResponse]:
    return Call("Info", pb.InfoRequest(), pb.InfoResponse)


def retrieve_call(user_id: Any = None, k: Any = 10, engine: Any = "", history: Optional[HistoryLike] = None,
                  preference: Any = "", exclude_seen: Optional[bool] = None, filters: Any = None,
                  path: Any = pb.RETRIEVAL_PATH_AUTO) -> Call[pb.RetrieveResponse]:
    req = pb.RetrieveRequest(user=user(user_id, history, preference), engine=_str("engine", engine),
                             k=_int("k", k), path=cast(Any, _int("path", path)))
    return Call("Retrieve", constrain(req, exclude_seen, filters), pb.RetrieveResponse)


def rank_call(user_id: Any = None, item_ids: Any = (), k: Any = 0, engine: Any = "",
              history: Optional[HistoryLike] = None, preference: Any = "", exclude_seen: Optional[bool] = None,
              filters: Any = None) -> Call[pb.RankResponse]:
    req = pb.RankRequest(user=user(user_id, history, preference), engine=_str("engine", engine),
                         item_ids=_ids("item_ids", item_ids), k=_int("k", k))
    return Call("Rank", constrain(req, exclude_seen, filters), pb.RankResponse)


def rerank_call(user_id: Any = None, candidates: Any = (), k: Any = 0, base_engine: Any = "",
                judge: Any = pb.JUDGE_DEFAULT, alpha: Optional[float] = None, history: Optional[HistoryLike] = None,
                preference: Any = "", diversity: Any = 0.0, pool_size: Any = 0) -> Call[pb.RerankResponse]:
    req = pb.RerankRequest(user=user(user_id, history, preference), base_engine=_str("base_engine", base_engine),
                           k=_int("k", k), judge=cast(Any, _int("judge", judge)), diversity=_float("diversity", diversity),
                           pool_size=_int("pool_size", pool_size))
    if alpha is not None:
        req.alpha = _float("alpha", alpha)
    if isinstance(candidates, (str, bytes)):
        raise TypeError(f"candidates must be a list of ids or (id, base_score) pairs, not one str {candidates!r}")
    for c in candidates:
        if isinstance(c, str):
            req.candidates.add(item_id=c)
        elif isinstance(c, tuple) and len(c) == 2:
            req.candidates.add(item_id=_id("candidate id", c[0], required=True),
                               base_score=_float("candidate base_score", c[1]))
        else:
            raise TypeError(f"a candidate is an item id or an (item_id, base_score) pair, not {c!r}")
    return Call("Rerank", req, pb.RerankResponse)


def explain_call(user_id: Any = None, item_id: Any = "", engine: Any = "", history: Optional[HistoryLike] = None,
                 preference: Any = "", style: Any = pb.EXPLAIN_STYLE_DEFAULT) -> Call[pb.ExplainResponse]:
    req = pb.ExplainRequest(user=user(user_id, history, preference), item_id=_id("item_id", item_id, required=True),
                            engine=_str("engine", engine), style=cast(Any, _int("style", style)))
    return Call("Explain", req, pb.ExplainResponse)


def reload_call(bundle_dir: Any = "") -> Call[admin_pb2.ReloadResponse]:
    return Call("Reload", admin_pb2.ReloadRequest(bundle_dir=_str("bundle_dir", bundle_dir)), admin_pb2.ReloadResponse)


#: One feedback event: a mapping with user_id, item_id and optionally rating, timestamp,
#: event_id, event_type; or a FeedbackEvent message.
EventLike = Union[Mapping[str, Any], Any]


def _fields(name: str, v: Any) -> List[Any]:
    if v is None:
        return []
    if not isinstance(v, Mapping):
        raise TypeError(f"{name} must be a mapping of str to str, not {type(v).__name__}")
    out = []
    for k, x in v.items():
        out.append(pb.Field(name=_str(f"{name} key", k), value=_str(f"{name}[{k!r}]", x)))
    return out


def feedback_call(events: Any) -> Call[pb.FeedbackResponse]:
    if isinstance(events, (str, bytes)) or isinstance(events, Mapping):
        raise TypeError("events must be a list of events (mappings or FeedbackEvent), not one "
                        f"{type(events).__name__}")
    req = pb.FeedbackRequest()
    for n, e in enumerate(list(events)):
        if isinstance(e, pb.FeedbackEvent):
            req.events.append(e)
            continue
        if not isinstance(e, Mapping):
            raise TypeError(f"events[{n}] must be a mapping or a FeedbackEvent, not {type(e).__name__}")
        unknown = set(e) - {"user_id", "item_id", "rating", "timestamp", "event_id", "event_type"}
        if unknown:
            raise ValueError(f"events[{n}] has unknown keys {sorted(unknown)}")
        rating = _float(f"events[{n}].rating", e.get("rating", 0.0))
        if rating < 0:
            raise ValueError(f"events[{n}].rating must be >= 0 (0 = implicit), got {rating}")
        req.events.append(pb.FeedbackEvent(
            user_id=_id(f"events[{n}].user_id", e.get("user_id"), required=True),
            item_id=_id(f"events[{n}].item_id", e.get("item_id"), required=True),
            rating=rating, timestamp=_int(f"events[{n}].timestamp", e.get("timestamp", 0)),
            event_id=_str(f"events[{n}].event_id", e.get("event_id", "")),
            event_type=_str(f"events[{n}].event_type", e.get("event_type", ""))))
    if not req.events:
        raise ValueError("events is empty")
    return Call("Feedback", req, pb.FeedbackResponse)


def upsert_user_call(user_id: Any, attributes: Any = None, age: Any = 0, gender: Any = "", occupation: Any = "",
                     event_id: Any = "") -> Call[pb.WriteResponse]:
    req = pb.UpsertUserRequest(user_id=_id("user_id", user_id, required=True), age=_int("age", age),
                               gender=_str("gender", gender), occupation=_str("occupation", occupation),
                               event_id=_str("event_id", event_id))
    req.attributes.extend(_fields("attributes", attributes))
    return Call("UpsertUser", req, pb.WriteResponse)


def upsert_item_call(item_id: Any, title: Any = "", categories: Any = (), fields: Any = None, year: Any = 0,
                     event_id: Any = "") -> Call[pb.WriteResponse]:
    req = admin_pb2.UpsertItemRequest(item_id=_id("item_id", item_id, required=True), title=_str("title", title),
                                      year=_int("year", year), event_id=_str("event_id", event_id))
    req.categories.extend(_ids("categories", categories))
    req.fields.extend(_fields("fields", fields))
    return Call("UpsertItem", req, pb.WriteResponse)


def delete_item_call(item_id: Any, event_id: Any = "") -> Call[pb.WriteResponse]:
    return Call("DeleteItem", admin_pb2.DeleteItemRequest(item_id=_id("item_id", item_id, required=True),
                                                          event_id=_str("event_id", event_id)), pb.WriteResponse)


def retrain_call() -> Call[admin_pb2.RetrainResponse]:
    return Call("Retrain", admin_pb2.RetrainRequest(), admin_pb2.RetrainResponse)


def admin_metadata(token: Any, metadata: Optional[Mapping[str, str]]) -> Dict[str, str]:
    meta = check_metadata(metadata)
    meta["authorization"] = f"Bearer {_str('token', token)}"
    return meta


def check_metadata(metadata: Optional[Mapping[str, str]]) -> Dict[str, str]:
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise TypeError(f"metadata must be a mapping of str to str, not {type(metadata).__name__}")
    for k, v in metadata.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise TypeError(f"metadata entries must be str to str, not {k!r}: {v!r}")
    return dict(metadata)


def check_timeout(timeout: Any) -> float:
    t = _float("timeout", timeout)
    if t <= 0:
        raise ValueError(f"timeout must be positive, got {t}")
    return t

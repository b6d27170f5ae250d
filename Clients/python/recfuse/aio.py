"""The asyncio client: the same methods as `recfuse.Client`, awaited, on pynng's async API.

    >>> import asyncio, recfuse.aio
    >>> async def main():
    ...     async with recfuse.aio.Client("ipc:///tmp/recfuse.sock") as c:
    ...         top = await c.retrieve(user_id="196", k=10)
    ...         many = await c.retrieve_many(["196", "186", "22"], k=5)
    >>> asyncio.run(main())

Each call runs on its own NNG context of one socket (per replica), so any number of calls may
be in flight at once from one event loop. Errors are the same as the sync client's: an
`RpcError` subclass for a call that failed, TypeError / ValueError before sending for bad
arguments. A call cancelled by its caller (a task cancelled, `asyncio.wait_for` timing out) is
cancelled in NNG too.
"""
from __future__ import annotations

import asyncio
import time
from typing import Any, List, Literal, Mapping, Optional, Sequence, Type, Union, cast, overload

import pynng

from . import _requests as rq
from ._requests import R, Cancelled, Code, HistoryLike, RpcError, Unavailable
from .client import _concurrency, _Connections, _many, decode, envelope, tls_config
from .v1 import admin_pb2
from .v1 import recommender_pb2 as pb

__all__ = ["Client"]


class Client:
    """An asyncio connection to one or more recfuse servers; see `recfuse.Client` for the
    arguments (URLs, timeout and deadline, connect_timeout, replicas, TLS)."""

    def __init__(self, url: Union[str, Sequence[str]], timeout: float = 5.0,
                 resend_time: Optional[float] = None, recv_max_size: int = 0,
                 tls_ca_file: Optional[str] = None, tls_cert_file: Optional[str] = None,
                 tls_key_file: Optional[str] = None, tls_server_name: Optional[str] = None,
                 eject_time: float = 5.0, connect_timeout: float = 1.0):
        tls = tls_config(tls_ca_file, tls_cert_file, tls_key_file, tls_server_name)
        self._c = _Connections(url, timeout, resend_time, recv_max_size, tls, eject_time, connect_timeout)
        self.urls = self._c.urls
        self.timeout = self._c.timeout

    async def close(self) -> None:
        """Closes the sockets; calls in flight and later calls raise `Cancelled`."""
        self._c.close()

    @property
    def closed(self) -> bool:
        return self._c.closed

    async def __aenter__(self) -> "Client":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    # -- transport
    async def _wait_connected(self, i: int, wait: float) -> bool:
        end = time.monotonic() + wait
        pause = 0.001
        while not self._c.connected(i):
            left = end - time.monotonic()
            if left <= 0 or self._c.closed:
                return self._c.connected(i)
            await asyncio.sleep(min(pause, left))
            pause = min(pause * 2, 0.02)
        return True

    async def _exchange(self, ctx: pynng.Context, data: bytes) -> bytes:
        await ctx.asend(data)
        return cast(bytes, await ctx.arecv())

    async def call_raw(self, data: bytes, timeout: Optional[float] = None) -> bytes:
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
            if not await self._wait_connected(i, wait):
                if self._c.closed:
                    raise Cancelled(Code.CANCELLED, "client is closed")
                # The probe dials (blocking, at most a second): off the event loop.
                last = await asyncio.get_running_loop().run_in_executor(None, self._c.not_connected, i, wait)
                if len(order) > 1:
                    self._c.eject(i)
                continue
            this = end - time.monotonic() if n == len(order) - 1 else attempt
            ctx = self._c.context(i, this)
            try:
                return await asyncio.wait_for(self._exchange(ctx, bytes(data)), timeout=max(0.001, this))
            except (asyncio.TimeoutError, pynng.Timeout) as e:
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

    async def call(self, method: str, request: Any, response_type: Type[R], timeout: Optional[float] = None,
                   metadata: Optional[Mapping[str, str]] = None, request_id: str = "") -> R:
        """Calls `method` (a full name or a short one like "Rank") and returns the decoded response."""
        if not hasattr(request, "SerializeToString"):
            raise TypeError(f"request must be a protobuf message, not {type(request).__name__}")
        timeout = self._c.timeout if timeout is None else rq.check_timeout(timeout)
        data = envelope(rq._str("method", method), request, timeout, rq.check_metadata(metadata), request_id)
        return decode(await self.call_raw(data, timeout), response_type)

    async def _run(self, c: rq.Call[R], timeout: Optional[float], metadata: Optional[Mapping[str, str]],
                   request_id: str) -> R:
        return await self.call(c.method, c.request, c.response_type, timeout=timeout, metadata=metadata,
                               request_id=request_id)

    # -- RPCs (arguments as `recfuse.Client`'s)
    async def health(self, *, timeout: Optional[float] = None, metadata: Optional[Mapping[str, str]] = None,
                     request_id: str = "") -> pb.HealthResponse:
        return await self._run(rq.health_call(), timeout, metadata, request_id)

    async def info(self, *, timeout: Optional[float] = None, metadata: Optional[Mapping[str, str]] = None,
                   request_id: str = "") -> pb.InfoResponse:
        return await self._run(rq.info_call(), timeout, metadata, request_id)

    async def retrieve(self, user_id: Optional[str] = None, k: int = 10, engine: str = "", *,
                       history: Optional[HistoryLike] = None, preference: str = "",
                       exclude_seen: Optional[bool] = None, filters: Any = None,
                       path: int = pb.RETRIEVAL_PATH_AUTO, timeout: Optional[float] = None,
                       metadata: Optional[Mapping[str, str]] = None, request_id: str = "") -> pb.RetrieveResponse:
        return await self._run(rq.retrieve_call(user_id, k, engine, history, preference, exclude_seen, filters,
                                                path), timeout, metadata, request_id)

    async def rank(self, user_id: Optional[str] = None, item_ids: Sequence[str] = (), k: int = 0, engine: str = "",
                   *, history: Optional[HistoryLike] = None, preference: str = "",
                   exclude_seen: Optional[bool] = None, filters: Any = None, timeout: Optional[float] = None,
                   metadata: Optional[Mapping[str, str]] = None, request_id: str = "") -> pb.RankResponse:
        return await self._run(rq.rank_call(user_id, item_ids, k, engine, history, preference, exclude_seen,
                                            filters), timeout, metadata, request_id)

    async def rerank(self, user_id: Optional[str] = None, candidates: Sequence[Any] = (), k: int = 0, *,
                     base_engine: str = "", judge: int = pb.JUDGE_DEFAULT, alpha: Optional[float] = None,
                     history: Optional[HistoryLike] = None, preference: str = "", diversity: float = 0.0,
                     pool_size: int = 0, timeout: Optional[float] = None,
                     metadata: Optional[Mapping[str, str]] = None, request_id: str = "") -> pb.RerankResponse:
        return await self._run(rq.rerank_call(user_id, candidates, k, base_engine, judge, alpha, history,
                                              preference, diversity, pool_size), timeout, metadata, request_id)

    async def explain(self, user_id: Optional[str] = None, item_id: str = "", engine: str = "", *,
                      history: Optional[HistoryLike] = None, preference: str = "",
                      style: int = pb.EXPLAIN_STYLE_DEFAULT, timeout: Optional[float] = None,
                      metadata: Optional[Mapping[str, str]] = None, request_id: str = "") -> pb.ExplainResponse:
        return await self._run(rq.explain_call(user_id, item_id, engine, history, preference, style),
                               timeout, metadata, request_id)

    async def reload(self, token: str, bundle_dir: str = "", *, timeout: Optional[float] = None,
                     metadata: Optional[Mapping[str, str]] = None,
                     request_id: str = "") -> admin_pb2.ReloadResponse:
        meta = rq.check_metadata(metadata)
        meta["authorization"] = f"Bearer {rq._str('token', token)}"
        return await self._run(rq.reload_call(bundle_dir), timeout, meta, request_id)

    async def feedback(self, events: Sequence[Any], *, timeout: Optional[float] = None,
                   metadata: Optional[Mapping[str, str]] = None, request_id: str = "") -> pb.FeedbackResponse:
        """Records interactions (mappings with user_id, item_id and optionally rating (0 = implicit),
        timestamp, event_id, event_type), all or none; returns once they are durable."""
        return await self._run(rq.feedback_call(events), timeout, metadata, request_id)

    async def upsert_user(self, user_id: str, attributes: Optional[Mapping[str, str]] = None, *, age: int = 0,
                      gender: str = "", occupation: str = "", event_id: str = "", timeout: Optional[float] = None,
                      metadata: Optional[Mapping[str, str]] = None, request_id: str = "") -> pb.WriteResponse:
        """Creates a user or replaces their attributes."""
        return await self._run(rq.upsert_user_call(user_id, attributes, age, gender, occupation, event_id),
                         timeout, metadata, request_id)

    async def upsert_item(self, token: str, item_id: str, title: str = "", *, categories: Sequence[str] = (),
                      fields: Optional[Mapping[str, str]] = None, year: int = 0, event_id: str = "",
                      timeout: Optional[float] = None, metadata: Optional[Mapping[str, str]] = None,
                      request_id: str = "") -> pb.WriteResponse:
        """Admin: adds an item or replaces its metadata; `.scored_by` / `.not_scored_by` name the engines."""
        return await self._run(rq.upsert_item_call(item_id, title, categories, fields, year, event_id), timeout,
                         rq.admin_metadata(token, metadata), request_id)

    async def delete_item(self, token: str, item_id: str, *, event_id: str = "", timeout: Optional[float] = None,
                      metadata: Optional[Mapping[str, str]] = None, request_id: str = "") -> pb.WriteResponse:
        """Admin: hides an item from every reply from now on."""
        return await self._run(rq.delete_item_call(item_id, event_id), timeout, rq.admin_metadata(token, metadata),
                         request_id)

    async def retrain(self, token: str, *, timeout: Optional[float] = 3600.0,
                  metadata: Optional[Mapping[str, str]] = None, request_id: str = "") -> admin_pb2.RetrainResponse:
        """Admin: trains a new bundle from the served one plus the recorded writes, swaps it in when it is
        not worse on the most recent feedback (`.swapped`, `.message` with the figures). Takes minutes."""
        return await self._run(rq.retrain_call(), timeout, rq.admin_metadata(token, metadata), request_id)

    # -- many users at once
    async def _map(self, calls: List[rq.Call[Any]], concurrency: int, return_exceptions: bool,
                   timeout: Optional[float], metadata: Optional[Mapping[str, str]]) -> List[Any]:
        gate = asyncio.Semaphore(concurrency)

        async def one(c: rq.Call[Any]) -> Any:
            async with gate:
                try:
                    return await self._run(c, timeout, metadata, "")
                except RpcError as e:
                    if return_exceptions:
                        return e
                    raise
        tasks = [asyncio.ensure_future(one(c)) for c in calls]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    @overload
    async def retrieve_many(self, user_ids: Sequence[str], k: int = 10, engine: str = "", *,
                            exclude_seen: Optional[bool] = None, filters: Any = None,
                            path: int = pb.RETRIEVAL_PATH_AUTO, concurrency: int = 8,
                            return_exceptions: Literal[False] = False, timeout: Optional[float] = None,
                            metadata: Optional[Mapping[str, str]] = None) -> List[pb.RetrieveResponse]: ...

    @overload
    async def retrieve_many(self, user_ids: Sequence[str], k: int = 10, engine: str = "", *,
                            exclude_seen: Optional[bool] = None, filters: Any = None,
                            path: int = pb.RETRIEVAL_PATH_AUTO, concurrency: int = 8,
                            return_exceptions: Literal[True], timeout: Optional[float] = None,
                            metadata: Optional[Mapping[str, str]] = None) -> List[Union[pb.RetrieveResponse, RpcError]]: ...

    async def retrieve_many(self, user_ids: Sequence[str], k: int = 10, engine: str = "", *,
                            exclude_seen: Optional[bool] = None, filters: Any = None,
                            path: int = pb.RETRIEVAL_PATH_AUTO, concurrency: int = 8,
                            return_exceptions: bool = False, timeout: Optional[float] = None,
                            metadata: Optional[Mapping[str, str]] = None) -> Union[List[pb.RetrieveResponse], List[Union[pb.RetrieveResponse, RpcError]]]:
        """`retrieve` for each user, up to `concurrency` in flight; responses in the order of `user_ids`."""
        calls = [rq.retrieve_call(u, k, engine, None, "", exclude_seen, filters, path)
                 for u in rq._ids("user_ids", user_ids)]
        return await self._map(calls, _concurrency(concurrency), return_exceptions, timeout, metadata)

    @overload
    async def rank_many(self, user_ids: Sequence[str], item_ids: Sequence[Any], k: int = 0, engine: str = "", *,
                        exclude_seen: Optional[bool] = None, filters: Any = None, concurrency: int = 8,
                        return_exceptions: Literal[False] = False, timeout: Optional[float] = None,
                        metadata: Optional[Mapping[str, str]] = None) -> List[pb.RankResponse]: ...

    @overload
    async def rank_many(self, user_ids: Sequence[str], item_ids: Sequence[Any], k: int = 0, engine: str = "", *,
                        exclude_seen: Optional[bool] = None, filters: Any = None, concurrency: int = 8,
                        return_exceptions: Literal[True], timeout: Optional[float] = None,
                        metadata: Optional[Mapping[str, str]] = None) -> List[Union[pb.RankResponse, RpcError]]: ...

    async def rank_many(self, user_ids: Sequence[str], item_ids: Sequence[Any], k: int = 0, engine: str = "", *,
                        exclude_seen: Optional[bool] = None, filters: Any = None, concurrency: int = 8,
                        return_exceptions: bool = False, timeout: Optional[float] = None,
                        metadata: Optional[Mapping[str, str]] = None) -> Union[List[pb.RankResponse], List[Union[pb.RankResponse, RpcError]]]:
        """`rank` for each user: `item_ids` is one list of ids for all of them or one list per user."""
        users = rq._ids("user_ids", user_ids)
        calls = [rq.rank_call(u, ids, k, engine, None, "", exclude_seen, filters)
                 for u, ids in zip(users, _many(len(users), item_ids, "item_ids"))]
        return await self._map(calls, _concurrency(concurrency), return_exceptions, timeout, metadata)

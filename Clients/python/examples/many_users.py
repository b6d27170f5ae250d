#!/usr/bin/env python3
"""Top-k for many users at once, from asyncio: `recfuse.aio.Client.retrieve_many` keeps up to
`--concurrency` calls in flight over one socket and returns the answers in the users' order.

    python Clients/python/examples/many_users.py --url ipc:///tmp/recfuse.sock 196 186 22
"""
import argparse
import asyncio
import sys
from typing import List

import recfuse
import recfuse.aio


async def top_for(url: str, users: List[str], k: int, concurrency: int) -> int:
    async with recfuse.aio.Client(url, timeout=10.0) as client:
        answers = await client.retrieve_many(users, k=k, concurrency=concurrency, return_exceptions=True)
    failed = 0
    for user, answer in zip(users, answers):
        if isinstance(answer, recfuse.RpcError):
            failed += 1
            print(f"{user}: {answer}", file=sys.stderr)
            continue
        note = f" (degraded: {answer.meta.degraded_reason})" if answer.meta.degraded else ""
        print(f"{user}{note}: {' '.join(it.item_id for it in answer.items)}")
    return 1 if failed else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("users", nargs="+", help="user ids")
    ap.add_argument("--url", default="ipc:///tmp/recfuse.sock")
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--concurrency", type=int, default=8)
    args = ap.parse_args()
    try:
        return asyncio.run(top_for(args.url, args.users, args.k, args.concurrency))
    except recfuse.RpcError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Prints a user's top-10 from a running recfuse server.

    python Clients/python/examples/quickstart.py --url ipc:///tmp/recfuse.sock --user 196
"""
import argparse
import sys

import recfuse


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", action="append", help="server URL (repeatable); default ipc:///tmp/recfuse.sock")
    ap.add_argument("--user", default="196", help="user id (MovieLens raw id)")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--engine", default="", help="engine name (default: the server's)")
    ap.add_argument("--timeout", type=float, default=5.0)
    args = ap.parse_args()
    urls = args.url or ["ipc:///tmp/recfuse.sock"]
    try:
        with recfuse.Client(urls, timeout=args.timeout) as client:
            health = client.health()
            print(f"server {', '.join(urls)}: {recfuse.recommender_pb2.HealthResponse.ServingStatus.Name(health.status)}, "
                  f"bundle {health.bundle_version}")
            top = client.retrieve(user_id=args.user, k=args.k, engine=args.engine)
    except recfuse.RpcError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    meta = top.meta
    note = f" (degraded: {meta.degraded_reason})" if meta.degraded else ""
    print(f"top-{args.k} for user {args.user} by {meta.engine}{note}:")
    for it in top.items:
        year = f" ({it.year})" if it.year else ""
        print(f"{it.rank:3d}. {it.item_id:>5}  {it.score:8.3f}  {it.title}{year}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

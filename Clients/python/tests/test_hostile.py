"""Hostile input against a live server: 10,000 random and mutated messages. Every reply must
be a valid recfuse.v1.Reply with a status, the server must keep serving, and its resident
memory must stay bounded."""
import random

import recfuse
from recfuse import Code
from recfuse import envelope_pb2 as env_pb
from recfuse import recommender_pb2 as pb


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def valid_messages():
    """Well-formed envelopes of every method, to mutate."""
    user = pb.User(id="196", history=[pb.HistoryItem(item_id="1", rating=5)], preference="space adventures")
    reqs = {
        "Retrieve": pb.RetrieveRequest(user=user, k=10),
        "Rank": pb.RankRequest(user=user, item_ids=["1", "2", "50", "181"]),
        "Rerank": pb.RerankRequest(user=user, candidates=[pb.Candidate(item_id="1"), pb.Candidate(item_id="50")]),
        "Explain": pb.ExplainRequest(user=user, item_id="50"),
        "Health": pb.HealthRequest(),
        "Info": pb.InfoRequest(),
    }
    return [env_pb.Envelope(method=recfuse.METHODS[m], payload=r.SerializeToString(), deadline_ms=5000,
                            request_id=f"fuzz-{m}").SerializeToString() for m, r in reqs.items()]


def mutate(rng, data):
    b = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        op = rng.randrange(5)
        if op == 0 and b:  # flip a byte
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif op == 1 and b:  # cut
            del b[rng.randrange(len(b)):]
        elif op == 2:  # insert random bytes
            at = rng.randrange(len(b) + 1)
            b[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        elif op == 3 and len(b) > 2:  # duplicate a slice
            i = rng.randrange(len(b) - 1)
            b[i:i] = b[i:rng.randrange(i + 1, len(b))]
        elif b:  # a huge varint where a length was
            b[rng.randrange(len(b))] = 0xff
    return bytes(b)


def test_ten_thousand_random_and_mutated_messages(server):
    rng = random.Random(20261130)
    seeds = valid_messages()
    codes = {}
    with recfuse.Client(server.ipc, timeout=10) as c:
        c.health()
        before = rss_kb(server.proc.pid)
        for n in range(10_000):
            if n % 4 == 0:
                data = bytes(rng.randrange(256) for _ in range(rng.randint(0, 512)))
            else:
                data = mutate(rng, rng.choice(seeds))
            raw = c.call_raw(data)
            reply = env_pb.Reply()
            reply.ParseFromString(raw)  # raises if the reply is not a valid Reply
            assert reply.HasField("status"), data
            assert reply.status.code == Code.OK or reply.status.message, (data, reply)
            assert reply.status.code != Code.INTERNAL, (data, reply.status.message)
            codes[reply.status.code] = codes.get(reply.status.code, 0) + 1
        after = rss_kb(server.proc.pid)
        assert c.health().status == pb.HealthResponse.SERVING
    print(f"status codes over 10,000 messages: {codes}; RSS {before} kB -> {after} kB")
    assert Code.INVALID_ARGUMENT in codes and Code.OK in codes
    # Bounded: no growth beyond a fixed allowance (caches, allocator slack), whatever the input.
    assert after < before + 64 * 1024, (before, after)
    assert server.proc.poll() is None

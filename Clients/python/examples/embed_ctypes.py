#!/usr/bin/env python3
"""Rank in-process through librecfuse's C ABI with ctypes: no server, no socket.

    python embed_ctypes.py --lib Bindings/build/librecfuse.so --bundle bundles/default [--user 196]

Opens the bundle, takes the user's top 10 of the catalogue (recfuse_retrieve), re-ranks
them with recfuse_rank, and calls Info through recfuse_call with protobuf bytes.
"""
import argparse
import ctypes
import os
import pathlib
import sys
from typing import Any, List, Tuple

ROOT = pathlib.Path(__file__).resolve().parents[3]


class Scored(ctypes.Structure):
    _fields_ = [("item_id", ctypes.c_char_p), ("score", ctypes.c_float)]


def load(path: str) -> Any:
    lib = ctypes.CDLL(path)
    lib.recfuse_open.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]
    lib.recfuse_open.restype = ctypes.c_int
    lib.recfuse_close.argtypes = [ctypes.c_void_p]
    lib.recfuse_close.restype = None
    lib.recfuse_call.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t,
                                 ctypes.POINTER(ctypes.POINTER(ctypes.c_uint8)), ctypes.POINTER(ctypes.c_size_t)]
    lib.recfuse_call.restype = ctypes.c_int
    for name in ("recfuse_rank", "recfuse_retrieve"):
        getattr(lib, name).restype = ctypes.c_int
    lib.recfuse_rank.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_size_t,
                                 ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(ctypes.POINTER(Scored)),
                                 ctypes.POINTER(ctypes.c_size_t)]
    lib.recfuse_retrieve.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t,
                                     ctypes.POINTER(ctypes.POINTER(Scored)), ctypes.POINTER(ctypes.c_size_t)]
    lib.recfuse_free.argtypes = [ctypes.c_void_p]
    lib.recfuse_free.restype = None
    for name in ("recfuse_last_error", "recfuse_version"):
        getattr(lib, name).restype = ctypes.c_char_p
        getattr(lib, name).argtypes = []
    lib.recfuse_strerror.restype = ctypes.c_char_p
    lib.recfuse_strerror.argtypes = [ctypes.c_int]
    return lib


class RecfuseError(RuntimeError):
    def __init__(self, lib: Any, rc: int, what: str) -> None:
        super().__init__(f"{what}: {lib.recfuse_strerror(rc).decode()} ({rc}): {lib.recfuse_last_error().decode()}")
        self.code = rc


def check(lib: Any, rc: int, what: str) -> None:
    if rc != 0:
        raise RecfuseError(lib, rc, what)


def scored(lib: Any, out: Any, n: ctypes.c_size_t) -> List[Tuple[str, float]]:
    try:
        return [(out[i].item_id.decode(), out[i].score) for i in range(n.value)]
    finally:
        lib.recfuse_free(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", default=os.environ.get("RECFUSE_LIB", str(ROOT / "Bindings" / "build" / "librecfuse.so")))
    ap.add_argument("--bundle", default=str(ROOT / "bundles" / "default"))
    ap.add_argument("--models-dir", default=str(ROOT / "models"))
    ap.add_argument("--user", default="196")
    a = ap.parse_args()
    lib = load(a.lib)

    engine = ctypes.c_void_p()
    options = ('{"models_dir": "%s"}' % a.models_dir).encode()
    check(lib, lib.recfuse_open(a.bundle.encode(), options, ctypes.byref(engine)), "recfuse_open")
    try:
        out, n = ctypes.POINTER(Scored)(), ctypes.c_size_t()
        check(lib, lib.recfuse_retrieve(engine, a.user.encode(), None, 10, ctypes.byref(out), ctypes.byref(n)),
              "recfuse_retrieve")
        top = scored(lib, out, n)
        print(f"top-{len(top)} for user {a.user} (librecfuse {lib.recfuse_version().decode()}, in-process):")
        for rank, (item, score) in enumerate(top, 1):
            print(f"  {rank:2d}. {item:>6} {score:10.3f}")

        ids = (ctypes.c_char_p * len(top))(*[i.encode() for i, _ in top])
        check(lib, lib.recfuse_rank(engine, a.user.encode(), ids, len(top), b"svdpp", 0, ctypes.byref(out),
                                    ctypes.byref(n)), "recfuse_rank")
        print("the same items ranked by svdpp:", " ".join(i for i, _ in scored(lib, out, n)))

        # The protobuf path: the same bytes the wire carries.
        sys.path.insert(0, str(ROOT / "Clients" / "python"))
        from recfuse import recommender_pb2 as pb
        resp, length = ctypes.POINTER(ctypes.c_uint8)(), ctypes.c_size_t()
        check(lib, lib.recfuse_call(engine, b"Info", b"", 0, ctypes.byref(resp), ctypes.byref(length)), "recfuse_call")
        info = pb.InfoResponse.FromString(ctypes.string_at(resp, length.value))
        lib.recfuse_free(resp)
        print(f"engines: {', '.join(e.name for e in info.engines)}; default {info.default_engine}")

        # Bad input comes back as a status and a message, never a crash.
        rc = lib.recfuse_call(engine, b"Rank", b"\x0a\xff\xff", 3, ctypes.byref(resp), ctypes.byref(length))
        print(f"garbage request -> {lib.recfuse_strerror(rc).decode()}: {lib.recfuse_last_error().decode()}")
    finally:
        lib.recfuse_close(engine)


if __name__ == "__main__":
    main()

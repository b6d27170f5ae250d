"""Read a recfuse model bundle from Python: its manifest, catalogue, users, stored histories
and every engine's tensors as numpy arrays (docs/bundles.md describes each tensor).

    from recfuse import bundle
    b = bundle.load("bundles/default")
    svdpp = b.engines["svdpp"]            # {"mu": array([3.52]), "bu": ..., "p": (users, f), ...}
    u = b.user_index["196"]               # dense user index
    h = b.history(u)                      # item indices of the user's stored history

Needs numpy (`pip install 'recfuse[bundle]'`). Checksums are verified against the manifest
unless `verify=False`; a mismatch raises `BundleError` naming the file, as the server does.
"""
from __future__ import annotations

import hashlib
import json
import pathlib
import struct
from dataclasses import dataclass, field
from typing import Any, Dict, List, Union

__all__ = ["Bundle", "BundleError", "load", "read_safetensors"]

FORMAT = "recfuse-bundle"
FORMAT_VERSION = 1

_DTYPES = {"F32": "<f4", "F64": "<f8", "I32": "<i4", "I64": "<i8", "U8": "u1", "I8": "i1", "F16": "<f2"}


class BundleError(Exception):
    """The folder is not a bundle this reader understands, or a file in it is corrupt."""


def _numpy() -> Any:
    try:
        import numpy
    except ImportError as e:  # pragma: no cover - exercised only without numpy
        raise ImportError("recfuse.bundle needs numpy: pip install 'recfuse[bundle]'") from e
    return numpy


def read_safetensors(path: Union[str, pathlib.Path]) -> Dict[str, Any]:
    """Every tensor of a safetensors file, by name, as a read-only numpy array of its shape."""
    np = _numpy()
    p = pathlib.Path(path)
    raw = p.read_bytes()
    if len(raw) < 8:
        raise BundleError(f"{p}: too short for a safetensors file")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > len(raw) - 8:
        raise BundleError(f"{p}: header length {n} runs past the end of the file")
    try:
        header = json.loads(raw[8:8 + n])
    except ValueError as e:
        raise BundleError(f"{p}: header is not JSON ({e})") from None
    data = memoryview(raw)[8 + n:]
    out: Dict[str, Any] = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        dtype = _DTYPES.get(t.get("dtype"))
        if dtype is None:
            raise BundleError(f"{p}: tensor {name!r} has unsupported dtype {t.get('dtype')!r}")
        start, end = t["data_offsets"]
        shape = tuple(t["shape"])
        a = np.frombuffer(data[start:end], dtype=dtype)
        if a.size != int(np.prod(shape, dtype=np.int64)):
            raise BundleError(f"{p}: tensor {name!r} holds {a.size} values, shape {list(shape)} needs more or fewer")
        out[name] = a.reshape(shape)
    return out


@dataclass
class Bundle:
    """A bundle read into memory. Indices are the dense ones engines use: item `i` is
    `items[i]`, user `u` is `users[u]`."""

    root: pathlib.Path
    manifest: Dict[str, Any]
    items: List[Dict[str, Any]]
    users: List[Dict[str, Any]]
    item_index: Dict[str, int]
    user_index: Dict[str, int]
    #: CSR histories: "offsets" (users + 1), "items", "ratings", "timestamps".
    interactions: Dict[str, Any]
    #: Engine name -> tensor name -> numpy array.
    engines: Dict[str, Dict[str, Any]] = field(default_factory=dict)

    def engine_entry(self, name: str) -> Dict[str, Any]:
        """The manifest's entry for engine `name` (kind, file, params, metrics)."""
        for e in self.manifest["engines"]:
            if e["name"] == name:
                entry: Dict[str, Any] = e
                return entry
        raise KeyError(f"no engine {name!r} in {self.root} (it has {[e['name'] for e in self.manifest['engines']]})")

    def history(self, user: int) -> Any:
        """Item indices of stored user `user`'s history, ordered by time."""
        o = self.interactions["offsets"]
        return self.interactions["items"][o[user]:o[user + 1]]

    def ratings(self, user: int) -> Any:
        """Ratings aligned with `history(user)` (0 = unrated)."""
        o = self.interactions["offsets"]
        return self.interactions["ratings"][o[user]:o[user + 1]]


def _sha256(path: pathlib.Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _jsonl(path: pathlib.Path) -> List[Dict[str, Any]]:
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    out.append(json.loads(line))
                except ValueError:
                    raise BundleError(f"{path}:{n}: not a JSON object") from None
    return out


def load(path: Union[str, pathlib.Path], *, engines: bool = True, verify: bool = True) -> Bundle:
    """Reads the bundle in `path`. `engines=False` skips the engine tensors; `verify=False`
    skips the SHA-256 check of every file."""
    root = pathlib.Path(path)
    mpath = root / "manifest.json"
    if not mpath.exists():
        raise BundleError(f"{root} is not a bundle: no manifest.json")
    try:
        manifest = json.loads(mpath.read_text())
    except ValueError as e:
        raise BundleError(f"{mpath}: invalid manifest ({e})") from None
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise BundleError(f"{mpath}: format {manifest.get('format')} v{manifest.get('format_version')}, "
                          f"this reader reads {FORMAT} v{FORMAT_VERSION}")
    if verify:
        for rel, want in sorted(manifest["files"].items()):
            f = root / rel
            if not f.exists():
                raise BundleError(f"{f}: missing from the bundle")
            got = _sha256(f)
            if got != want:
                raise BundleError(f"{f}: sha256 {got} does not match the manifest ({want}); the bundle is corrupt")
    items = _jsonl(root / "items.jsonl")
    users = _jsonl(root / "users.jsonl")
    b = Bundle(root=root, manifest=manifest, items=items, users=users,
               item_index={r["id"]: i for i, r in enumerate(items)},
               user_index={r["id"]: u for u, r in enumerate(users)},
               interactions=read_safetensors(root / "interactions.safetensors"))
    if engines:
        b.engines = {e["name"]: read_safetensors(root / e["file"]) for e in manifest["engines"]}
    return b

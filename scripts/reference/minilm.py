"""Reference implementation of the all-MiniLM-L6-v2 sentence encoder, for tests only.

Token ids come from Hugging Face `tokenizers` reading the model's own tokenizer.json
(truncated at sentence-transformers' max_seq_length, no padding); the forward pass is a
plain numpy port of Hugging Face's BertModel (eval mode) + mean pooling + L2 normalisation,
in float64, reading the same model.safetensors. Needs only `tokenizers` and `numpy`.

    python scripts/reference/minilm.py fixtures --model models/all-MiniLM-L6-v2 \
        --corpus Tests/RecTextTests/Fixtures/corpus.txt --out Tests/RecTextTests/Fixtures
writes tokens.json (ids per corpus line) and embeddings.json (one 384-float vector per line).
"""
import argparse
import json
import math
import struct
from pathlib import Path

import numpy as np

DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32}


def read_safetensors(path):
    raw = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        out[name] = np.frombuffer(raw[8 + n + a:8 + n + b], dtype=DTYPES[t["dtype"]]).reshape(t["shape"])
    return out


def write_safetensors(path, tensors, metadata=None):
    header, blobs, off = {}, [], 0
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        b = arr.tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header, sort_keys=True).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    Path(path).write_bytes(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def max_seq_length(model_dir):
    return json.loads((Path(model_dir) / "sentence_bert_config.json").read_text())["max_seq_length"]


def hf_tokenizer(model_dir):
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_seq_length(model_dir))
    return tok


class Encoder:
    def __init__(self, model_dir):
        self.cfg = json.loads((Path(model_dir) / "config.json").read_text())
        self.w = {k: v.astype(np.float64) for k, v in read_safetensors(Path(model_dir) / "model.safetensors").items()
                  if v.dtype == np.float32}

    def layer_norm(self, x, g, b):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + self.cfg["layer_norm_eps"]) * self.w[g] + self.w[b]

    def lin(self, x, name):
        return x @ self.w[name + ".weight"].T + self.w[name + ".bias"]

    def encode(self, ids):
        w, c = self.w, self.cfg
        ids = np.asarray(ids)
        n = len(ids)
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n] \
            + w["embeddings.token_type_embeddings.weight"][0]
        x = self.layer_norm(x, "embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias")
        nh = c["num_attention_heads"]
        dh = c["hidden_size"] // nh
        erf = np.vectorize(math.erf)
        for layer in range(c["num_hidden_layers"]):
            p = f"encoder.layer.{layer}."
            q = self.lin(x, p + "attention.self.query").reshape(n, nh, dh).transpose(1, 0, 2)
            k = self.lin(x, p + "attention.self.key").reshape(n, nh, dh).transpose(1, 0, 2)
            v = self.lin(x, p + "attention.self.value").reshape(n, nh, dh).transpose(1, 0, 2)
            s = q @ k.transpose(0, 2, 1) / math.sqrt(dh)
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            ctx = (s @ v).transpose(1, 0, 2).reshape(n, nh * dh)
            a = self.layer_norm(x + self.lin(ctx, p + "attention.output.dense"),
                                p + "attention.output.LayerNorm.weight", p + "attention.output.LayerNorm.bias")
            m = self.lin(a, p + "intermediate.dense")
            m = 0.5 * m * (1 + erf(m / math.sqrt(2)))
            x = self.layer_norm(a + self.lin(m, p + "output.dense"),
                                p + "output.LayerNorm.weight", p + "output.LayerNorm.bias")
        e = x.mean(0)
        return e / max(np.linalg.norm(e), 1e-12)


def read_lines(path):
    text = Path(path).read_bytes().decode("utf-8")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [l[:-1] if l.endswith("\r") else l for l in lines]


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fixtures")
    f.add_argument("--model", required=True)
    f.add_argument("--corpus", required=True)
    f.add_argument("--out", required=True)
    args = ap.parse_args()
    lines = read_lines(args.corpus)
    tok = hf_tokenizer(args.model)
    ids = [tok.encode(l).ids for l in lines]
    out = Path(args.out)
    (out / "tokens.json").write_text(json.dumps({"max_seq_length": max_seq_length(args.model), "ids": ids}) + "\n")
    enc = Encoder(args.model)
    emb = np.stack([enc.encode(i) for i in ids])
    sha = json.loads((Path(args.model) / "SOURCE.json").read_text())["files"]["model.safetensors"] \
        if (Path(args.model) / "SOURCE.json").exists() else ""
    # Expected vectors as text (7 significant digits), not a binary tensor file.
    (out / "embeddings.json").write_text(json.dumps({
        "model": Path(args.model).name, "model_sha256": sha, "reference": "numpy float64",
        "embeddings": [[float(f"{x:.7g}") for x in row] for row in emb]}) + "\n")
    print(f"{len(lines)} lines, {sum(map(len, ids))} tokens -> {out}")


if __name__ == "__main__":
    main()

"""recfuse's native MiniLM against the references, over far more text than the Swift
fixtures: token ids against Hugging Face `tokenizers` for every Unicode code point up to
U+2FFFF (between letters, beside a space, and alone) and for every ml-100k profile, and
embeddings against the float64 numpy forward pass for a sample of profiles.

Needs `tokenizers` and `numpy` (scripts/reference/requirements.txt, installed into .venv by
scripts/setup.sh), the model (`recfuse models fetch all-MiniLM-L6-v2`) and ml-100k.
"""
import json
import os
import pathlib
import random
import subprocess
import sys

import numpy as np
import pytest

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
import minilm  # noqa: E402

MODEL = pathlib.Path(os.environ.get("RECFUSE_MODELS_DIR", ROOT / "models")) / "all-MiniLM-L6-v2"
DATA = pathlib.Path(os.environ.get("RECFUSE_DATA_DIR", ROOT / "data"))


def recfuse_bin():
    if os.environ.get("RECFUSE_BIN"):
        return os.environ["RECFUSE_BIN"]
    for cfg in ("debug", "release"):
        p = ROOT / ".build" / cfg / "recfuse"
        if p.exists():
            return str(p)
    pytest.fail("no recfuse binary")


def recfuse_tokenize(lines, tmp_path):
    src = tmp_path / "lines.txt"
    src.write_bytes(("\n".join(lines) + "\n").encode("utf-8", "surrogatepass"))
    out = subprocess.run([recfuse_bin(), "tokenize", "--model", str(MODEL), "--input", str(src)],
                         check=True, capture_output=True, timeout=600).stdout.decode()
    return [json.loads(l) for l in out.splitlines()]


@pytest.fixture(scope="module")
def profiles():
    out = subprocess.run([recfuse_bin(), "profiles", "--dataset", "ml-100k", "--data-dir", str(DATA), "--log-level", "warning"],
                         check=True, capture_output=True, timeout=300).stdout.decode()
    return [json.loads(l)["text"] for l in out.splitlines()]


def test_every_code_point_tokenizes_as_the_reference(tmp_path):
    tok = minilm.hf_tokenizer(MODEL)
    lines = []
    for cp in range(1, 0x30000):
        if 0xD800 <= cp <= 0xDFFF or cp in (0x0A, 0x0D):
            continue  # surrogates cannot be encoded; LF / CR end lines
        c = chr(cp)
        lines += [f"ab{c}cd", f"{c} x{c}{c}", c]
    want = [e.ids for e in tok.encode_batch(lines)]
    got = recfuse_tokenize(lines, tmp_path)
    assert len(got) == len(want)
    bad = [(hex(ord(lines[i][2] if i % 3 == 0 else lines[i][0])), lines[i], got[i], want[i])
           for i in range(len(lines)) if got[i] != want[i]]
    assert not bad, f"{len(bad)} mismatches, first: {bad[:10]}"


def test_profiles_tokenize_as_the_reference(profiles, tmp_path):
    tok = minilm.hf_tokenizer(MODEL)
    want = [e.ids for e in tok.encode_batch(profiles)]
    assert recfuse_tokenize(profiles, tmp_path) == want


def test_random_text_tokenizes_as_the_reference(tmp_path):
    rng = random.Random(7)
    alphabet = [chr(c) for c in list(range(0x20, 0x250)) + list(range(0x370, 0x530)) + list(range(0x3000, 0x3100))
                + list(range(0x4E00, 0x4E80)) + list(range(0x1F300, 0x1F380)) + [0x200B, 0x2028, 0xFEFF, 0x0301, 0x09]]
    lines = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 400))) for _ in range(2000)]
    tok = minilm.hf_tokenizer(MODEL)
    assert recfuse_tokenize(lines, tmp_path) == [e.ids for e in tok.encode_batch(lines)]


def test_embeddings_match_the_numpy_reference(profiles, tmp_path):
    rng = random.Random(3)
    sample = rng.sample(profiles[:1682], 40) + rng.sample(profiles[1682:], 20)
    src = tmp_path / "s.txt"
    src.write_text("\n".join(sample) + "\n")
    out = tmp_path / "e.safetensors"
    subprocess.run([recfuse_bin(), "embed", "--model", str(MODEL), "--input", str(src), "--format", "safetensors",
                    "--output", str(out)], check=True, capture_output=True, timeout=300)
    ours = minilm.read_safetensors(out)["embeddings"].astype(np.float64)
    enc = minilm.Encoder(MODEL)
    tok = minilm.hf_tokenizer(MODEL)
    ref = np.stack([enc.encode(tok.encode(t).ids) for t in sample])
    cos = (ours * ref).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(ref, axis=1)
    assert cos.min() >= 0.9999, (cos.min(), sample[int(cos.argmin())])

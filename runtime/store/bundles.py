"""Named bundles of one kind in the state directory (avatars, enrolled voices): their names, the
faults about them, and save / read / list / remove over versioned folders (runtime.store.versioned),
so a bundle being replaced is never missing or half-written, for any reader."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from runtime.core.errors import RuntimeFault
from runtime.store.versioned import Versioned

T = TypeVar("T")
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_NAME_HINT = "use 1-64 lower-case letters, digits, - or _, starting with a letter or digit"


@dataclass(frozen=True)
class BundleKind:
    """One kind of bundle, e.g. `BundleKind("avatar", "avatars", AvatarFault, ...)`."""

    kind: str
    """How codes and the command line name it (avatar-unknown, `edge-talker avatar list`)."""
    folder: str
    """Its folder in the state directory."""
    fault: type[RuntimeFault]
    one: str
    """One of them in a sentence ("an avatar")."""
    unknown: str
    """What "no ..." names when there is none ("avatar", "enrolled voice")."""
    source: str
    """What it is enrolled from ("photo", "sample")."""
    reserved: Callable[[str], bool] = lambda name: False
    """Names it may not take (a voice's may not look like a stock voice's)."""
    reserved_hint: str = ""

    def root(self, state: Path) -> Path:
        """Where the bundles live."""
        return state / self.folder

    def store(self, state: Path) -> Versioned:
        """Their versioned folders."""
        return Versioned(self.root(state))

    def valid(self, name: str) -> bool:
        """The name is one a bundle may have."""
        return bool(_NAME.fullmatch(name)) and not self.reserved(name)

    def check_name(self, name: str) -> str:
        """The name, or {kind}-bad-name."""
        if not self.valid(name):
            raise self.fault(f"{self.kind}-bad-name", f"{name!r} is not a valid {self.kind} name",
                             _NAME_HINT + self.reserved_hint)
        return name

    def exists(self, state: Path, name: str) -> bool:
        """True when a bundle of this (valid) name is enrolled."""
        return self.store(state).exists(self.check_name(name))

    def refuse_existing(self, state: Path, name: str) -> None:
        """{kind}-exists when the name is taken (re-enrolling must be asked for)."""
        if self.exists(state, name):
            raise self.fault(f"{self.kind}-exists", f"{self.one} {name!r} already exists",
                             f"pass --replace to enroll the {self.source} in its place, or choose another --name")

    def save(self, state: Path, name: str, write: Callable[[Path], None], *, replace: bool = False) -> Path:
        """write(folder) a new version and switch the name to it atomically; {kind}-exists when the
        name is taken and replace is False. Returns the bundle's folder (the link)."""
        self.check_name(name)
        refuse = None if replace else lambda: self.refuse_existing(state, name)
        return self.store(state).save(name, write, refuse=refuse)

    def read(self, state: Path, name: str, reader: Callable[[Path], T]) -> T:
        """reader(folder) of an enrolled bundle; {kind}-unknown when there is none."""
        with self.store(state).reading(self.check_name(name)) as folder:
            if not folder.is_dir():
                raise self.unknown_fault(name, f"; `{self.kind} enroll {self.source.upper()} --name NAME` adds one")
            return reader(folder)

    def damaged(self, name: str, err: Exception) -> RuntimeFault:
        """{kind}-damaged: the bundle cannot be used."""
        return self.fault(f"{self.kind}-damaged", f"{self.kind} {name!r} is damaged: {err}",
                          f"enroll it again, or `edge-talker {self.kind} remove {name}`")

    def unknown_fault(self, name: str, more: str = "") -> RuntimeFault:
        """{kind}-unknown."""
        return self.fault(f"{self.kind}-unknown", f"no {self.unknown} {name!r}",
                          f"`edge-talker {self.kind} list` shows the {self.kind}s{more}")

    def names(self, state: Path) -> list[str]:
        """The enrolled bundles."""
        return self.store(state).names()

    def remove(self, state: Path, name: str) -> None:
        """Delete a bundle; {kind}-unknown when there is none."""
        if not self.store(state).remove(self.check_name(name)):
            raise self.unknown_fault(name)

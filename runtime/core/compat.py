"""Python 3.10 support (JetPack 6 ships 3.10): tomllib and StrEnum arrived in 3.11."""

from __future__ import annotations

import sys
from enum import Enum

if sys.version_info >= (3, 11):
    from enum import StrEnum

    import tomllib
else:  # pragma: no cover - exercised on 3.10 boxes only
    import tomli as tomllib

    class StrEnum(str, Enum):
        """An Enum whose members are strings."""

        def __str__(self) -> str:
            return str(self.value)


__all__ = ["StrEnum", "tomllib"]

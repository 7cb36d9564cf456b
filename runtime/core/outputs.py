"""Files the command line writes, checked before any work starts (as `render --out` always was):
the right kind of file, in a directory that exists and can be written, not replacing one unless
asked to."""

from __future__ import annotations

import os
from pathlib import Path

from runtime.core.errors import RuntimeFault


def check_output(out: str | Path, suffixes: tuple[str, ...], *, fault: type[RuntimeFault], prefix: str,
                 option: str = "--out", force: bool = False) -> Path:
    """The path to write; a fault `{prefix}-out-*` when it cannot be written. An existing file is
    refused (`{prefix}-out-exists`) unless force (the command's `--force`)."""
    out = Path(out)
    kind = " or ".join(suffixes)
    if out.is_dir():
        raise fault(f"{prefix}-out-is-directory", f"{option} {out} is a directory", f"name the {kind} file to write")
    if out.suffix.lower() not in suffixes:
        raise fault(f"{prefix}-out-wrong-type", f"{option} {out.name} does not end in {kind}",
                    f"name the file like out{suffixes[0]}")
    parent = out.parent
    if not parent.is_dir():
        raise fault(f"{prefix}-out-no-directory", f"the directory {parent} of {option} does not exist",
                    "create it first, or write the file elsewhere")
    if not os.access(parent, os.W_OK):
        raise fault(f"{prefix}-out-unwritable", f"the directory {parent} of {option} cannot be written",
                    "write the file elsewhere, or fix the directory's permissions")
    if not force and out.exists():
        raise fault(f"{prefix}-out-exists", f"{out} already exists",
                    "pass --force to replace it, or choose another name")
    return out

"""Write output files so that a failure leaves nothing half-written.

Everything is written into a staging directory next to the destination first and moved
into place (``os.replace``, atomic per file on one filesystem) only when all succeeded.
Existing files of the same name are replaced; other files in the destination are untouched.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from misalign_eval.errors import InputError


@contextmanager
def staged_directory(destination: str | Path):
    """Yield a temporary directory; on success its files move into ``destination``."""
    destination = Path(destination)
    created = not destination.exists()
    try:
        destination.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{destination}: cannot create output directory ({exc.strerror})") from None
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=destination))
    try:
        yield staging
        for item in sorted(staging.iterdir()):
            os.replace(item, destination / item.name)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if created and not any(destination.iterdir()):
            destination.rmdir()
        raise
    shutil.rmtree(staging, ignore_errors=True)


def write_file_atomically(path: str | Path, text: str) -> Path:
    """Write ``text`` to a temporary file beside ``path`` and rename it into place."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        raise InputError(f"{path}: cannot write ({exc.strerror})") from None
    return path

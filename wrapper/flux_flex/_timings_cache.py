"""The learned task timings kept between processes: a small JSON file per API host in the
user's cache folder, so a new process (every ``flux-flex generate``) starts with the last
one's history instead of none.

The folder: ``$FLUX_FLEX_CACHE_DIR``, else ``$XDG_CACHE_HOME/flux-flex``, else
``~/.cache/flux-flex``. The file holds numbers and the spec's status names only (no key, no
URL: its name is a hash of the API's base URL); it is replaced atomically, and a file that
cannot be read or parsed is ignored (and replaced by the next write). Failing to read or
write it never fails a call. The format and the checks are `flux_flex._core.schedule`'s.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path

from flux_flex._core.schedule import TaskTimings, records_from_json, records_to_json

__all__ = ["cache_dir", "cache_path", "load", "persistent_timings", "save"]

ENV = "FLUX_FLEX_CACHE_DIR"
MAX_FILE_BYTES = 256 * 1024  # 32 records take a few KiB: anything larger is not ours


def cache_dir() -> Path:
    """The folder the timings are kept in (not created here)."""
    chosen = os.environ.get(ENV)
    if chosen:
        return Path(chosen).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "flux-flex"


def cache_path(base_url: str) -> Path:
    """The file of the API at ``base_url``."""
    digest = hashlib.sha256(base_url.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return cache_dir() / f"timings-{digest}.json"


def load(timings: TaskTimings, base_url: str) -> None:
    """Add the kept history of ``base_url`` to ``timings`` (nothing if there is none or it
    cannot be read)."""
    try:
        with open(cache_path(base_url), "rb") as file:
            raw = file.read(MAX_FILE_BYTES + 1)
        data = json.loads(raw) if len(raw) <= MAX_FILE_BYTES else None
    except (OSError, ValueError, RecursionError, RuntimeError):
        return
    timings.restore(records_from_json(data))


def save(timings: TaskTimings, base_url: str) -> None:
    """Replace the kept history of ``base_url`` with ``timings``' records (atomically)."""
    path = cache_path(base_url)
    text = json.dumps(records_to_json(timings.records()), separators=(",", ":"))
    temp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, temp = tempfile.mkstemp(prefix=".timings-", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temp, path)
        temp = None
    except OSError:
        pass  # a read-only home, a full disk: the next process starts cold, that is all
    finally:
        if temp is not None:
            with contextlib.suppress(OSError):
                os.unlink(temp)


def persistent_timings(base_url: str) -> TaskTimings:
    """A client's `TaskTimings`: the kept history of ``base_url``, saved after each task."""
    timings = TaskTimings(on_add=lambda kept: save(kept, base_url))
    load(timings, base_url)
    return timings

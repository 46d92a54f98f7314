"""Secret key files under the instance folder, created once and shared by every process."""
from __future__ import annotations

import os
from pathlib import Path


def read_or_create(path: Path) -> str:
    """The key in `path`, creating it with 32 random bytes (hex) the first time.

    Written aside, then linked into place: processes starting together agree on one key, and
    none ever reads a half-written file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        draft = path.with_name(f".{path.name}.{os.getpid()}")
        draft.write_text(os.urandom(32).hex())
        draft.chmod(0o600)
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()

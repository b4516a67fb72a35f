"""Secret files in the data directory: created whole, owner-only (0600) from the first byte.

A new secret is written to a private temporary file (opened with mode 0600, so the umask cannot
widen it), flushed, then hard-linked into place. ``link`` fails when the name exists, so two
processes racing to create the same secret both end up reading the one that was linked first, and no
reader ever sees a half-written file.

Example::

    key = read_or_create_secret(data_dir / "audit.key", lambda: secrets.token_hex(32))
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
import stat
import time
from collections.abc import Callable
from pathlib import Path

from decorum.errors import ConfigError

logger = logging.getLogger(__name__)

SECRET_MODE = 0o600
_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def read_or_create_secret(path: Path, make: Callable[[], str]) -> str:
    """The stripped content of ``path``; when absent, ``make()`` is written there first (mode 0600, atomically)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        _create(path, make().strip() + "\n")
    return _read(path)


def _create(path: Path, content: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp")
    _write_new(tmp, content)
    try:
        os.link(tmp, path)
        logger.info("secret file created: %s", path)
    except FileExistsError:
        pass  # another process created it first: everyone uses that one
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise ConfigError(f"cannot create {path}: {exc.strerror}") from exc
        try:  # a file system without hard links: create the name itself exclusively, in one write
            _write_new(path, content)
        except FileExistsError:
            pass
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    _fsync_dir(path.parent)


def _write_new(path: Path, content: str) -> None:
    try:
        fd = os.open(path, _FLAGS, SECRET_MODE)
    except FileExistsError:
        raise
    except OSError as exc:
        raise ConfigError(f"cannot create {path}: {exc.strerror}") from exc
    try:
        data = content.encode("ascii")
        if os.write(fd, data) != len(data):
            raise ConfigError(f"short write to {path}")
        os.fsync(fd)
    finally:
        os.close(fd)


def _read(path: Path, *, attempts: int = 20) -> str:
    """Read ``path``, waiting briefly for a creator without hard links to finish its one write."""
    for _ in range(attempts):
        try:
            st = path.stat()
            text = path.read_text(encoding="ascii").strip()
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path} is not an ASCII secret; delete it to make a new one") from exc
        if text:
            _tighten(path, st)
            return text
        time.sleep(0.05)
    raise ConfigError(f"{path} is empty; delete it to make a new one")


def _tighten(path: Path, st: os.stat_result) -> None:
    """A secret file others can read (made by an older version, or copied in) is narrowed to 0600."""
    if stat.S_IMODE(st.st_mode) & 0o077:
        if hasattr(os, "geteuid") and st.st_uid != os.geteuid():  # a mounted secret (Kubernetes, compose): its owner
            logger.info("secret file %s is group/other-readable and owned by another user (a mount?); left as is",
                        path)  # sets its mode; nothing to narrow from here
            return
        try:
            os.chmod(path, SECRET_MODE)
            logger.warning("secret file %s was readable by others; now mode 0600", path)
        except OSError as exc:
            logger.warning("secret file %s is readable by others and cannot be narrowed: %s", path, exc.strerror)


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

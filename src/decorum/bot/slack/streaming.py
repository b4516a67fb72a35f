"""An answer shown in its Slack thread while it is generated: one message, posted once, then updated.

The pipeline calls ``show`` with checked text only (``decorum.bot.streaming``); this class never sees
unchecked text. ``show`` and ``retract`` only record the newest state and wake a background task, so
the pipeline never waits on Slack. The task posts the message on the first ``show`` and then updates it
(``chat.update``) at most once per ``interval_s``, always with the newest text; an update Slack refuses is
skipped, because the final answer replaces the message anyway. ``close`` stops the task and returns the
message's ``ts`` so the answerer can turn it into the final answer, the refusal or the apology.

Example::

    live = SlackMessageStream(client, channel="C1", thread_ts="1700000000.000100")
    answer = await pipeline.answer(request, stream=live)
    ts = await live.close()          # None when nothing was shown
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from decorum.bot.slack.blocks import SlackMessage, streaming_message, withdrawn_message

logger = logging.getLogger(__name__)

CLOSE_GRACE_S = 10.0  # how long ``close`` waits for a call in flight (a 429 may hold it for Retry-After)


class SlackMessageStream:
    """Implements ``AnswerStream`` for one answer in one Slack thread."""

    def __init__(self, client: AsyncWebClient, *, channel: str, thread_ts: str | None, interval_s: float = 1.0,
                 ids: str = "") -> None:
        self.client = client
        self.channel = channel
        self.thread_ts = thread_ts
        self.interval_s = interval_s
        self.ids = ids
        self.ts: str | None = None
        self._pending: SlackMessage | None = None
        self._wake = asyncio.Event()
        self._closing = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def show(self, text: str) -> None:
        self._set(streaming_message(text))

    async def retract(self) -> None:
        self._set(withdrawn_message())

    def _set(self, message: SlackMessage) -> None:
        if self._closing.is_set():
            return
        self._pending = message
        self._wake.set()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="decorum-slack-stream")

    async def _run(self) -> None:
        while not self._closing.is_set():
            await self._wake.wait()
            self._wake.clear()
            message, self._pending = self._pending, None
            if message is None or self._closing.is_set():
                continue
            await self._send(message)
            with contextlib.suppress(TimeoutError):  # at most one call per interval; close() cuts the wait
                await asyncio.wait_for(self._closing.wait(), timeout=self.interval_s)

    async def _send(self, message: SlackMessage) -> None:
        try:
            if self.ts is None:
                resp = await self.client.chat_postMessage(channel=self.channel, thread_ts=self.thread_ts,
                                                          unfurl_links=False, unfurl_media=False, **message.kwargs())
                self.ts = str(resp["ts"])
            else:
                await self.client.chat_update(channel=self.channel, ts=self.ts, **message.kwargs())
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # skipped: the final answer replaces whatever is shown
            logger.info("slack stream update skipped %s error=%s", self.ids, _error(exc))

    async def close(self) -> str | None:
        """Stop showing; the message's ts (None if none was posted).

        A call in flight is waited for (bounded): the first post's ts is needed, or its message would be
        orphaned, and an update still travelling could land after the final answer and overwrite it.
        """
        self._closing.set()
        self._wake.set()
        task, self._task = self._task, None
        if task is not None and not task.done():
            with contextlib.suppress(TimeoutError, Exception):
                await asyncio.wait_for(asyncio.shield(task), timeout=CLOSE_GRACE_S)
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        return self.ts


def _error(exc: Exception) -> Any:
    response = getattr(exc, "response", None)
    return response.get("error") if response is not None else exc.__class__.__name__

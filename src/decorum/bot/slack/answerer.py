"""The work after the ack: claim, notice, progress, history, the pipeline, the reply. Bounded, never dropped.

Listeners ack and hand a ``Job`` to ``Answerer.submit``; each job is an asyncio task that first claims its
key (the database decides, across replicas; the claim is a lease this process renews every third of
``lease_s`` while the job runs), then shows progress and waits for one of ``concurrency`` slots: jobs
beyond that queue on the semaphore in arrival order. A job whose lease another replica took over (this
process stalled) is not delivered. ``drain`` (shutdown) releases the queued jobs' claims at once, so another
replica takes them over, lets the answering ones finish for up to ``drain_s``, and releases the rest. The
CPU work happens in the pipeline's own batching threads, so the event loop, and with it every ack, stays free.

Bounded: before queueing, the asker's rate limit is checked (``Pipeline.check_rate``: one person cannot fill
the queue), and with ``max_queued`` jobs already waiting a new one is refused at once. A job that waits
longer than ``queued_notice_s`` is told it is queued (privately), then answered in turn. The request's
deadline (``limits.request_deadline_s``) counts from the event's arrival, so a job still waiting when it
passes is refused too, as is one the pipeline refuses (``Busy``/``RateLimited``). A refused person gets
"Decorum is at capacity, please try again in a minute" (or the rate-limit text) with a reference id,
privately; the claim is finished as ``busy`` (``rate_limited``) with the reference, also in the process log.
Slack's retries of that event are then duplicates and are not answered: Slack retries only an event whose
ack was lost, which says nothing about capacity, and the person, told to ask again, may already have;
answering the retry too would answer them twice.

Every reference a person is shown is an audit record. A refusal here, and an apology for a failure outside
the pipeline (which records its own failures), first append an ids-only record (``note.unanswered_note``:
verdict ``error``, ``error.where`` ``slack``, the error's kind; never the text) whose id is the reference;
the sweep's apology for a message lost to a crash does the same through ``record_lost``
(``error.where`` ``slack_recovery``). A record that cannot be written (the database is down) is logged as an
ERROR with its reference, and the person is still told.

Answers in threads are streamed (``DECORUM_SLACK_STREAM``, on by default): the pipeline shows each sentence
once it has passed the output checks in one message (``streaming.SlackMessageStream``), and the final
answer, refusal or apology then replaces that message. Slash-command answers are not streamed.

Logs carry ids (team, channel, ts, note id), never text.

Example::

    answerer = Answerer(runtime, SlackSettings(), claims, notices)
    answerer.submit(Job(kind="app_mention", key=message_key("C1", ts), client=client, ...))
    await answerer.drain(grace_s=30)  # shutdown: queued work released, answers in flight finish
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Counter as PromCounter
from prometheus_client import Gauge
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from decorum import metrics
from decorum.audit.review import RefusedTexts
from decorum.bot import messages
from decorum.bot.note import append_unanswered, new_id, unanswered_note
from decorum.bot.pipeline import Answer, Request, refusal_ref
from decorum.bot.runtime import Runtime
from decorum.bot.slack.blocks import (
    SlackMessage,
    answer_messages,
    apology_message,
    busy_message,
    home_url,
    refusal_message,
    text_message,
)
from decorum.bot.slack.config import SlackSettings
from decorum.bot.slack.dedupe import EventClaims, StaleClaim, parse_message_key
from decorum.bot.slack.history import question_text, thread_history
from decorum.bot.slack.notices import FirstContact
from decorum.bot.slack.streaming import SlackMessageStream
from decorum.errors import Busy, RateLimited, UsageError

logger = logging.getLogger(__name__)

JOBS = PromCounter("decorum_slack_jobs_total", "Slack messages handled, by kind and outcome", ["kind", "outcome"])
IN_FLIGHT = Gauge("decorum_slack_jobs_in_flight", "Slack jobs claimed and not yet finished")
WAITING = Gauge("decorum_slack_jobs_waiting", "Slack jobs waiting for an answering slot")


@dataclass(slots=True)
class Job:
    """One person's message (or ``/decorum ask``) to answer. ``text`` goes to the model only."""

    kind: str  # app_mention | message | assistant | command
    key: str  # the dedupe key (``dedupe.message_key`` ...)
    client: AsyncWebClient  # authorised for the workspace
    user: str
    channel: str
    text: str
    team: str | None = None
    channel_type: str = "channel"  # im | channel | group | mpim | command
    ts: str | None = None  # the person's message
    thread_ts: str | None = None  # where the answer goes
    event_id: str | None = None
    app_id: str | None = None
    bot_user_id: str | None = None
    bot_id: str | None = None
    follow_up: bool = False  # a thread reply without a mention: only in threads the bot is in
    claimed: bool = False  # already this process's claim (taken over from a replica that died)
    command: str | None = None
    respond: Callable[..., Awaitable[Any]] | None = None  # slash commands answer through response_url
    set_status: Callable[..., Awaitable[Any]] | None = None  # assistant threads show a status
    received: float = field(default_factory=time.monotonic)

    @property
    def private(self) -> bool:
        """A DM: refusals go in the thread rather than as an ephemeral message."""
        return self.channel_type == "im"

    def ids(self) -> str:
        return (f"kind={self.kind} team={self.team} channel={self.channel} ts={self.ts} "
                f"thread_ts={self.thread_ts} event={self.event_id}")


class Answerer:
    """Runs jobs as tasks: at most ``concurrency`` answering at once, the rest queued in order."""

    def __init__(self, runtime: Runtime, config: SlackSettings, claims: EventClaims, notices: FirstContact) -> None:
        self.runtime = runtime
        self.config = config
        self.claims = claims
        self.notices = notices
        self.tasks: set[asyncio.Task[str]] = set()
        self.outcomes: Counter[str] = Counter()
        self._slots: asyncio.Semaphore | None = None
        self._slots_loop: asyncio.AbstractEventLoop | None = None
        self.waiting = 0  # jobs waiting for a slot
        self._depth = metrics.QUEUE_DEPTH.labels("slack")
        self.held: set[str] = set()  # keys whose leases this process renews
        self.lost: set[str] = set()  # keys whose leases another replica took over (not delivered here)
        self.draining = False  # stop() began: nothing new is answered here; what waits is released
        self._queued: set[asyncio.Task[str]] = set()  # jobs not answering yet (released first on drain)
        self._renewer: asyncio.Task[None] | None = None
        # refused questions, held in memory briefly for their asker's "This was wrong" (``reports``)
        self.refused_texts = RefusedTexts()

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots_loop is not loop:
            self._slots, self._slots_loop = asyncio.Semaphore(self.config.concurrency), loop
        return self._slots

    def submit(self, job: Job) -> asyncio.Task[str]:
        """Start ``job`` in the background (call after the ack); the task's result is the outcome."""
        loop = asyncio.get_running_loop()
        task = loop.create_task(self.run(job), name=f"slack-{job.key}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        if self._renewer is None or self._renewer.done() or self._renewer.get_loop() is not loop:
            self._renewer = loop.create_task(self._renew_leases(), name="slack-leases")
        return task

    async def _renew_leases(self) -> None:
        """Every third of the lease, extend the leases of the claims in work here; note those taken over."""
        every = max(0.2, self.claims.lease_s / 3)
        while True:
            await asyncio.sleep(every)
            keys = set(self.held)
            if not keys:
                if not self.tasks:
                    return  # started again by the next submit
                continue
            try:
                still = await asyncio.to_thread(self.claims.renew, keys)
            except Exception as exc:  # the database blipped: the leases may lapse; try again next round
                logger.error("slack lease renewal failed (%s keys) error=%s", len(keys), exc.__class__.__name__)
                continue
            for key in keys - still - self.lost:
                if key in self.held:
                    logger.warning("slack lease lost key=%s: another replica took the message over", key)
                    self.lost.add(key)

    async def wait_idle(self, timeout_s: float | None = None) -> bool:
        """Wait until no job is in work here (new ones keep being taken); False when ``timeout_s`` passed first."""
        loop = asyncio.get_running_loop()
        until = None if timeout_s is None else loop.time() + timeout_s
        while self.tasks:
            left = None if until is None else until - loop.time()
            if left is not None and left <= 0:
                return False
            await asyncio.wait(set(self.tasks), timeout=left)
        return True

    async def drain(self, grace_s: float | None = None) -> int:
        """Stop: release the jobs still queued (another replica takes them over at once), let those answering
        finish for up to ``grace_s``, then cancel and release the rest. Returns how many were cut off."""
        self.draining = True
        for task in list(self._queued):
            task.cancel()
        pending: set[asyncio.Task[str]] = set()
        if self.tasks:
            _done, pending = await asyncio.wait(set(self.tasks), timeout=grace_s)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=5)
                logger.warning("slack shutdown: %s answers cut off and released for another replica", len(pending))
        if self._renewer is not None:
            self._renewer.cancel()
            self._renewer = None
        return len(pending)

    async def run(self, job: Job) -> str:
        """Answer ``job`` once. Returns the outcome (``answered``, ``refused``, ``duplicate``, ...)."""
        try:
            outcome = await self._run(job)
        except asyncio.CancelledError:  # drained: its claim was released for another replica
            self.outcomes["released"] += 1
            JOBS.labels(job.kind, "released").inc()
            raise
        self.outcomes[outcome] += 1
        JOBS.labels(job.kind, outcome).inc()
        return outcome

    async def _run(self, job: Job) -> str:
        if job.follow_up and not await asyncio.to_thread(self.claims.in_thread, job.channel, job.thread_ts or ""):
            return "ignored"
        if job.key in self.held:  # a job of this process is on it already (its lease lost or not): never two
            logger.info("slack duplicate (in work here) %s", job.ids())
            return "duplicate"
        if not job.claimed:
            claimed = await asyncio.to_thread(self.claims.claim, job.key, kind=job.kind, event_id=job.event_id,
                                              team=job.team, channel=job.channel, thread_ts=job.thread_ts)
            if not claimed:
                logger.info("slack duplicate %s", job.ids())
                return "duplicate"
        self.held.add(job.key)
        if self.draining:  # acked while stopping: leave it to a replica that stays
            await asyncio.to_thread(self.claims.release, job.key)
            self.held.discard(job.key)
            logger.info("slack released while draining %s", job.ids())
            return "released"
        IN_FLIGHT.inc()
        outcome, ref, clear = "error", None, None
        delivered = False
        live: SlackMessageStream | None = None
        try:
            question = question_text(job.text, job.bot_user_id)
            if not question:
                await self._post(job, text_message(messages.slack_empty_mention()), public=True)
                delivered, outcome = True, "help"
                return outcome
            req = Request(text=question, surface="slack", user=job.user, team=job.team, channel=job.channel,
                          thread_ts=job.thread_ts, command=job.command)
            deadline = job.received + self.runtime.config.limits.request_deadline_s
            slots = self._semaphore()
            try:
                self.runtime.pipeline.check_rate(req)
                if slots.locked() and self.waiting >= self.config.max_queued:
                    raise self.runtime.pipeline.refuse(req, new_id(),
                                                       Busy(f"slack queue full ({self.waiting} waiting)"))
            except Busy as exc:
                outcome, ref = await self._tell_busy(job, exc)
                delivered = True
                return outcome
            await self._first_contact(job)
            clear = await self._show_progress(job)
            if not await self._wait_for_slot(job, slots, deadline):
                busy = Busy("deadline passed in queue", reason="deadline")
                outcome, ref = await self._tell_busy(job, self.runtime.pipeline.refuse(req, new_id(), busy))
                delivered = True
                return outcome
            try:
                await asyncio.to_thread(self.claims.finish, job.key, "answering")  # alive: not stale
                req.history = await self._history(job)
                live = self._live(job)
                try:
                    answer = await self.runtime.pipeline.answer(req, stream=live, deadline=deadline,
                                                                rate_checked=True)
                except UsageError as exc:
                    await self._post(job, text_message(messages.slack_usage_problem(str(exc))), public=False)
                    delivered, outcome = True, "usage"
                    return outcome
                except Busy as exc:  # refused before any work: no note
                    outcome, ref = await self._tell_busy(job, exc, await live.close() if live else None)
                    delivered = True
                    return outcome
                ref = answer.id
                if answer.verdict in ("blocked_input", "blocked_output"):
                    self.refused_texts.keep(answer.id, req.text)  # the text the note's keyed hash is of
                if job.key in self.lost or not await asyncio.to_thread(self.claims.holds, job.key):
                    # this process stalled past its lease and another replica took the message over: it answers
                    logger.warning("slack answer not delivered %s note=%s: the claim was taken over", job.ids(), ref)
                    if live is not None:
                        await live.close()
                    outcome = "superseded"
                    return outcome
                outcome = await self._deliver(job, answer, await live.close() if live else None)
                delivered = True
            finally:
                slots.release()
            logger.info("slack answered %s note=%s outcome=%s ms=%s", job.ids(), ref, outcome,
                        round((time.monotonic() - job.received) * 1000))
            return outcome
        except asyncio.CancelledError:
            outcome = "released"  # shutdown: another replica (or this one's next start) takes it over at once
            if live is not None:
                await live.close()
            await asyncio.to_thread(self.claims.release, job.key)
            raise
        except Exception as exc:
            if ref is None:  # no note of the pipeline's to point at: the apology's reference gets its own record
                ref = new_id()
                await self._record(job, ref, error_type=exc.__class__.__name__)
            logger.error("slack job failed %s ref=%s error=%s", job.ids(), ref, exc.__class__.__name__)
            try:
                streamed_ts = await live.close() if live is not None else None
                await self._show(job, apology_message(messages.apology(ref), ref), streamed_ts)
                delivered = True
            except Exception as exc2:
                logger.error("slack apology failed %s ref=%s error=%s", job.ids(), ref, exc2.__class__.__name__)
            outcome = "error"
            return outcome
        finally:
            IN_FLIGHT.dec()
            self.held.discard(job.key)
            self.lost.discard(job.key)
            if clear is not None:
                await clear(delivered)
            if outcome != "released":  # only while this process owns it (a superseded one no longer does)
                await asyncio.to_thread(self.claims.finish, job.key, outcome, ref)

    # --- capacity ------------------------------------------------------------------------------------

    async def _wait_for_slot(self, job: Job, slots: asyncio.Semaphore, deadline: float) -> bool:
        """Acquire an answering slot; tell the asker they are queued after ``queued_notice_s``. False: deadline."""
        ahead = self.waiting
        self.waiting += 1
        WAITING.inc()
        self._depth.set(self.waiting)
        task = asyncio.current_task()
        if task is not None:
            self._queued.add(task)  # drain releases it rather than wait
        try:
            notice_at = min(deadline, time.monotonic() + self.config.queued_notice_s)
            for until, notify in ((notice_at, True), (deadline, False)):
                try:
                    async with asyncio.timeout(max(0.0, until - time.monotonic())):
                        await slots.acquire()
                    return True
                except TimeoutError:
                    if notify and time.monotonic() < deadline:
                        await self._tell_queued(job, ahead)
            return False
        finally:
            if task is not None:
                self._queued.discard(task)
            self.waiting -= 1
            WAITING.dec()
            self._depth.set(self.waiting)

    async def _tell_queued(self, job: Job, ahead: int) -> None:
        try:
            await self._post(job, busy_message(messages.slack_queued(ahead)), public=False)
        except Exception as exc:  # the answer still comes
            logger.warning("slack queued notice failed %s error=%s", job.ids(), exc.__class__.__name__)

    async def _tell_busy(self, job: Job, exc: Busy, streamed_ts: str | None = None) -> tuple[str, str]:
        """Tell the asker (privately) that Decorum is at capacity or they ask too often, after recording it;
        returns the outcome and the reference (the record's id)."""
        ref = refusal_ref(exc) or new_id()
        if isinstance(exc, RateLimited):
            outcome, text = "rate_limited", messages.rate_limited(exc.retry_after_s, ref)
        else:
            outcome, text = "busy", messages.busy(ref)
        await self._record(job, ref, error_type=exc.__class__.__name__, reason=exc.reason)
        msg = busy_message(text, ref)
        if streamed_ts:
            await self._show(job, msg, streamed_ts)
        else:
            await self._post(job, msg, public=False)
        logger.info("slack %s %s ref=%s", outcome, job.ids(), ref)
        return outcome, ref

    # --- records of messages not answered ---------------------------------------------------------------

    async def _record(self, job: Job, ref: str, *, error_type: str, reason: str | None = None) -> bool:
        """Append the ids-only record of ``job`` refused or failed here (``error.where`` ``slack``), id ``ref``."""
        who = self.runtime.pseudonymiser
        slack = {"team": job.team, "channel": job.channel, "thread_ts": job.thread_ts, "ts": job.ts,
                 "user": who.user(job.user) if job.user else None}
        note = unanswered_note(ref, error_type=error_type, reason=reason, where="slack", slack=slack,
                               pseudonym_key=who.key_id)
        return await append_unanswered(self.runtime.audit, note, job.ids())

    async def record_lost(self, claim: StaleClaim, *, max_attempts: int) -> str:
        """Record a message lost to a crash that the sweep gives up on (``error.where`` ``slack_recovery``,
        ``error.reason`` ``attempts`` past ``max_attempts`` owners, else ``unreadable``); returns the record's id,
        the reference for the apology. Call it before the apology is posted: whether or not that works, the
        claim (finished ``abandoned`` or ``lost`` with this reference) and the log agree."""
        ref = new_id()
        where = parse_message_key(claim.key)
        slack = {"team": claim.team, "channel": claim.channel, "thread_ts": claim.thread_ts,
                 "ts": where[1] if where else None}
        reason = "attempts" if claim.attempts > max_attempts else "unreadable"
        note = unanswered_note(ref, error_type="LostMessage", reason=reason, where="slack_recovery", slack=slack,
                               attempts=claim.attempts)
        await append_unanswered(self.runtime.audit, note, f"key={claim.key} team={claim.team}")
        return ref

    # --- steps ---------------------------------------------------------------------------------------

    def _live(self, job: Job) -> SlackMessageStream | None:
        """A streamed message for this answer, or None (slash commands answer once, through response_url)."""
        if not self.config.stream or job.respond is not None:
            return None
        return SlackMessageStream(job.client, channel=job.channel, thread_ts=job.thread_ts,
                                  interval_s=self.config.stream_interval_s, ids=job.ids())

    async def _deliver(self, job: Job, answer: Answer, streamed_ts: str | None = None) -> str:
        """Post the final answer, refusal or apology; the streamed message (``streamed_ts``) becomes its first part.

        A refusal is private in channels, unless part of the answer was already shown in the thread: then the
        refusal replaces that part where everyone saw it.
        """
        with_metadata = job.kind != "command"  # response_url messages carry no metadata
        if answer.verdict == "answered":
            first, *rest = answer_messages(answer, with_metadata=with_metadata)
            await self._show(job, first, streamed_ts)
            for msg in rest:
                await self._post(job, msg, public=True)
            return "answered"
        if answer.verdict in ("blocked_input", "blocked_output"):
            refusal = refusal_message(answer, with_metadata=with_metadata)
            if streamed_ts:
                await self._show(job, refusal, streamed_ts)
            else:
                await self._post(job, refusal, public=False)
            return "refused"
        await self._show(job, apology_message(answer.text, answer.id), streamed_ts)
        return "error"

    async def _show(self, job: Job, msg: SlackMessage, streamed_ts: str | None) -> None:
        """Replace the streamed message with ``msg``; post ``msg`` publicly when there is none."""
        if streamed_ts:
            try:
                await job.client.chat_update(channel=job.channel, ts=streamed_ts, **msg.kwargs())
                return
            except SlackApiError as exc:  # deleted meanwhile, or too old to edit: post it instead
                logger.info("slack could not replace the streamed message %s error=%s", job.ids(),
                            exc.response.get("error"))
        await self._post(job, msg, public=True)

    async def _post(self, job: Job, msg: SlackMessage, *, public: bool) -> None:
        """In the thread; privately (ephemeral) when not ``public`` outside DMs; via response_url for commands."""
        if job.respond is not None:
            resp = await job.respond(text=msg.text, blocks=msg.blocks, response_type="ephemeral",
                                     replace_original=False)
            if getattr(resp, "status_code", 200) != 200:
                raise RuntimeError(f"response_url answered {getattr(resp, 'status_code', '?')}")
            return
        if public or job.private:
            await job.client.chat_postMessage(channel=job.channel, thread_ts=job.thread_ts, unfurl_links=False,
                                              unfurl_media=False, **msg.kwargs())
            return
        await job.client.chat_postEphemeral(channel=job.channel, user=job.user, thread_ts=job.thread_ts,
                                            text=msg.text, blocks=msg.blocks)

    async def _first_contact(self, job: Job) -> None:
        if not job.team:
            return
        who = self.runtime.pseudonymiser.user(job.user)
        if not await asyncio.to_thread(self.notices.claim, job.team, who):
            return
        try:
            await self._post(job, text_message(messages.slack_first_contact(home_url(job.team, job.app_id))),
                             public=False)
        except Exception as exc:  # told next time instead
            logger.warning("slack first-contact notice failed %s error=%s", job.ids(), exc.__class__.__name__)
            await asyncio.to_thread(self.notices.release, job.team, who)

    async def _show_progress(self, job: Job) -> Callable[[bool], Awaitable[None]] | None:
        """An assistant-thread status, else a reaction on the message; returns how to clear it."""
        if job.set_status is not None:
            set_status = job.set_status
            try:
                await set_status(status=messages.slack_working())

                async def clear_status(delivered: bool) -> None:
                    if delivered:  # Slack clears the status when the app replies
                        return
                    try:
                        await set_status(status="")
                    except SlackApiError:
                        pass

                return clear_status
            except SlackApiError as exc:  # not an assistant thread (a plain DM thread): use a reaction
                logger.debug("slack status unavailable %s error=%s", job.ids(), exc.response.get("error"))
        if job.ts is None:
            return None
        name = self.config.progress_reaction
        try:
            await job.client.reactions_add(channel=job.channel, timestamp=job.ts, name=name)
        except SlackApiError as exc:
            logger.info("slack progress reaction failed %s error=%s", job.ids(), exc.response.get("error"))
            return None

        async def clear_reaction(_delivered: bool) -> None:
            try:
                await job.client.reactions_remove(channel=job.channel, timestamp=job.ts, name=name)
            except SlackApiError as exc:
                logger.info("slack reaction removal failed %s error=%s", job.ids(), exc.response.get("error"))

        return clear_reaction

    async def _history(self, job: Job) -> list[dict[str, str]]:
        """Earlier turns when the message is a reply in a thread (best effort: none if Slack says no)."""
        if not (job.ts and job.thread_ts and job.thread_ts != job.ts and self.config.history_turns):
            return []
        msgs: list[dict[str, Any]] = []
        cursor = None
        try:
            for _page in range(5):  # a thread of up to 1,000 messages; the turns kept are the last ones
                resp = await job.client.conversations_replies(channel=job.channel, ts=job.thread_ts, limit=200,
                                                              include_all_metadata=True, cursor=cursor)
                msgs += list(resp.get("messages") or [])
                cursor = (resp.get("response_metadata") or {}).get("next_cursor")
                if not (resp.get("has_more") and cursor):
                    break
        except SlackApiError as exc:
            logger.info("slack history unavailable %s error=%s", job.ids(), exc.response.get("error"))
            return []
        mine = [str(m["ts"]) for m in msgs if m.get("user") == job.user and m.get("ts") and m["ts"] != job.ts]
        answered = await asyncio.to_thread(self.claims.answered, job.channel, mine)
        return thread_history(msgs, asker=job.user, bot_user_id=job.bot_user_id, bot_id=job.bot_id,
                              answered_ts=answered, before_ts=job.ts, turns=self.config.history_turns,
                              chars=self.config.history_chars)

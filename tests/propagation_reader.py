"""A second Decorum process for the propagation test: answers through its own pipeline in a loop.

Run as ``python -m tests.propagation_reader TEMPLATE SECONDS`` (the database from ``DECORUM_DATABASE_URL``);
prints ``ready`` once its runtime is open, then one JSON line per answer: wall time and the template version
its note records. Fakes stand in for the models: what is under test is which version the pipeline serves.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from decorum.bot.pipeline import Request
from decorum.bot.runtime import Runtime
from tests.fakes import FakeClassifier, FakeGenerator


async def main(template: str, seconds: float) -> None:
    rt = Runtime.open(classifier=FakeClassifier(), generator=FakeGenerator("The printer is upstairs."))
    print("ready", flush=True)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        answer = await rt.pipeline.answer(Request(text="Where is the printer?", template=template),
                                          rate_checked=True)
        print(json.dumps({"t": time.time(), "version": answer.note["template"]["version"]}), flush=True)
        await asyncio.sleep(0.02)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], float(sys.argv[2])))

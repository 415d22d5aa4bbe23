"""Crash safety: SIGKILL a process recording a paced stream through a real socket, again and again.

After every kill the cassette loads, every event the application had received is in it, and
the next run appends to it and it still loads. A SIGKILL cannot cut a line (each is one write
call), so after half of the kills the last line is also torn by hand, as a full disk or a power
loss would leave it, before the next run appends.
`crash_campaign` is also run by benchmarks/reliability.py for docs/reliability.md.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import recorder
from replayer import Chunk, Reply, ScriptedUpstream
from replayer.fuzzing._synthetic import sse_bytes, text_message

WORDS = 200
# The app: records with record(append=True) and prints each text delta the moment the SDK yields it.
CHILD = """
import sys, anthropic, recorder
with recorder.record(sys.argv[1], append=True):
    client = anthropic.Anthropic(api_key="k", base_url=sys.argv[2], max_retries=0)
    with client.messages.stream(model="m", max_tokens=9, messages=[{"role": "user", "content": "Hi"}]) as s:
        print("started", flush=True)
        for text in s.text_stream:
            print(text, flush=True)
"""


@dataclass
class CrashReport:
    kills: int = 0
    loads: int = 0
    events_received: int = 0
    torn: int = 0  # last lines torn before the next append


def paced_reply(gap: float) -> Reply:
    events = text_message(" ".join(f"w{i}" for i in range(WORDS)), pieces=WORDS)
    return Reply(chunks=tuple(Chunk(sse_bytes([e]), delay=gap) for e in events))


def crash_campaign(directory: Path, kills: int, *, seed: int = 0, gap: float = 0.002) -> CrashReport:
    """Run the recorder `kills` times, each SIGKILLed at a random moment of its stream; check after each."""
    rng = random.Random(seed)
    path = directory / "crashes.jsonl"
    report = CrashReport()
    with ScriptedUpstream() as upstream:
        for run in range(kills):
            upstream.add(paced_reply(gap))
            child = subprocess.Popen([sys.executable, "-c", CHILD, str(path), upstream.base_url],
                                     stdout=subprocess.PIPE, text=True)
            assert child.stdout is not None
            assert child.stdout.readline() == "started\n"
            received = [child.stdout.readline().rstrip("\n") for _ in range(rng.randrange(WORDS))]
            time.sleep(rng.random() * 0.003)  # land anywhere, also inside a write
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=10)
            report.kills += 1
            cassette = recorder.load(path)  # every cassette loads, appended to after each crash
            report.loads += 1
            assert [i.id for i in cassette] == list(range(run + 1))
            recorded = [e.data["delta"]["text"] for e in cassette[run].events if e.event == "content_block_delta"]
            assert recorded[: len(received)] == received, "an event the app received is missing"
            report.events_received += len(received)
            if rng.random() < 0.5:
                data = path.read_bytes()
                last = len(data) - data.rstrip(b"\n").rfind(b"\n") - 1
                path.write_bytes(data[: len(data) - rng.randrange(1, last)])
                report.torn += 1
    recorder.load(path)
    return report


def test_random_sigkills_never_lose_what_the_app_received(tmp_path: Path) -> None:
    seed = int.from_bytes(os.urandom(2), "big")  # each run kills at other moments
    print(f"crash_campaign seed {seed}")  # shown on failure, to replay the same kills
    report = crash_campaign(tmp_path, kills=6, seed=seed)
    assert report.kills == report.loads == 6

"""Continuing a cassette after a crash, sharing a writer, and many writers on one path (issue 12, items 1-3)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from pathlib import Path

import anthropic
import httpx2
import pytest

import recorder
from recorder import CassetteWriter
from replayer import Chunk, Reply, ScriptedUpstream
from replayer.fuzzing._synthetic import sse_bytes, text_message
from tests.helpers import BODY, CLI, Upstream, sse_reply
from tests.recorder.test_durability import answer_by_prompt, check_not_interleaved, prompt_body

WIRE = sse_bytes(text_message("Hello there", pieces=3))


def record_one(path: Path, *, append: bool = False) -> None:
    transport = recorder.RecordingTransport(path, Upstream([sse_reply(WIRE)]).transport(), append=append)
    with anthropic.Anthropic(api_key="k", http_client=httpx2.Client(transport=transport)) as client:
        list(client.messages.create(**BODY, stream=True))


def crashed(tmp_path: Path, cut: int) -> Path:
    """A cassette whose last `cut` bytes were never written: a recorder killed mid-line."""
    path = tmp_path / "crashed.jsonl"
    record_one(path)
    data = path.read_bytes()
    path.write_bytes(data[:-cut])
    recorder.load(path)  # loads: the cut line is dropped
    return path


def append_with_transport(path: Path) -> None:
    record_one(path, append=True)


def append_with_record(path: Path) -> None:
    with ScriptedUpstream([Reply(chunks=(Chunk(WIRE),))]) as upstream, recorder.record(path, append=True):
        with anthropic.Anthropic(api_key="k", base_url=upstream.base_url) as client:
            list(client.messages.create(**BODY, stream=True))


def append_with_cli(path: Path) -> None:
    app = ("import anthropic; list(anthropic.Anthropic(api_key='k', max_retries=0).messages.create("
           f"**{BODY!r}, stream=True))")
    with ScriptedUpstream([Reply(chunks=(Chunk(WIRE),))]) as upstream:
        result = subprocess.run([*CLI, "record", "-o", str(path), "--append", "--upstream", upstream.base_url, "--",
                                 sys.executable, "-c", app], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("append", [append_with_transport, append_with_record, append_with_cli],
                         ids=["RecordingTransport", "record", "cassette-record"])
@pytest.mark.parametrize("cut", [1, 7, 40])
def test_appending_after_a_crash_keeps_the_cassette_loadable(tmp_path: Path, append, cut: int) -> None:  # type: ignore[no-untyped-def]
    path = crashed(tmp_path, cut)
    before = recorder.load(path)
    append(path)
    after = recorder.load(path)
    assert len(after) == 2 and [i.id for i in after] == [0, 1]
    assert after[0].events == before[0].events and after[0].outcome == before[0].outcome
    assert after[1].outcome == "complete"
    assert all(json.loads(line) for line in path.read_text().splitlines())


def test_a_last_line_that_lost_only_its_newline_is_kept(tmp_path: Path) -> None:
    path = crashed(tmp_path, 1)  # the end line is whole JSON, only its newline is missing
    assert recorder.load(path)[0].outcome == "complete"
    append_with_transport(path)
    assert [i.outcome for i in recorder.load(path)] == ["complete", "complete"]


def test_a_cut_header_is_started_afresh(tmp_path: Path) -> None:
    path = tmp_path / "cut-header.jsonl"
    path.write_text('{"cassette":1,"crea')
    append_with_transport(path)
    assert len(recorder.load(path)) == 1


def test_an_unloadable_cassette_is_refused_and_left_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"cassette":1}\nnot json\n{"id":0}\n')
    with pytest.raises(recorder.CassetteError, match="bad.jsonl:2"):
        CassetteWriter(path, append=True)
    assert path.read_text() == '{"cassette":1}\nnot json\n{"id":0}\n'


# --- a shared writer ------------------------------------------------------------------


def sse_client(transport: httpx2.BaseTransport) -> httpx2.Client:
    return httpx2.Client(transport=transport, base_url="http://upstream")


def test_closing_one_client_keeps_recording_for_the_others_on_a_shared_writer(tmp_path: Path) -> None:
    path = tmp_path / "shared.jsonl"
    mock = Upstream([sse_reply(WIRE) for _ in range(3)]).transport()
    with CassetteWriter(path) as writer:
        first, second = recorder.RecordingTransport(writer, mock), recorder.RecordingTransport(writer, mock)
        with sse_client(first) as client:
            client.post("/v1/messages", json=BODY).read()
        with sse_client(second) as client:  # the first client is closed: the second still records
            client.post("/v1/messages", json=BODY).read()
    cassette = recorder.load(path)
    assert [i.outcome for i in cassette] == ["complete", "complete"]
    with pytest.raises(recorder.CassetteClosedError, match="shared.jsonl: this CassetteWriter was closed"):
        with sse_client(recorder.RecordingTransport(writer, mock)) as client:
            client.post("/v1/messages", json=BODY)
    with pytest.raises(recorder.CassetteClosedError):
        writer.write_line({"id": 9, "kind": "request", "method": "GET", "url": "http://x/"})
    assert recorder.load(path).interactions == cassette.interactions  # nothing half-written


def test_a_stream_read_after_its_writer_closed_fails_loudly(tmp_path: Path) -> None:
    path = tmp_path / "closed.jsonl"
    transport = recorder.RecordingTransport(path, Upstream([sse_reply(WIRE)]).transport())
    with sse_client(transport) as client, client.stream("POST", "/v1/messages", json=BODY) as response:
        transport.recorder.writer.close()
        with pytest.raises(recorder.CassetteClosedError):
            response.read()


# --- many writers on one path ------------------------------------------------------------


def test_two_transports_on_one_path_keep_both_interactions(tmp_path: Path) -> None:
    path = tmp_path / "two.jsonl"
    a, b = (anthropic.Anthropic(api_key="k", http_client=httpx2.Client(
        transport=recorder.RecordingTransport(path, httpx2.MockTransport(answer_by_prompt)))) for _ in range(2))
    for i, client in enumerate([a, b, a]):
        list(client.messages.create(**prompt_body(i), stream=True))
    b.close()
    list(a.messages.create(**prompt_body(3), stream=True))  # the other transport's close stops nothing
    a.close()
    check_not_interleaved(path, 4)


def test_a_hundred_transports_on_one_path_in_threads(tmp_path: Path) -> None:
    path = tmp_path / "hundred.jsonl"
    transports = [recorder.RecordingTransport(path, httpx2.MockTransport(answer_by_prompt)) for _ in range(100)]

    def worker(i: int) -> None:
        with anthropic.Anthropic(api_key="k", http_client=httpx2.Client(transport=transports[i])) as client:
            with client.messages.stream(**prompt_body(i)) as stream:
                stream.until_done()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    check_not_interleaved(path, 100)
    assert sorted(i.id for i in recorder.load(path)) == list(range(100))


def test_asyncio_tasks_with_their_own_transports_on_one_path(tmp_path: Path) -> None:
    path = tmp_path / "tasks.jsonl"

    async def one(i: int) -> None:
        transport = recorder.AsyncRecordingTransport(path, httpx2.MockTransport(answer_by_prompt))
        async with anthropic.AsyncAnthropic(api_key="k", http_client=httpx2.AsyncClient(transport=transport)) as client:
            async with client.messages.stream(**prompt_body(i)) as stream:
                await stream.until_done()

    async def main() -> None:
        await asyncio.gather(*(one(i) for i in range(20)))

    asyncio.run(main())
    check_not_interleaved(path, 20)


def test_append_to_a_missing_file_from_two_writers(tmp_path: Path) -> None:
    path = tmp_path / "new.jsonl"
    with CassetteWriter(path, append=True) as a, CassetteWriter(path, append=True) as b:
        ids = [a.new_id(), b.new_id(), a.new_id()]
        for id, writer in zip(ids, [a, b, a]):
            writer.write(id, recorder.Response(0.0, 200, {}))
    lines = path.read_text().splitlines()
    assert json.loads(lines[0])["cassette"] == 1 and len(lines) == 4
    assert len(recorder.load(path)) == 3 and ids == [0, 1, 2]


HOLDER = """
import sys, time, recorder
writer = recorder.CassetteWriter(sys.argv[1], append=True)
writer.write(writer.new_id(), recorder.Response(0.0, 200, {}))
print("holding", flush=True)
sys.stdin.readline()
writer.write(writer.new_id(), recorder.Response(0.0, 200, {}))
writer.close()
"""


def test_a_second_process_is_refused_clearly_and_nothing_is_lost(tmp_path: Path) -> None:
    path = tmp_path / "processes.jsonl"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "holding\n"  # type: ignore[union-attr]
        for append in (False, True):
            with pytest.raises(recorder.CassetteBusyError, match="another process is recording into this cassette"):
                CassetteWriter(path, append=append)
        holder.communicate("go\n", timeout=10)
    finally:
        holder.kill()
    with CassetteWriter(path, append=True) as writer:  # free again once the other process is done
        writer.write(writer.new_id(), recorder.Response(0.0, 200, {}))
    assert [i.id for i in recorder.load(path)] == [0, 1, 2]


def test_two_listening_proxies_on_one_file_the_second_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "proxies.jsonl"
    first = subprocess.Popen([*CLI, "record", "-o", str(path), "--append", "--listen"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        url = first.stdout.readline().strip()  # type: ignore[union-attr]
        assert url.startswith("http://127.0.0.1:")
        second = subprocess.run([*CLI, "record", "-o", str(path), "--append", "--listen"], capture_output=True,
                                text=True, timeout=30, check=False)
        assert second.returncode == 2
        assert second.stderr.startswith("Error: ") and "another process is recording" in second.stderr
        assert len(second.stderr.strip().splitlines()) == 1
    finally:
        first.terminate()
        first.wait(timeout=10)
    recorder.load(path)


def test_an_event_stream_recorded_by_two_writers_has_unique_ids(tmp_path: Path) -> None:
    """Ids are allocated by the file's one sink, whichever writer asks."""
    path = tmp_path / "ids.jsonl"
    writers = [CassetteWriter(path, append=True) for _ in range(10)]
    ids = [w.new_id() for w in writers for _ in range(10)]
    for w in writers:
        w.close()
    assert sorted(ids) == list(range(100))


def test_saving_a_whole_cassette_over_one_being_recorded_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "open.jsonl"
    with CassetteWriter(path) as writer:
        writer.write(writer.new_id(), recorder.Response(0.0, 200, {}))
        with pytest.raises(recorder.CassetteBusyError, match="this process is recording into this cassette"):
            recorder.save(recorder.load(path), path)  # its ids would collide with the recording's
        writer.write(writer.new_id(), recorder.Response(0.0, 200, {}))
    assert [i.id for i in recorder.load(path)] == [0, 1]


def test_appending_after_a_cut_at_every_byte_offset_keeps_every_complete_line(tmp_path: Path) -> None:
    original = tmp_path / "original.jsonl"
    record_one(original)
    data = original.read_bytes()
    header_end = data.index(b"\n") + 1
    path = tmp_path / "cut.jsonl"
    for cut in range(len(data) + 1):
        path.write_bytes(data[:cut])
        record_one(path, append=True)
        after = recorder.load(path)  # never unloadable
        lines = path.read_bytes().splitlines(keepends=True)
        complete = data[:cut].splitlines(keepends=True)
        complete = [line for line in complete if line.endswith(b"\n")]
        if cut >= header_end:
            assert lines[:len(complete)] == complete, cut  # nothing that was complete is lost or changed
        assert after[-1].outcome == "complete" and len({i.id for i in after}) == len(after), cut

"""The official TypeScript SDK (`@anthropic-ai/sdk`, pinned in tests/typescript/) driving `replayer.serve`.

Each test runs a small ES module with node against a real server (`run_js`, which returns the
JSON the program printed last) and compares what the TS app got with what the Python SDK gets
from the same cassette: the server must serve any language's client as it serves Python's.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import recorder
from replayer import FakeAnthropic, ReplayTransport, serve
from replayer.server._node import run_js
from tests.helpers import BODY, CASSETTES

TEXT, TOOL_USE = CASSETTES / "text.jsonl", CASSETTES / "tool_use.jsonl"

# Streams one request (input: {body, api: "stream" | "create"}); prints the events' types, the text
# as it came (one piece per text delta), the final message (stream) and the error, if any.
STREAM = """
import Anthropic from '@anthropic-ai/sdk';
const { body, api } = JSON.parse(process.env.CASSETTE_INPUT);
const client = new Anthropic();
const seen = { types: [], pieces: [], final: null, error: null };
try {
  const stream = api === 'stream' ? client.messages.stream(body)
    : await client.messages.create({ ...body, stream: true });
  for await (const event of stream) {
    seen.types.push(event.type);
    if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') seen.pieces.push(event.delta.text);
  }
  if (api === 'stream') seen.final = await stream.finalMessage();
} catch (err) {
  seen.error = { name: err.constructor.name, message: String(err.message), status: err.status ?? null,
                 api: err instanceof Anthropic.APIError };
}
console.log(JSON.stringify(seen));
"""

# The agent loop of cassettes/make_examples.py, in JavaScript: ask, answer each tool_use with the
# tool's output (input.result) as a Node app writes it, JSON.stringify, until the model stops asking.
# Prints the final messages and the tool_result contents it sent.
TOOL_LOOP = """
import Anthropic from '@anthropic-ai/sdk';
const { body, result } = JSON.parse(process.env.CASSETTE_INPUT);
const client = new Anthropic();
const messages = [...body.messages];
const finals = [], sent = [];
while (finals.length < 5) {
  const final = await client.messages.stream({ ...body, messages }).finalMessage();
  finals.push(final);
  if (final.stop_reason !== 'tool_use') break;
  const results = final.content.filter((block) => block.type === 'tool_use')
    .map((block) => ({ type: 'tool_result', tool_use_id: block.id, content: JSON.stringify(result) }));
  sent.push(...results.map((block) => block.content));
  messages.push({ role: 'assistant', content: final.content }, { role: 'user', content: results });
}
console.log(JSON.stringify({ finals, sent }));
"""

# One run of a test suite in session input.session: optionally resets the session first (the admin
# API, with fetch), then streams input.body input.times times; prints the reset's answer and the texts.
SESSION_RUN = """
import Anthropic from '@anthropic-ai/sdk';
const { body, session, times, reset } = JSON.parse(process.env.CASSETTE_INPUT);
const base = process.env.ANTHROPIC_BASE_URL;
const client = new Anthropic({ defaultHeaders: { 'x-cassette-session': session }, maxRetries: 0 });
const run = { reset: null, texts: [] };
if (reset) {
  const response = await fetch(`${base}/_cassette/reset?session=${encodeURIComponent(session)}`, { method: 'POST' });
  run.reset = await response.json();
}
for (let n = 0; n < times; n++) {
  const final = await client.messages.stream(body).finalMessage();
  run.texts.push(final.content[0].text);
}
console.log(JSON.stringify(run));
"""


def body_of(path: Path, index: int = 0) -> dict[str, Any]:
    data = recorder.load(path)[index].request.body.data  # type: ignore[union-attr]
    return {k: v for k, v in data.items() if k != "stream"}


def python_final(path: Path, *bodies: dict[str, Any]) -> list[dict[str, Any]]:
    """What the Python SDK's get_final_message() gives for each request, replaying `path`."""
    client = FakeAnthropic(path)
    finals = []
    for body in bodies:
        with client.messages.stream(**body) as stream:
            finals.append(stream.get_final_message().to_dict())
    return finals


def core(message: dict[str, Any]) -> dict[str, Any]:
    """What an app reads from a final message."""
    return {"content": [{k: v for k, v in block.items() if v is not None} for block in message["content"]],
            "stop_reason": message["stop_reason"], "usage": message["usage"]["output_tokens"], "id": message["id"]}


@pytest.mark.parametrize("api", ["stream", "create"])
def test_streamed_text_arrives_piece_by_piece_as_the_python_sdk_sees_it(node: Path, api: str) -> None:
    body = body_of(TEXT)
    with serve(TEXT) as url:
        seen = run_js(STREAM, url, {"body": body, "api": api})
    assert seen["error"] is None
    interaction = recorder.load(TEXT)[0]
    assert seen["types"] == [e.event for e in interaction.events if e.event != "ping"]
    (expected,) = python_final(TEXT, body)
    assert len(seen["pieces"]) > 1 and "".join(seen["pieces"]) == expected["content"][0]["text"]
    if api == "stream":
        assert core(seen["final"]) == core(expected)


def test_the_two_call_tool_loop_in_javascript(node: Path) -> None:
    first, second = body_of(TOOL_USE, 0), body_of(TOOL_USE, 1)
    recorded = second["messages"][-1]["content"][0]["content"]  # as the Python app wrote it: json.dumps
    transport = ReplayTransport(recorder.load(TOOL_USE))
    with serve(transport) as url:
        seen = run_js(TOOL_LOOP, url, {"body": first, "result": json.loads(recorded)})
    finals = seen["finals"]
    # Written differently (no spaces), the same JSON value: matched as such (issue 14, item 5).
    assert seen["sent"] == [json.dumps(json.loads(recorded), separators=(",", ":"))] and seen["sent"] != [recorded]
    assert [f["stop_reason"] for f in finals] == ["tool_use", "end_turn"]
    assert [core(f) for f in finals] == [core(f) for f in python_final(TOOL_USE, first, second)]
    assert transport.requests == 2


def test_529_twice_is_retried_by_the_ts_sdk_then_streams(node: Path) -> None:
    transport = ReplayTransport(recorder.load(TEXT), faults=["529x2"])
    with serve(transport) as url:
        seen = run_js(STREAM, url, {"body": body_of(TEXT), "api": "stream"})
    assert seen["error"] is None and seen["final"]["stop_reason"] == "end_turn"
    assert transport.requests == 3  # two 529s, then the recording


def test_a_drop_reaches_the_ts_app_as_terminated_after_the_first_events(node: Path) -> None:
    with serve(TEXT, faults=["drop@events=5"]) as url:
        seen = run_js(STREAM, url, {"body": body_of(TEXT), "api": "create"})
    assert seen["error"] == {"name": "TypeError", "message": "terminated", "status": None, "api": False}
    assert seen["types"][:2] == ["message_start", "content_block_start"] and "message_stop" not in seen["types"]
    assert seen["pieces"]  # some text came before the drop


def test_a_miss_is_a_404_not_found_error_naming_the_closest_request_and_the_server_goes_on(node: Path) -> None:
    asked = {**body_of(TEXT), "messages": [{"role": "user", "content": "In three sentences: why is grass green?"}]}
    with serve(TEXT) as url:
        miss = run_js(STREAM, url, {"body": asked, "api": "create"})
        hit = run_js(STREAM, url, {"body": body_of(TEXT), "api": "create"})
    assert miss["error"]["name"] == "NotFoundError" and miss["error"]["status"] == 404
    assert "why is the sky blue" in miss["error"]["message"]  # the closest recorded request is shown
    assert miss["types"] == [] and hit["error"] is None and hit["types"][-1] == "message_stop"


def test_runs_in_one_session_go_on_until_the_session_is_reset_and_sessions_do_not_share(node: Path,
                                                                                      twice: Path) -> None:
    """`twice` answers one request "first", then "second" (which then keeps answering)."""
    def ts_run(session: str, times: int = 2, *, reset: bool = False) -> dict[str, Any]:
        return run_js(SESSION_RUN, url, {"body": BODY, "session": session, "times": times, "reset": reset})

    with serve(twice) as url:
        assert ts_run("suite")["texts"] == ["first", "second"]
        assert ts_run("suite")["texts"] == ["second", "second"]  # a rerun goes on where the first run ended
        assert ts_run("suite", reset=True) == {"reset": {"reset": ["suite"]}, "texts": ["first", "second"]}
        # Parallel workers, each in its own session, in separate node processes at once.
        with ThreadPoolExecutor(4) as pool:
            runs = list(pool.map(ts_run, [f"worker-{n}" for n in range(4)]))
        assert [run["texts"] for run in runs] == [["first", "second"]] * 4
        assert ts_run("suite", 1)["texts"] == ["second"]  # untouched by the workers
        assert ts_run("default", 1)["texts"] == ["first"]  # nor the default session

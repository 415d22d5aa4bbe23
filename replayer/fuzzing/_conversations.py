"""`conversations()`: a responder that answers every request as it arrives, drawn for that request.

A `Conversation` holds a hypothesis `data` object (`st.data()`). Its clients (`client()`,
`async_client()`: real SDK clients) draw each response when the application's request
arrives, conditioned on what the request allows, as the API would:

- tool calls only to client tools the request offered, each input drawn from that tool's
  `input_schema` with hypothesis-jsonschema (objects get no properties the schema does not
  name unless it sets `additionalProperties`); `tool_choice` `auto` / `any` / `tool` / `none`
  and `disable_parallel_tool_use` honoured (a forced tool call comes with no text, as the API
  prefills it); server tool blocks (web search) only when `web_search` is offered;
- thinking (or redacted thinking) only when thinking is enabled, within `budget_tokens`;
- citations only of documents (with citations enabled) and search results the request carries,
  pointing at them by index and quoting them;
- a `max_tokens` stop whose output tokens are `max_tokens`; a `stop_sequence` stop only with
  one of the request's `stop_sequences`;
- multi-turn: the turn is the number of assistant messages in the request; from turn
  `max_turns - 1` on (counting from 0) the answer is final (no tool calls, unless tool_choice
  forces one). A request the API would reject for breaking the tool-use protocol (a `tool_use`
  without its `tool_result` right after) gets the API's 400 `invalid_request_error`, and so
  does a request past `max_requests` in one example (a loop that never ends).

Each answered request becomes a turn: the request, the stream (with the Message the SDK must
assemble, as `message_streams()` gives) and one interaction of `cassette`, which `save()`
writes so that `FakeAnthropic(saved)` replays the same conversation. `expected` lists the
final Message of each turn so far, in order: the oracle `cassette fuzz` hands to two-parameter targets.

>>> @given(conversations())
... def test_agent(conversation):
...     answer = my_agent(conversation.client(), "What's the weather in Paris?")
...     assert answer == conversation.expected[-1]["content"][-1]["text"]
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import anthropic
import httpx2
from hypothesis import currently_in_test_context
from hypothesis import strategies as st
from hypothesis.control import _current_build_context as _build_context
from hypothesis.errors import InvalidArgument, StopTest
from hypothesis.strategies import DataObject, SearchStrategy

import recorder
from recorder import Body, Cassette, End, Interaction, Payload, Request, Response

from .._chunking import Chunking
from .._timing import Clock, VirtualClock
from .._transport import ReplayTransport
from ._generated import SYNTHETIC, GeneratedStream, _Replayable, describe_cassette
from ._strategies import (
    _BLOBS,
    _JSON_STYLES,
    _SEARCH_CONTENTS,
    _Block,
    _cited_text_block,
    _output_tokens,
    _redacted_thinking_block,
    _server_tool_blocks,
    _text_block,
    _texts,
    _thinking_block,
    _tool_use_block,
    assemble,
)

_JSON_HEADERS = {"content-type": "application/json", "request-id": "req_generated"}
_ERROR_HEADERS = {**_JSON_HEADERS, "x-should-retry": "false"}
_TEXT_STOPS = ("end_turn", "max_tokens", "stop_sequence", "refusal")


@dataclass(frozen=True)
class _Options:
    max_turns: int
    max_tool_calls: int
    max_requests: int
    pings: bool
    unknown_events: bool
    texts: SearchStrategy[str]
    cuts: SearchStrategy[bytes]
    call: str

    def __repr__(self) -> str:
        return self.call


@dataclass(frozen=True)
class _Offer:
    """What a request allows the answer to hold."""

    model: str
    stream: bool
    turn: int
    tools: dict[str, dict[str, Any]]  # client tools: name -> input_schema
    web_search: bool
    choice: str  # auto, any, tool, none
    forced: str | None  # the tool tool_choice names
    parallel: bool
    thinking_budget: int | None
    max_tokens: int
    stop_sequences: tuple[str, ...]
    citable: tuple[dict[str, Any], ...]  # a citation per document / search result the answer may quote

    @classmethod
    def of(cls, body: dict[str, Any]) -> _Offer:
        tools: dict[str, dict[str, Any]] = {}
        web_search = False
        for tool in body.get("tools") or ():
            if str(tool.get("type", "")).startswith("web_search"):
                web_search = True
            elif "input_schema" in tool:
                tools[tool["name"]] = tool["input_schema"]
        choice = body.get("tool_choice") or {"type": "auto"}
        max_tokens = int(body.get("max_tokens") or 1)
        thinking = body.get("thinking") or {}
        budget = {"enabled": thinking.get("budget_tokens"), "adaptive": max_tokens}.get(thinking.get("type", ""))
        messages = body.get("messages") or []
        return cls(model=str(body.get("model") or "claude-haiku-4-5"), stream=bool(body.get("stream")),
                   turn=sum(m.get("role") == "assistant" for m in messages), tools=tools, web_search=web_search,
                   choice=choice.get("type", "auto"), forced=choice.get("name"),
                   parallel=not choice.get("disable_parallel_tool_use", False),
                   thinking_budget=int(budget) if budget else None, max_tokens=max_tokens,
                   stop_sequences=tuple(body.get("stop_sequences") or ()), citable=tuple(_citable(messages)))


def _citable(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One citation for each document with citations enabled and each search result, by API index."""
    out: list[dict[str, Any]] = []
    documents = results = 0

    def visit(block: Any) -> None:
        nonlocal documents, results
        if not isinstance(block, dict):
            return
        kind = block.get("type")
        if kind == "document":
            if (block.get("citations") or {}).get("enabled"):
                out.append(_document_citation(block, documents))
            documents += 1
        elif kind == "search_result":
            if (block.get("citations") or {}).get("enabled", True):
                texts = [b.get("text", "") for b in block.get("content") or () if isinstance(b, dict)]
                out.append({"type": "search_result_location", "cited_text": texts[0] if texts else "",
                            "source": block.get("source", ""), "title": block.get("title"),
                            "search_result_index": results, "start_block_index": 0, "end_block_index": 1})
            results += 1
        elif kind == "tool_result" and isinstance(block.get("content"), list):
            for inner in block["content"]:
                visit(inner)

    for message in messages:
        content = message.get("content")
        for block in content if isinstance(content, list) else ():
            visit(block)
    return out


def _document_citation(document: dict[str, Any], index: int) -> dict[str, Any]:
    source = document.get("source") or {}
    base = {"document_index": index, "document_title": document.get("title")}
    if source.get("type") == "text":
        data = str(source.get("data", ""))
        end = min(len(data), 40)
        return {"type": "char_location", "cited_text": data[:end], **base, "start_char_index": 0,
                "end_char_index": end}
    if source.get("type") == "content":
        blocks = source.get("content") if isinstance(source.get("content"), list) else []
        text = blocks[0].get("text", "") if blocks and isinstance(blocks[0], dict) else ""
        return {"type": "content_block_location", "cited_text": text, **base, "start_block_index": 0,
                "end_block_index": 1}
    return {"type": "page_location", "cited_text": "", **base, "start_page_number": 1, "end_page_number": 2}


def _protocol_error(body: dict[str, Any]) -> str | None:
    """The API's 400 message for a tool_use whose tool_result does not open the next message."""
    messages = body.get("messages") or []
    for n, message in enumerate(messages):
        content = message.get("content")
        if message.get("role") != "assistant" or not isinstance(content, list):
            continue
        ids = [b.get("id") for b in content if isinstance(b, dict) and b.get("type") == "tool_use"]
        if not ids or n + 1 >= len(messages):
            continue
        following = messages[n + 1].get("content")
        answered = set()
        for block in following if isinstance(following, list) else ():
            if not (isinstance(block, dict) and block.get("type") == "tool_result"):
                break
            answered.add(block.get("tool_use_id"))
        if missing := [i for i in ids if i not in answered]:
            return (f"messages.{n + 1}: `tool_use` ids were found without `tool_result` blocks immediately after: "
                    f"{', '.join(missing)}. Each `tool_use` block must have a corresponding `tool_result` block "
                    f"in the next message.")
    return None


def _error(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


def _closed(schema: Any) -> Any:
    """`schema` with `additionalProperties: false` wherever an object names its properties and says nothing."""
    if isinstance(schema, list):
        return [_closed(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _closed(v) for k, v in schema.items()}
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


@lru_cache(maxsize=256)
def _inputs(schema_json: str) -> SearchStrategy[Any]:
    """Tool inputs valid against the schema (cached: building a strategy from a schema is slow)."""
    from hypothesis_jsonschema import from_schema

    schema = json.loads(schema_json)
    if schema.get("type", "object") != "object":
        raise InvalidArgument(f"a tool input_schema must describe an object, got {schema_json}")
    return from_schema(_closed(schema))


def _tool_inputs(name: str, schema: dict[str, Any]) -> SearchStrategy[Any]:
    try:
        return _inputs(json.dumps(schema, sort_keys=True))
    except Exception as exc:
        raise InvalidArgument(f"cannot draw inputs for tool {name!r} from its input_schema: {exc}") from exc


@st.composite
def _answer(draw: Any, offer: _Offer, options: _Options) -> tuple[list[_Block], str, str | None, int | None]:
    """The blocks of one answer, its stop reason and stop sequence, and its output tokens (None: estimated)."""
    cuts, texts = options.cuts, options.texts
    forced = offer.choice in ("any", "tool") and bool(offer.tools)
    final = offer.turn >= options.max_turns - 1 and not forced
    blocks: list[_Block] = []
    if offer.thinking_budget and not forced and draw(st.booleans()):
        if draw(st.integers(0, 3)):
            thinking = draw(texts)[: 4 * (offer.thinking_budget - 1)]  # about four characters a token
            blocks += _thinking_block(thinking, draw(cuts), draw(_BLOBS))
        else:
            blocks += _redacted_thinking_block(draw(_BLOBS))
    if not forced:
        for _ in range(draw(st.integers(0, 2))):
            if offer.citable and draw(st.booleans()):
                citations = draw(st.lists(st.sampled_from(offer.citable), min_size=1, max_size=3))
                blocks += _cited_text_block(draw(texts), draw(cuts), citations, draw(st.binary(max_size=3)), {})
            else:
                blocks += _text_block(draw(texts), draw(cuts))
        if offer.web_search and offer.choice != "none" and not final and draw(st.booleans()):
            blocks += _server_tool_blocks(draw(texts), draw(_JSON_STYLES), draw(cuts), {},
                                          draw(st.sampled_from(_SEARCH_CONTENTS)))
    names = [offer.forced] if offer.choice == "tool" and offer.forced in offer.tools else sorted(offer.tools)
    most = 0 if final or offer.choice == "none" or not names else options.max_tool_calls if offer.parallel else 1
    for _ in range(draw(st.integers(1 if forced else 0, max(most, 1 if forced else 0)))):
        name = draw(st.sampled_from(names))
        value = draw(_tool_inputs(name, offer.tools[name]))
        blocks += _tool_use_block(name, value, draw(_JSON_STYLES), draw(cuts))
    if _output_tokens(blocks) > offer.max_tokens:  # the answer runs out of tokens (in a tool call: dropped)
        return [b for b in blocks if b.kind != "tool_use"], "max_tokens", None, offer.max_tokens
    if any(b.kind == "tool_use" for b in blocks):
        return blocks, "tool_use", None, None
    stops = [s for s in _TEXT_STOPS if s != "stop_sequence" or offer.stop_sequences]
    stop = draw(st.sampled_from(stops))
    if stop == "max_tokens":
        return blocks, stop, None, offer.max_tokens
    return blocks, stop, draw(st.sampled_from(offer.stop_sequences)) if stop == "stop_sequence" else None, None


@dataclass(frozen=True)
class Turn:
    """One answered request: what the application sent, the stream it got (None: an API error), the interaction."""

    request: dict[str, Any]
    stream: GeneratedStream | None
    interaction: Interaction

    @property
    def final_message(self) -> dict[str, Any] | None:
        """The Message the SDK must assemble from this turn's answer (None for an API error)."""
        return self.stream.final_message if self.stream is not None else None


class Conversation(_Replayable):
    """Answers every request its clients send, drawing each answer from hypothesis for that request.

    `turns` and `expected` grow as requests arrive; `cassette` holds one interaction per turn,
    with the request, so that the saved cassette replays the same conversation.
    """

    faults = ()

    def __init__(self, data: DataObject, options: _Options, chunking: Chunking | None = None) -> None:
        self.data = data
        self.options = options
        self.chunking = chunking
        self.turns: list[Turn] = []
        self.expected: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._context = _build_context.value  # built inside the test: its thread's context

    def __repr__(self) -> str:
        return f"<Conversation: {len(self.turns)} turns, chunking {self.chunking}>"

    def answer(self, request: httpx2.Request) -> Interaction:
        """Draw the answer to `request` (a Messages API call), record it as a turn, return its interaction."""
        body = json.loads(request.content or b"{}")
        with self._lock:
            n = len(self.turns)
            recorded = Request(request.method, str(request.url), {}, Payload(body))
            path = request.url.path.rstrip("/")
            if path.endswith("/messages/count_tokens"):
                return self._reply(n, recorded, body, 200, {"input_tokens": 25})
            if not path.endswith("/messages"):
                return self._reply(n, recorded, body, 404, _error("not_found_error", (
                    f"conversations() answers the Messages API (POST /v1/messages and count_tokens), "
                    f"not {request.method} {request.url.path}")))
            problem = _protocol_error(body)
            if n >= self.options.max_requests:
                problem = (f"conversations(): the application sent more than {self.options.max_requests} requests "
                           f"in one example; does its loop end? (raise max_requests if it should go on)")
            if problem is not None:
                return self._reject(n, recorded, body, problem)
            offer = _Offer.of(body)
            try:
                blocks, stop, sequence, tokens = self._draw(_answer(offer, self.options), f"turn {n}")
                events, final = self._draw(_assembled(blocks, stop, sequence, tokens, offer, self.options,
                                                      f"c{n:02d}"), f"turn {n} events")
            except StopTest:
                if currently_in_test_context():
                    raise
                # Behind serve(), hypothesis gave up on this example (too many draws) in the server's
                # thread: answer something the SDK will not retry; hypothesis discards the example.
                return self._reject(n, recorded, body, "hypothesis abandoned this example")
            stream = GeneratedStream(tuple(events), final)
            interaction = _interaction(n, recorded, stream, offer.stream)
            self.turns.append(Turn(body, stream, interaction))
            self.expected.append(final)
            return interaction

    def _reject(self, n: int, recorded: Request, body: dict[str, Any], message: str) -> Interaction:
        """A 400 `invalid_request_error`, as the API sends: the SDK raises BadRequestError and does not retry."""
        return self._reply(n, recorded, body, 400, _error("invalid_request_error", message))

    def _reply(self, n: int, recorded: Request, body: dict[str, Any], status: int, payload: Any) -> Interaction:
        """A JSON answer that is not a Message, recorded as a turn (so that the saved cassette replays it)."""
        headers = _JSON_HEADERS if status < 400 else _ERROR_HEADERS
        interaction = Interaction(n, recorded, Response(0.1, status, headers), body=Body(0.1, Payload(payload)),
                                  end=End(0.1, "complete"))
        self.turns.append(Turn(body, None, interaction))
        return interaction

    def _draw(self, strategy: SearchStrategy[Any], label: str) -> Any:
        if currently_in_test_context() or self._context is None:
            return self.data.draw(strategy, label=label)  # noted: hypothesis shows each turn on failure
        # Another thread (a conversation behind serve()): hypothesis keeps the test's build context per
        # thread, so lend it the test's; the draw goes to the same choice sequence as any other.
        with _build_context.with_value(self._context):
            return self.data.conjecture_data.draw(strategy)

    @property
    def cassette(self) -> Cassette:  # type: ignore[override]
        """One interaction per turn so far, each with the request it answered."""
        return Cassette(tuple(t.interaction for t in self.turns),
                        {"cassette": recorder.FORMAT_VERSION, "synthetic": SYNTHETIC})

    def transport(self, *, clock: Clock | None = None, chunking: Chunking | None = None) -> _Responder:
        """An httpx2 transport (sync and async) that answers from this conversation (`chunking`: its own)."""
        return _Responder(self, clock if clock is not None else VirtualClock(),
                          chunking if chunking is not None else self.chunking)

    def client(self, *, clock: Clock | None = None, **kwargs: Any) -> anthropic.Anthropic:
        """A real `anthropic.Anthropic` answered by this conversation (a FakeAnthropic of it)."""
        from .._client import FakeAnthropic

        return FakeAnthropic(self, clock=clock, **kwargs)

    def async_client(self, *, clock: Clock | None = None, **kwargs: Any) -> anthropic.AsyncAnthropic:
        """`client()` for AsyncAnthropic."""
        from .._client import FakeAsyncAnthropic

        return FakeAsyncAnthropic(self, clock=clock, **kwargs)

    def describe(self, width: int | None = 160) -> list[str]:
        """Each turn: what the request offered, then its answer event by event."""
        lines = describe_cassette(self.cassette, width, requests=True)
        if self.chunking is not None and self.chunking != Chunking():
            lines.append(f"(bytes cut: {self.chunking})")
        return lines


@st.composite
def _assembled(draw: Any, blocks: list[_Block], stop: str, sequence: str | None, tokens: int | None, offer: _Offer,
               options: _Options, tag: str) -> tuple[list[tuple[str, Any]], dict[str, Any]]:
    return assemble(draw, blocks, stop, sequence, pings=options.pings, unknown_events=options.unknown_events,
                    model=offer.model, tag=tag, output_tokens=tokens)


def _interaction(n: int, request: Request, stream: GeneratedStream, streamed: bool) -> Interaction:
    if streamed:
        played = stream.cassette.interactions[0]
        return Interaction(n, request, played.response, played.events, end=played.end)
    return Interaction(n, request, Response(0.3, 200, _JSON_HEADERS), body=Body(0.3, Payload(stream.final_message)),
                       end=End(0.3, "complete"))


class _Responder(httpx2.BaseTransport, httpx2.AsyncBaseTransport):
    """Answers each request with a turn drawn for it, played by a ReplayTransport (chunking, virtual clock)."""

    def __init__(self, conversation: Conversation, clock: Clock, chunking: Chunking | None) -> None:
        self.conversation = conversation
        self.clock = clock
        self.chunking = chunking

    @property
    def cassette(self) -> Cassette:
        """The conversation so far (what a server's journal names the answers after)."""
        return self.conversation.cassette

    def _transport(self, request: httpx2.Request) -> ReplayTransport:
        interaction = self.conversation.answer(request)
        one = Cassette((Interaction(0, None, interaction.response, interaction.events, interaction.body,
                                    interaction.end),))
        return ReplayTransport(one, clock=self.clock, chunking=self.chunking)

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        request.read()
        return self._transport(request).handle_request(request)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        await request.aread()
        return await self._transport(request).handle_async_request(request)


def conversations(*, max_turns: int = 4, max_tool_calls: int = 3, max_requests: int = 32, max_deltas: int = 6,
                  pings: bool = True, unknown_events: bool = True, texts: SearchStrategy[str] | None = None,
                  chunkings: SearchStrategy[Chunking] | None = None) -> SearchStrategy[Conversation]:
    """Conversations that answer whatever the application asks, as the API could (see the module docstring).

    From turn `max_turns - 1` on, answers are final (no tool calls, unless tool_choice forces
    one); at most `max_tool_calls` parallel tool calls per answer; more than `max_requests`
    requests in one example get a 400 saying so (an agent loop that never ends). `pings`,
    `unknown_events`, `texts` and `max_deltas` mean what they mean for `message_streams()`;
    `chunkings`, when given, draws how every answer's bytes are cut.

    >>> @given(conversations(chunkings=chunkings()))
    ... def test_agent(conversation):
    ...     run_agent(conversation.client())
    """
    if max_turns < 1 or max_tool_calls < 1 or max_requests < 1 or max_deltas < 1:
        raise InvalidArgument(f"max_turns, max_tool_calls, max_requests and max_deltas must be >= 1, got "
                              f"{max_turns}, {max_tool_calls}, {max_requests}, {max_deltas}")
    given = {"max_turns": max_turns, "max_tool_calls": max_tool_calls, "max_requests": max_requests,
             "max_deltas": max_deltas, "pings": pings, "unknown_events": unknown_events, "texts": texts,
             "chunkings": chunkings}
    options = _Options(max_turns, max_tool_calls, max_requests, pings, unknown_events,
                       texts if texts is not None else _texts(), st.binary(max_size=2 * (max_deltas - 1)),
                       "conversations(" + ", ".join(f"{k}={v!r}" for k, v in given.items()) + ")")
    return st.builds(Conversation, st.data(), st.just(options), chunkings if chunkings is not None else st.none())


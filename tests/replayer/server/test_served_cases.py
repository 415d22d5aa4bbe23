"""One `serve()` for many fuzzed cases: `Served.use(case)`, and the same case arguments as FakeAnthropic and replay().

Real sockets on 127.0.0.1, real SDK clients pointed at them with `base_url`.
"""

from __future__ import annotations

from typing import Any

import anthropic
import pytest
from hypothesis import HealthCheck, given, settings

from replayer import Chunking, FakeAnthropic, Served, replay, serve
from replayer.strategies import Conversation, GeneratedStream, chunkings, conversations, message_streams
from tests.helpers import CASSETTES

REQUEST: dict[str, Any] = {"model": "claude-haiku-4-5", "max_tokens": 1024,
                           "messages": [{"role": "user", "content": "hi"}]}
TOOL = {"name": "lookup", "description": "d",
        "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}
FEW = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))


def final(client: anthropic.Anthropic, **request: Any) -> dict[str, Any]:
    with client.messages.stream(**{**REQUEST, **request}) as stream:
        return stream.get_final_message().to_dict()


def test_one_server_answers_each_example_from_the_case_swapped_in() -> None:
    with serve(CASSETTES / "text.jsonl") as server, anthropic.Anthropic(api_key="-", base_url=server,
                                                                        max_retries=0) as client:
        assert isinstance(server, Served) and isinstance(server, str) and server.url.startswith("http://127.0.0.1:")

        @FEW
        @given(message_streams(chunkings=chunkings()))
        def streams(stream: GeneratedStream) -> None:
            transport = server.use(stream)
            assert transport.chunking == stream.chunking  # the case's own chunking, unless told otherwise
            assert final(client) == stream.final_message

        @FEW
        @given(conversations(chunkings=chunkings()))
        def answered_live(conversation: Conversation) -> None:
            server.use(conversation)  # drawn in the server's thread, as each request arrives
            assert final(client, tools=[TOOL]) == conversation.expected[-1]
            assert len(conversation.turns) == 1

        streams()
        answered_live()


@settings(FEW, max_examples=3)
@given(message_streams())
def test_serve_takes_a_case_and_the_chunking_argument(stream: GeneratedStream) -> None:
    with serve(stream, chunking=Chunking("size", size=3)) as url:
        client = anthropic.Anthropic(api_key="-", base_url=url, max_retries=0)
        assert final(client) == final(client) == stream.final_message  # not once: answered again
        assert url.app.transport.chunking == Chunking("size", size=3)


def test_replay_and_fake_clients_take_the_same_cases() -> None:
    @FEW
    @given(message_streams(chunkings=chunkings()), conversations())
    def check(stream: GeneratedStream, conversation: Conversation) -> None:
        with replay(stream) as transport:  # the app builds its own client
            assert final(anthropic.Anthropic(api_key="-")) == stream.final_message
        assert transport.chunking == stream.chunking
        assert final(FakeAnthropic(stream)) == stream.final_message
        with replay(conversation):
            assert final(anthropic.Anthropic(api_key="-"), tools=[TOOL]) == conversation.expected[-1]
        assert final(FakeAnthropic(conversation, chunking=Chunking("utf8"))) == conversation.expected[-1]

    check()


def test_faults_cannot_be_put_on_a_conversation() -> None:
    @settings(FEW, max_examples=1)
    @given(conversations())
    def check(conversation: Conversation) -> None:
        with pytest.raises(TypeError, match="faults cannot be injected into a conversation"):
            FakeAnthropic(conversation, faults=["529"])

    check()

"""Agent loops for `cassette fuzz --conversations`: one correct, one with the bug people really write.

Each target takes an anthropic client and the oracle (`expected`: the final Message of each
answer so far, in order). The loop sends the question with two tools, runs every tool Claude
calls, sends the results back and stops at the first answer that calls no tool.

    cassette fuzz examples.agents:check_first_tool_only --conversations -n 200 --seed 1

- check_agent            the correct loop; its answer must be the text of the last Message
- check_first_tool_only  answers only the first tool call of a turn: the API rejects the next
                         request (400) as soon as Claude calls two tools at once
"""

from __future__ import annotations

from typing import Any

import anthropic

TOOLS: list[dict[str, Any]] = [
    {"name": "get_weather", "description": "Current weather for a city.",
     "input_schema": {"type": "object", "properties": {
         "city": {"type": "string", "minLength": 1},
         "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["city"]}},
    {"name": "convert", "description": "Convert an amount between currencies.",
     "input_schema": {"type": "object", "properties": {
         "amount": {"type": "number"}, "currencies": {"type": "array", "items": {"type": "string"},
                                                      "minItems": 2, "maxItems": 2}},
                      "required": ["amount", "currencies"]}},
]
QUESTION = "What is the weather in Paris, and what is 20 EUR in JPY?"


def run_tool(name: str, tool_input: dict[str, Any]) -> str:
    """The tools themselves: what the application would compute."""
    if name == "get_weather":
        return f"{tool_input['city']}: 18 degrees {tool_input.get('unit', 'celsius')}, sunny"
    amount, (source, target) = tool_input["amount"], tool_input["currencies"]
    return f"{amount} {source} = {amount * 160} {target}"


def agent(client: anthropic.Anthropic, question: str = QUESTION, *, first_tool_only: bool = False,
          max_steps: int = 10) -> str:
    """Ask `question`, run the tools Claude calls until it answers; return the answer's text."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": question}]
    for _ in range(max_steps):
        with client.messages.stream(model="claude-sonnet-4-6", max_tokens=1024, tools=TOOLS,
                                    messages=messages) as stream:
            message = stream.get_final_message()
        messages.append({"role": "assistant", "content": [block.to_dict() for block in message.content]})
        calls = [block for block in message.content if block.type == "tool_use"]
        if message.stop_reason != "tool_use" or not calls:
            return "".join(block.text for block in message.content if block.type == "text")
        if first_tool_only:
            calls = calls[:1]  # the bug: "Claude calls one tool at a time"
        messages.append({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": call.id, "content": run_tool(call.name, call.input)}
            for call in calls]})
    raise RuntimeError(f"no answer after {max_steps} steps")


def check_agent(client: anthropic.Anthropic, expected: list[dict[str, Any]]) -> None:
    """The correct loop, checked against the oracle: its answer is the text of the last Message."""
    answer = agent(client)
    assert answer == "".join(b["text"] for b in expected[-1]["content"] if b["type"] == "text")


def check_first_tool_only(client: anthropic.Anthropic, expected: list[dict[str, Any]]) -> None:
    """The same loop with the planted bug."""
    answer = agent(client, first_tool_only=True)
    assert answer == "".join(b["text"] for b in expected[-1]["content"] if b["type"] == "text")

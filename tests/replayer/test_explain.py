"""Miss explanations (`replayer._explain`) and the canonical body they compare (`replayer._match`)."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st
from vcr.request import Request as VcrRequest

from replayer._explain import MAX_DIFF_LINES, Fingerprint, diff_lines, lines_of, shortlist, sketch
from replayer._match import JSON_STRING, canonical_body


def tool_result(content: str) -> str:
    return json.dumps({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "t1", "content": content},
        {"type": "tool_result", "tool_use_id": "t2", "content": [{"type": "text", "text": content}]}]}]})


def test_json_valued_strings_compare_by_value() -> None:
    python = tool_result(json.dumps({"temperature": 18, "unit": "celsius"}))
    node = tool_result(json.dumps({"unit": "celsius", "temperature": 18}, separators=(",", ":")))
    assert canonical_body(python) == canonical_body(node)
    assert canonical_body(python, json_strings=False) != canonical_body(node, json_strings=False)
    assert canonical_body(python) != canonical_body(tool_result(json.dumps({"temperature": 19, "unit": "celsius"})))


def test_a_json_string_never_equals_a_real_object_and_other_strings_stay() -> None:
    as_string = json.dumps({"messages": [{"role": "user", "content": '{"a": 1}'}]})
    as_object = json.dumps({"messages": [{"role": "user", "content": {"a": 1}}]})
    assert canonical_body(as_string) != canonical_body(as_object)
    assert JSON_STRING in canonical_body(as_string).decode()
    braces = json.dumps({"messages": [{"role": "user", "content": "{not json, just braces}"}]})
    assert json.loads(canonical_body(braces))["messages"][0]["content"] == "{not json, just braces}"
    assert canonical_body("[" * 100_000) == ("[" * 100_000).encode()  # too deep: compared as text


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(alphabet=',"{}[]:\\ab'),
                    lambda children: st.lists(children) | st.dictionaries(st.text(alphabet=',"{}ab'), children)))
def test_lines_are_cut_only_between_members(value: object) -> None:
    """Every line holds whole strings: no JSON string is ever split across lines."""
    body = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    for line in lines_of(body):
        unescaped = line.replace("\\\\", "").replace('\\"', "")
        assert unescaped.count('"') % 2 == 0, line


def test_a_diff_keeps_every_count_but_a_bounded_number_of_lines() -> None:
    recorded = [f'"k{n}":{n}' for n in range(100_000)]
    incoming = [f'"k{n}":{n + 1}' for n in range(100_000)]
    diff = diff_lines(recorded, incoming)
    assert diff.changed == 200_000
    assert sum(len(h) for h in diff.hunks) <= MAX_DIFF_LINES
    assert diff.render().endswith(f"… and {200_000 - MAX_DIFF_LINES} more differing lines")


def test_one_differing_line_is_shown_with_its_context() -> None:
    recorded = ["{", '"a":1', '"b":2', '"c":3', "}"]
    diff = diff_lines(recorded, ["{", '"a":1', '"b":20', '"c":3', "}"])
    assert diff.changed == 2
    assert diff.render().splitlines() == ["  @@", '   "a":1', '  -"b":2', '  +"b":20', '   "c":3']


def test_the_shortlist_puts_the_most_alike_first() -> None:
    def request(messages: list[str]) -> VcrRequest:
        body = canonical_body(json.dumps({"messages": [{"role": "user", "content": m} for m in messages]}))
        return VcrRequest("POST", "http://x/v1/messages", body, {})

    recorded = [Fingerprint.of(request([f"other {n}" for n in range(30)])),
                Fingerprint.of(request([f"turn {n}" for n in range(30)])),
                Fingerprint.of(request([f"turn {n}" for n in range(5)]))]
    incoming = Fingerprint("POST", "/v1/messages", sketch(lines_of(request([f"turn {n}" for n in range(29)]).body)))
    assert shortlist(incoming, recorded, n=2) == [1, 2]

"""replayer.analysis._plot: timelines and latency plots render to valid PNG/SVG of the expected size, and the `plot` command."""

from __future__ import annotations

import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

import recorder
from recorder import Body, Cassette, End, ErrorInfo, Event, Interaction, Payload, Request, Response
from replayer.analysis._plot import plot_latency, plot_timeline
from replayer.analysis._stats import AnalysisError, stats
from replayer.cli._analysis import plot_command
from replayer.fuzzing._synthetic import error_event, text_message, thinking_message, tool_use_message
from tests.helpers import ROOT

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
REQUEST = Request("POST", "https://api.anthropic.com/v1/messages", {}, Payload({"model": "claude-haiku-4-5"}))
SSE = {"content-type": "text/event-stream"}


def paced(events: list[tuple[str, dict]], *, first: float = 0.5, step: float = 0.03) -> tuple[Event, ...]:
    return tuple(Event(first + i * step + (0.2 if i >= 5 else 0), name, Payload(data))
                 for i, (name, data) in enumerate(events))


def streamed(id: int, events: list[tuple[str, dict]], end: End | None) -> Interaction:
    return Interaction(id, REQUEST, Response(0.01, 200, SSE), paced(events), None, end)


def session() -> Cassette:
    """One interaction of each shape the timeline must draw."""
    tool = tool_use_message("get_weather", {"city": "Paris"}, preamble="Let me look.")
    text = text_message("The sky is blue because of Rayleigh scattering of sunlight.")
    think = thinking_message("Six times seven is forty-two.", "It is 42.")
    broken = text_message("This answer never finishes.")[:6]
    body = {"id": "m", "type": "message", "role": "assistant", "model": "claude-haiku-4-5", "stop_reason": "end_turn",
            "content": [{"type": "text", "text": "plain"}], "usage": {"input_tokens": 1, "output_tokens": 2}}
    return Cassette((
        streamed(0, text, End(1.8, "complete")),
        streamed(1, tool, End(1.5, "complete")),
        streamed(2, think, End(2.0, "complete")),
        streamed(3, broken, End(0.9, "disconnected", ErrorInfo("httpx2.RemoteProtocolError", "peer closed"))),
        streamed(4, [*broken, error_event()], End(0.95, "error_event")),
        streamed(5, broken, End(0.875, "truncated")),
        streamed(6, broken, None),
        Interaction(7, REQUEST, Response(0.4, 200, {"content-type": "application/json"}), (),
                    Body(0.6, Payload(body)), End(0.6, "complete")),
    ), path="session.jsonl")


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    length, kind = struct.unpack(">I4s", data[8:16])
    assert (length, kind) == (13, b"IHDR")
    return struct.unpack(">II", data[16:24])


def svg_root(path: Path) -> ET.Element:
    root = ET.parse(path).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return root


@pytest.mark.parametrize("index", range(8))
def test_timeline_png_of_every_shape(tmp_path: Path, index: int) -> None:
    out = plot_timeline(session(), tmp_path / f"timeline-{index}.png", interaction=index)
    assert out == tmp_path / f"timeline-{index}.png"
    assert png_size(out) == (1000, 500)


def test_timeline_svg(tmp_path: Path) -> None:
    root = svg_root(plot_timeline(session(), tmp_path / "t.svg", interaction=3))
    assert (root.get("width"), root.get("height")) == ("720pt", "360pt")  # 10 x 5 inches
    text = (tmp_path / "t.svg").read_text()
    assert "disconnected" in text and "TTFT" in text


def test_svg_is_reproducible(tmp_path: Path) -> None:
    a = plot_timeline(session(), tmp_path / "a.svg", interaction=1).read_bytes()
    b = plot_timeline(session(), tmp_path / "b.svg", interaction=1).read_bytes()
    assert a == b


def test_timeline_from_a_path(tmp_path: Path) -> None:
    recorder.save(session(), tmp_path / "s.jsonl")
    assert png_size(plot_timeline(tmp_path / "s.jsonl", tmp_path / "out" / "t.png", interaction=-1)) == (1000, 500)


def test_timeline_errors(tmp_path: Path) -> None:
    with pytest.raises(AnalysisError, match="no interaction 8; it has 8"):
        plot_timeline(session(), tmp_path / "t.png", interaction=8)
    with pytest.raises(AnalysisError, match=r"\.png, \.svg"):
        plot_timeline(session(), tmp_path / "t.gif")
    assert not (tmp_path / "t.gif").exists()


def test_latency_png_and_svg(tmp_path: Path) -> None:
    recorder.save(session(), tmp_path / "a.jsonl")
    recorder.save(Cassette(session().interactions[:3]), tmp_path / "b.jsonl")
    assert png_size(plot_latency(tmp_path, tmp_path / "latency.png")) == (1000, 500)
    svg_root(plot_latency([tmp_path / "a.jsonl", tmp_path / "b.jsonl"], tmp_path / "latency.svg"))
    assert png_size(plot_latency(stats(tmp_path), tmp_path / "from-stats.png")) == (1000, 500)
    with pytest.raises(AnalysisError, match="no interactions"):
        plot_latency(Cassette(()), tmp_path / "empty.png")


def test_importing_the_module_does_not_import_matplotlib() -> None:
    code = "import sys, replayer.analysis._plot, replayer.cli._analysis; assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# --- the `plot` command -------------------------------------------------------------------


def invoke(*args: str) -> Result:
    group = click.Group("cassette")
    group.add_command(plot_command)
    return CliRunner().invoke(group, ["plot", *args])


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    recorder.save(session(), tmp_path / "a.jsonl")
    recorder.save(Cassette(session().interactions[:2]), tmp_path / "b.jsonl")
    return tmp_path


def test_command_timeline(saved: Path) -> None:
    result = invoke(str(saved / "a.jsonl"), "-o", str(saved / "t.png"), "--interaction", "2")
    assert result.exit_code == 0, result.output
    assert result.output == f"wrote {saved / 't.png'}\n"
    assert png_size(saved / "t.png") == (1000, 500)


@pytest.mark.parametrize("args", [["a.jsonl", "b.jsonl"], ["."], ["a.jsonl", "--latency"]])
def test_command_latency(saved: Path, args: list[str]) -> None:
    result = invoke(*[str(saved / a) if not a.startswith("-") else a for a in args], "-o", str(saved / "l.svg"))
    assert result.exit_code == 0, result.output
    assert "Latency of" in (saved / "l.svg").read_text()


@pytest.mark.parametrize("args, message", [
    (["a.jsonl", "-o", "t.gif"], "cannot tell the image format"),
    (["missing.jsonl", "-o", "t.png"], "no such cassette"),
    (["a.jsonl", "-o", "t.png", "--interaction", "9"], "no interaction 9"),
    (["a.jsonl", "b.jsonl", "-o", "t.png", "--interaction", "1"], "does not apply to a latency plot"),
])
def test_command_bad_input(saved: Path, args: list[str], message: str) -> None:
    result = invoke(*[str(saved / a) if a.endswith((".jsonl", ".gif", ".png")) else a for a in args])
    assert result.exit_code == 2
    assert result.output.startswith("Error: ") and message in result.output and result.output.count("\n") == 1

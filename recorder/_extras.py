"""Optional features and the extras that install them: a missing one is one line naming the extra.

The base install is what replay, recording, faults, fuzzing and the pytest plugin need; the
servers (`cassette serve`, `cassette record`, `replayer.serve`, `recorder.proxy`) need the
`server` extra, plots (`cassette plot`, `replayer.plot_timeline`) the `plot` extra.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

# extra -> the top-level modules it installs (and this project imports)
EXTRAS: dict[str, tuple[str, ...]] = {
    "plot": ("matplotlib",),
    "server": ("starlette", "uvicorn"),
}


class MissingExtraError(ModuleNotFoundError):
    """An optional feature was used without its extra: says which `pip install` brings it."""

    def __init__(self, module: str, extra: str, *, feature: str = "this feature") -> None:
        self.module, self.extra, self.feature = module, extra, feature
        super().__init__(self.reword(feature), name=module)

    def reword(self, feature: str) -> str:
        """The one-line message, naming `feature` as what needs the extra (the CLI names its verb)."""
        return f"{feature} needs {self.module}: pip install 'claude-cassette[{self.extra}]'"


@contextmanager
def extra(name: str, *, feature: str) -> Iterator[None]:
    """Within the block, a missing module of extra `name` raises MissingExtraError instead.

        with extra("plot", feature="replayer.plot_timeline"):
            from matplotlib.figure import Figure
    """
    try:
        yield
    except ModuleNotFoundError as exc:
        top = (exc.name or "").partition(".")[0]
        if isinstance(exc, MissingExtraError) or top not in EXTRAS[name]:
            raise
        raise MissingExtraError(top, name, feature=feature) from None

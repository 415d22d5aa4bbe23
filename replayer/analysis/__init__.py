"""Timing analysis of recorded streams: statistics, plots and recording diffs.

`_stats` (TTFB, TTFT, gaps, tokens/s), `_plot` (timelines and latency distributions; matplotlib
is imported on first use), `_diff` (what differs between two recordings), and `_failure_modes`
(the generator of docs/failure-modes.md: every fault run through the real SDK).
"""

from ._diff import Diff, Difference, diff
from ._plot import plot_latency, plot_timeline
from ._stats import InteractionStats, aggregate, stats

__all__ = ["Diff", "Difference", "InteractionStats", "aggregate", "diff", "plot_latency", "plot_timeline", "stats"]

"""Replay cassettes through the real anthropic SDK: instantly, at the recorded pace, or faster."""

import sys as _sys

# Before anything imports vcrpy: pytest-recording asks pytest to assertion-rewrite
# vcr.matchers, and warns (an error under -W error) if our pytest plugin, loaded first,
# already imported it. Registering here makes the import go through pytest's rewriter.
# Only under pytest: the CLI and applications need not pay for importing it.
if "pytest" in _sys.modules:
    _sys.modules["pytest"].register_assert_rewrite("vcr.matchers")

import lazy_loader as _lazy

# Each public name is imported on first use (the names and their modules are in __init__.pyi):
# `cassette check` or `import replayer.cli` need not pay for the SDK, vcrpy or hypothesis.
__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
__all__ = sorted(__all__, key=lambda n: (not n.isupper(), n[0].islower(), n))  # constants, classes, functions

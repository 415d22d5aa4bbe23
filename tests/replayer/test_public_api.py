"""Each package's public names: exported, sorted, documented."""

from __future__ import annotations

import inspect

import pytest

import recorder
import replayer
from replayer import faults
from replayer._match import canonical_body


@pytest.mark.parametrize("module", [recorder, replayer, faults], ids=lambda m: m.__name__)
def test_all_is_sorted_and_complete(module) -> None:  # type: ignore[no-untyped-def]
    names = module.__all__
    assert names == sorted(names, key=lambda n: (not n.isupper(), n[0].islower(), n))
    for name in names:
        assert hasattr(module, name), name


@pytest.mark.parametrize("module", [recorder, replayer, faults], ids=lambda m: m.__name__)
def test_public_callables_have_docstrings(module) -> None:  # type: ignore[no-untyped-def]
    for name in module.__all__:
        value = getattr(module, name)
        if inspect.isclass(value) or inspect.isfunction(value) or inspect.ismodule(value):
            assert inspect.getdoc(value), f"{module.__name__}.{name} has no docstring"


def test_canonical_body_ignores_dotted_keys_and_key_order() -> None:
    a = canonical_body('{"b": 1, "metadata": {"user_id": "u1", "keep": 2}, "a": [1, 2]}', ["metadata.user_id"])
    b = canonical_body('{"a": [1, 2], "metadata": {"keep": 2, "user_id": "u2"}, "b": 1}', ["metadata.user_id"])
    assert a == b
    assert canonical_body("not json", ["x"]) == b"not json"

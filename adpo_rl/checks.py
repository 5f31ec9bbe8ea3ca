"""Argument checks shared by the algorithm, the losses and the anchors: one wording for every bad choice."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def check_choice(name: str, value: Any, choices: Iterable[str]) -> None:
    """
    Raise ``ValueError`` naming the bad value and the valid ones when ``value`` is not one of ``choices``.

    :param name: what the value is (an argument name, or words such as ``"anchor mode"``)
    :param value: the value given
    :param choices: the valid values
    """
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"Unknown {name} {value!r}; valid choices are: {', '.join(map(repr, choices))}")

"""Argument checks shared by the algorithm, the losses and the anchors: one wording for every bad choice."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np


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


def check_positive(name: str, value: Any) -> None:
    """
    Raise ``ValueError`` naming the bad value unless ``value`` is a finite number > 0.

    :param name: what the value is (an argument name, or words such as ``"beta's schedule at ..."``)
    :param value: the value given
    """
    if not (isinstance(value, (int, float, np.number)) and not isinstance(value, bool) and 0 < value < np.inf):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


def check_probability(name: str, value: Any, hint: str = "") -> None:
    """
    Raise ``ValueError`` naming the bad value unless ``value`` is a number in ``[0, 1]``.

    :param name: what the value is (an argument name, or words such as ``"exploration_floor's schedule at ..."``)
    :param value: the value given
    :param hint: words appended after the range, e.g. ``" (0: off)"``
    """
    if not (isinstance(value, (int, float, np.number)) and not isinstance(value, bool) and 0 <= value <= 1):
        raise ValueError(f"{name} must be a probability in [0, 1]{hint}, got {value!r}")

"""The argument checks of the whole package, in one place (the lowest layer: it imports nothing
of decisiongym above it).

Every check raises ``ValueError`` whose message names the owner (an environment, an agent, a
function) and the value it got::

    {owner}: {name} must be {expected}, got {value!r}

``expected`` is worded from the bounds unless the caller words it. The checks of the native
vector environments (``num_envs``, ``render_mode``, seeds per replicate, a batch of discrete
actions) live here too.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection, Sequence
from typing import Any, TypeVar

import numpy as np
from gymnasium.utils import seeding

from decisiongym.arrays import IntArray

__all__ = [
    "check_bool",
    "check_choice",
    "check_discrete_actions",
    "check_float",
    "check_int",
    "check_num_envs",
    "check_optional_int",
    "check_render_mode",
    "check_tabular_spaces",
    "interval",
    "is_integer",
    "is_number",
    "param_error",
    "replicate_rngs",
]

T = TypeVar("T")


def is_integer(value: Any) -> bool:
    """True for a Python or NumPy integer; False for a bool (an int subclass) and the rest."""
    return not isinstance(value, bool) and isinstance(value, (int, np.integer))


def is_number(value: Any) -> bool:
    """True for a real number (Python's or NumPy's int and float); False for a bool, a string
    (even a numeric one: ``"0.1"``), None and the rest.

    >>> is_number(0.1), is_number(np.float32(2)), is_number("0.1"), is_number(True)
    (True, True, False, False)
    """
    return (isinstance(value, (numbers.Real, np.integer, np.floating))
            and not isinstance(value, (bool, np.bool_)))


def param_error(owner: str | None, name: str, value: Any, expected: str) -> ValueError:
    """``{owner}: {name} must be {expected}, got {value!r}`` (no prefix where owner is None)."""
    prefix = f"{owner}: " if owner else ""
    return ValueError(f"{prefix}{name} must be {expected}, got {value!r}")


def _int_wording(low: int, high: int | None) -> str:
    if high is not None:
        return f"an integer in [{low}, {high}]"
    if low == 1:
        return "a positive integer"
    if low == 0:
        return "a non-negative integer"
    return f"an integer >= {low}"


def check_int(owner: str | None, name: str, value: Any, *, low: int = 1,
              high: int | None = None, expected: str | None = None) -> int:
    """``value`` as an int, or ValueError unless it is an integer (not a bool) in
    ``[low, high]``.

    >>> check_int("run", "horizon", 0)
    Traceback (most recent call last):
    ...
    ValueError: run: horizon must be a positive integer, got 0
    """
    if not is_integer(value) or value < low or (high is not None and value > high):
        raise param_error(owner, name, value, expected or _int_wording(low, high))
    return int(value)


def check_optional_int(owner: str | None, name: str, value: Any, *, low: int = 1,
                       expected: str | None = None) -> int | None:
    """None, or ``value`` checked as by :func:`check_int` (the message adds "or None")."""
    if value is None:
        return None
    return check_int(owner, name, value, low=low,
                     expected=expected or f"{_int_wording(low, None)} or None")


def interval(low: float | None, high: float | None, low_open: bool = False,
             high_open: bool = False) -> str:
    """The interval in mathematical notation; a missing bound is an open infinite end.

    >>> interval(0.0, 1.0, low_open=True), interval(0, None)
    ('(0, 1]', '[0, inf)')
    """
    lo = "-inf" if low is None else f"{low:g}"
    hi = "inf" if high is None else f"{high:g}"
    left = "(" if low_open or low is None else "["
    right = ")" if high_open or high is None else "]"
    return f"{left}{lo}, {hi}{right}"


def check_float(owner: str | None, name: str, value: Any, *, low: float | None = None,
                high: float | None = None, low_open: bool = False, high_open: bool = False,
                finite: bool = True, expected: str | None = None) -> float:
    """``value`` as a float, or ValueError unless it is a real number (Python's or NumPy's int
    or float; not a bool, not a string such as ``"0.1"``) in the interval: a finite one unless
    ``finite=False`` (NaN never passes).

    >>> check_float("ucb1", "c", -1, low=0.0)
    Traceback (most recent call last):
    ...
    ValueError: ucb1: c must be a number in [0, inf), got -1
    >>> check_float("epsilon-greedy", "epsilon", "0.1", low=0.0, high=1.0)
    Traceback (most recent call last):
    ...
    ValueError: epsilon-greedy: epsilon must be a number in [0, 1], got '0.1'
    """
    wording = expected or f"a number in {interval(low, high, low_open, high_open)}"
    if not is_number(value):
        raise param_error(owner, name, value, wording)
    x = float(value)
    ok = math.isfinite(x) if finite else not math.isnan(x)
    if ok and low is not None:
        ok = x > low if low_open else x >= low
    if ok and high is not None:
        ok = x < high if high_open else x <= high
    if not ok:
        raise param_error(owner, name, value, wording)
    return x


def check_choice(owner: str | None, name: str, value: T, choices: Collection[Any], *,
                 expected: str | None = None) -> T:
    """``value`` unchanged, or ValueError unless it is one of ``choices`` (shown as given).

    >>> check_choice("run", "vectorization", "gpu", ("auto", "native"))
    Traceback (most recent call last):
    ...
    ValueError: run: vectorization must be one of ('auto', 'native'), got 'gpu'
    """
    try:
        ok = value in choices
    except TypeError:  # an unhashable value against a set or a dict
        ok = False
    if not ok:
        raise param_error(owner, name, value, expected or f"one of {choices}")
    return value


def check_bool(owner: str | None, name: str, value: Any) -> bool:
    """``value`` as a bool, or ValueError unless it is True or False (NumPy's bools too)."""
    if not isinstance(value, (bool, np.bool_)):
        raise param_error(owner, name, value, "True or False")
    return bool(value)


# ----- the native vector environments ------------------------------------------------------


def check_num_envs(name: str, num_envs: Any) -> int:
    """``num_envs`` as an int, or ValueError unless it is a positive integer."""
    return check_int(name, "num_envs", num_envs)


def check_render_mode(name: str, modes: Sequence[str], render_mode: str | None) -> str | None:
    """``render_mode`` unchanged, or ValueError unless it is None or one of ``modes``."""
    if render_mode is not None and render_mode not in modes:
        raise param_error(name, "render_mode", render_mode, f"one of {list(modes)} or None")
    return render_mode


def replicate_rngs(name: str, seed: int | Sequence[int] | None, num_envs: int,
                   current: Sequence[np.random.Generator]) -> list[np.random.Generator] | None:
    """The replicates' generators after ``reset(seed=seed)`` of a vector environment.

    An int seeds replicate i with ``seed + i`` (so it matches a single environment reset with
    that seed); a sequence gives every replicate its own seed. With ``seed=None`` the current
    generators go on (None is returned), or fresh unseeded ones are made if there are none yet.
    """
    if seed is None:
        if current:
            return None
        return [seeding.np_random(None)[0] for _ in range(num_envs)]
    seeds = ([int(seed) + i for i in range(num_envs)]
             if isinstance(seed, (int, np.integer)) else list(seed))
    if len(seeds) != num_envs:
        raise ValueError(f"{name}: got {len(seeds)} seeds for {num_envs} replicates")
    return [seeding.np_random(int(s))[0] for s in seeds]


def check_discrete_actions(name: str, actions: Any, num_envs: int,
                           n: int) -> IntArray:
    """A batch of ``num_envs`` actions in ``[0, n)`` as int64, or ValueError naming the bad one."""
    a = np.asarray(actions)
    if a.shape != (num_envs,):
        raise ValueError(f"{name}: actions must have shape ({num_envs},), "
                         f"got {a.shape}: {actions!r}")
    if not np.issubdtype(a.dtype, np.integer) or a.dtype == np.bool_:
        if np.issubdtype(a.dtype, np.floating) and np.isnan(a).any():
            raise ValueError(f"{name}: actions contain NaN: {actions!r}")
        raise ValueError(f"{name}: actions must be integers in [0, {n}), "
                         f"got dtype {a.dtype}: {actions!r}")
    if a.min() < 0 or a.max() >= n:
        bad = int(np.flatnonzero((a < 0) | (a >= n))[0])
        raise ValueError(f"{name}: actions[{bad}] = {int(a[bad])} is out of range; "
                         f"expected integers in [0, {n})")
    return a.astype(np.int64, copy=False)


def check_tabular_spaces(owner: str, observation_space: Any, action_space: Any,
                         what: str = "a tabular env") -> None:
    """ValueError naming ``owner`` unless both spaces are ``Discrete`` (states and actions
    are table indices)."""
    from gymnasium import spaces

    if not isinstance(observation_space, spaces.Discrete) \
            or not isinstance(action_space, spaces.Discrete):
        raise ValueError(f"{owner}: needs {what} (Discrete observation and action spaces), got "
                         f"observation space {observation_space!r} and action space "
                         f"{action_space!r}")

"""Checks shared by every native vector environment; each message names the environment."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium.utils import seeding
from numpy.typing import NDArray


def check_num_envs(name: str, num_envs: Any) -> int:
    """``num_envs`` as an int, or ValueError unless it is a positive integer."""
    if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) \
            or num_envs < 1:
        raise ValueError(f"{name}: num_envs must be a positive integer, got {num_envs!r}")
    return int(num_envs)


def check_render_mode(name: str, modes: Sequence[str], render_mode: str | None) -> str | None:
    """``render_mode`` unchanged, or ValueError unless it is None or one of ``modes``."""
    if render_mode is not None and render_mode not in modes:
        raise ValueError(f"{name}: render_mode must be one of {list(modes)} or None, "
                         f"got {render_mode!r}")
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
                           n: int) -> NDArray[np.int64]:
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

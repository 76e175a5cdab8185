"""LindbladExplorer's Wigner panel: its data is nephlab.quantum.wigner of the solver's state at the
slider's time (values), it follows the slider, it is computed only once shown, and its GIF export is
a valid multi-frame animation."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import nephlab
from nephlab.quantum import wigner
from nephlab.tasks import _models
from nephlab.widgets import LindbladExplorer
from nephlab.widgets.lindblad import wigner_grid

PARAMS = dict(model="oscillator", n=8, F=0.6, gamma=0.4, kerr=0.3, t_max=3.0, n_times=16, chunk=4)


@pytest.fixture(scope="module")
def explorer():
    ex = LindbladExplorer(**PARAMS)
    ex.run().wait()
    return ex


def test_wigner_data_is_the_wigner_function_of_the_solvers_state(explorer):
    ex = explorer
    p = ex.task_params()
    m = _models.build(p)
    res = nephlab.mesolve(m.H, m.rho0, np.linspace(0.0, 3.0, 16), m.c_ops(p["gamma"], p["nth"]))
    for i in (0, 7, 15):
        x, W = ex.wigner(i)
        np.testing.assert_array_equal(x, wigner_grid(8))
        ref = wigner(np.asarray(res.states[i]), x, x)
        np.testing.assert_allclose(W, ref, rtol=0, atol=1e-10)
        # normalised on the grid (the grid holds the truncated space): the trapezoid sum is 1
        h = x[1] - x[0]
        assert abs(W.sum() * h * h - 1.0) < 1e-6
    x0, W0 = ex.wigner(0)  # the vacuum at t = 0: exp(-x² - p²)/π
    X, P = np.meshgrid(x0, x0)
    np.testing.assert_allclose(W0, np.exp(-X**2 - P**2) / np.pi, rtol=0, atol=1e-12)


def test_panel_is_lazy_and_follows_the_slider(explorer):
    ex = explorer
    ex.main()
    assert ex._wigner is None and ex._wigner_box.objects == []  # not computed while hidden
    ex.time_index = 3
    assert ex._wigner is None
    ex.show_wigner = True
    src = ex._wigner["src"]
    np.testing.assert_allclose(src.data["image"][0], ex.wigner(3)[1], rtol=0, atol=0)
    ex.time_index = 12  # moving the slider updates the panel
    np.testing.assert_allclose(src.data["image"][0], ex.wigner(12)[1], rtol=0, atol=0)
    assert not np.allclose(ex.wigner(3)[1], ex.wigner(12)[1], atol=1e-3)
    assert "t = " in ex._wigner["fig"].title.text and f"{float(ex.to_dataset().time[12]):.3g}" in ex._wigner["fig"].title.text
    x = ex.wigner(12)[0]
    assert src.data["x"] == [x[0]] and src.data["dw"] == [x[-1] - x[0]]


def test_gif_export_is_a_multi_frame_animation(explorer, tmp_path):
    gif = explorer.export_wigner(tmp_path / "w.gif", max_frames=6, fps=4)
    with Image.open(gif) as im:
        assert im.format == "GIF" and im.is_animated and im.n_frames == 6
    import imageio_ffmpeg  # MP4: the ffmpeg binary bundled with imageio-ffmpeg (none on PATH needed)

    mp4 = explorer.export_wigner(tmp_path / "w.mp4", max_frames=4)
    assert imageio_ffmpeg.count_frames_and_secs(str(mp4))[0] == 4
    with pytest.raises(ValueError, match="suffix"):
        explorer.export_wigner(tmp_path / "w.png")
    with pytest.raises(ValueError, match="max_frames"):
        explorer.export_wigner(tmp_path / "w.gif", max_frames=0)


def test_wigner_before_a_run_and_bad_grid():
    with pytest.raises(RuntimeError, match="run"):
        LindbladExplorer().wigner()
    with pytest.raises(ValueError, match="points"):
        wigner_grid(4, points=1)

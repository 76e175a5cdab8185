"""The one result base: declared fields -> Dataset, compact repr, safe save."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import xarray as xr

from nephlab._result import ResultBase, attr, coord, var


@dataclass(frozen=True, repr=False)
class _Curve(ResultBase):
    s: np.ndarray = coord("s", units="1/[A]")
    theta: np.ndarray = var("s", units="1/time", long_name="SCGF")
    psi: np.ndarray = var("s", "k")
    label: str = attr()
    flag: bool = attr(default=True)
    hidden: int = 7

    xarray_attrs = {"convention": "theta(s) = lim (1/t) ln E[exp(-s A)]"}

    def _xarray_extra(self, ds):
        return ds.assign(mean=-ds.theta)


def _curve():
    return _Curve(np.array([0.0, 1.0]), np.array([0.0, -0.5]), np.ones((2, 3), complex), "demo")


def test_to_xarray_follows_declarations():
    ds = _curve().to_xarray()
    assert ds.theta.dims == ("s",) and ds.psi.dims == ("s", "k")
    assert ds.theta.attrs == {"units": "1/time", "long_name": "SCGF"}
    assert "s" in ds.coords and ds.s.attrs["units"] == "1/[A]"
    assert ds.attrs["label"] == "demo" and ds.attrs["flag"] is True and "hidden" not in ds.attrs
    assert ds.attrs["convention"].startswith("theta(s)") and ds.attrs["result_type"] == "_Curve"
    np.testing.assert_array_equal(ds["mean"].values, [0.0, 0.5])


def test_repr_is_compact():
    assert repr(_curve()) == ("_Curve(s=float64(2,), theta=float64(2,), psi=complex128(2, 3), "
                              "label='demo', flag=True, hidden=7)")


@pytest.mark.parametrize("suffix", [".nc", ".zarr"])
def test_save_round_trips_and_refuses_existing(tmp_path, suffix):
    p = _curve().save(tmp_path / f"r{suffix}")
    ds = xr.open_dataset(p, engine="h5netcdf") if suffix == ".nc" else xr.open_zarr(p, consolidated=False)
    np.testing.assert_array_equal(ds.theta.values, [0.0, -0.5])
    np.testing.assert_array_equal(ds.psi.values, np.ones((2, 3), complex))
    assert int(ds.attrs["flag"]) == 1
    ds.close()
    with pytest.raises(ValueError, match="exists; pass overwrite=True"):
        _curve().save(p)
    _curve().save(p, overwrite=True)


def test_save_refuses_bad_suffix(tmp_path):
    with pytest.raises(ValueError, match=r"must end in \.nc .* or \.zarr"):
        _curve().save(tmp_path / "r.txt")


def _science_modules():
    import importlib
    import pkgutil

    import nephlab

    skip = ("nephlab.widgets", "nephlab.bench", "nephlab.cluster", "nephlab.cli", "nephlab.__main__")
    for info in pkgutil.walk_packages(nephlab.__path__, "nephlab."):
        if not info.name.startswith(skip):
            yield importlib.import_module(info.name)


# Results that must be JAX pytrees (they are returned from inside jit/vmap/grad, so they hold
# traced arrays and cannot be NumPy dataclasses): the one documented exception to the base.
PYTREE_RESULTS = {"nephlab.quantum._autodiff.MESolveResult"}


def test_every_result_class_of_the_science_core_uses_the_base():
    """Item 13: one base for every result; none hand-writes to_xarray/__repr__/save boilerplate."""
    import inspect

    found = {}
    for mod in _science_modules():
        for name, cls in inspect.getmembers(mod, inspect.isclass):
            if cls is not ResultBase and cls.__module__ == mod.__name__ and (
                    name.endswith("Result") or issubclass(cls, ResultBase)):
                found[f"{mod.__name__}.{name}"] = cls
    for k in PYTREE_RESULTS:  # a NamedTuple of arrays, so jax.tree_util flattens it
        assert k in found and issubclass(found.pop(k), tuple), f"{k} should be a pytree NamedTuple"
    assert len(found) >= 17, sorted(found)
    bad = [k for k, c in found.items() if not issubclass(c, ResultBase) or c.__repr__ is not ResultBase.__repr__
           or c.save is not ResultBase.save]
    assert not bad, f"result classes not on ResultBase (or overriding its repr/save): {bad}"
    for k, c in found.items():
        if c.to_xarray is not ResultBase.to_xarray:   # an override must take arguments the base cannot
            params = inspect.signature(c.to_xarray).parameters
            assert len(params) > 1, f"{k}.to_xarray overrides the base without taking arguments"

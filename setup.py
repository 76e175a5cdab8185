"""Package list for setuptools; all other metadata lives in pyproject.toml.

pyproject.toml maps the top-level ``widgets/`` folder to the subpackage ``nephlab.widgets``
(``package-dir``). Its ``packages.find`` cannot also pick up a package outside ``nephlab/``,
so the list is built here: every package under ``nephlab/``, plus ``nephlab.widgets`` and
every package under ``widgets/``.
"""

from setuptools import find_packages, setup

packages = find_packages(include=["nephlab", "nephlab.*"])
packages += ["nephlab.widgets"] + [f"nephlab.widgets.{p}" for p in find_packages("widgets")]

setup(packages=packages)

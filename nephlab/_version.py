"""Single source of nephlab's version (read by pyproject.toml and ``nephlab --version``)."""

__version__ = "0.1.0"

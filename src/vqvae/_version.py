"""The package version: its one source (pyproject's ``[tool.hatch.version]`` reads it here)."""

__version__ = "0.1.0"

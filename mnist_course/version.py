"""The package version (a module of its own: the package imports the builder, so modules
below it read the version here, not from the package)."""

__version__ = "0.1.0"

"""The package version, read by the build and by ``qtasks.__version__``."""

__version__ = "0.1.0"

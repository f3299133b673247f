"""HomeTwin: a digital twin of a person living at home."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hometwin")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+local"

__all__ = ["__version__"]

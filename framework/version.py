"""The library's version (one place: the package, the weights files and setup read it)."""
__version__ = "0.1.0"

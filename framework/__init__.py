"""MiniFramework: a layered neural-network framework in pure Python + NumPy."""
__version__ = "0.1.0"

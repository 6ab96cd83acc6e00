"""The one place the ``onnx`` package is imported, when a net is exported or imported.

Every module of this subpackage imports cleanly without it (so ``import framework``,
the API reference and ``help()`` never need it); the first function that needs it
calls ``require_onnx()``, which says how to install it when it is missing.
"""
INSTALL = "pip install 'miniframework[onnx]' (onnx; onnxruntime runs the files)"
FLOAT, DOUBLE = 1, 11       # onnx.TensorProto.FLOAT / DOUBLE: fixed by the ONNX standard


def require_onnx():
    """The ``onnx`` module, or an ImportError saying how to install it."""
    try:
        import onnx
    except ImportError as error:
        raise ImportError(f"ONNX export and import need the onnx package: {INSTALL}") \
            from error
    return onnx

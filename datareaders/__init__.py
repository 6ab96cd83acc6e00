"""Data readers for MiniFramework: the textbook's DataReader family.

``DataReader`` / ``ArrayDataReader`` (base.py) hold the sets and do the
preprocessing; each data set's reader only finds, fetches, parses and checks
its files. Files live under ``data_dir``, else ``$MINIFRAMEWORK_DATA``, else
``~/.cache/miniframework`` (see download.py).
"""
from .base import ArrayDataReader, DataReader
from .cifar import CifarImageReader
from .curve import CurveFittingReader
from .errors import DataFileError
from .house import HousePriceReader
from .mnist import FashionMnistDataReader, MnistImageDataReader

__all__ = ["DataReader", "ArrayDataReader", "MnistImageDataReader",
           "FashionMnistDataReader", "CifarImageReader", "CurveFittingReader",
           "HousePriceReader", "DataFileError"]

"""Data readers for MiniFramework: the textbook's DataReader family.

``DataReader`` / ``ArrayDataReader`` (base.py) hold the sets and do the
preprocessing; each data set's reader only finds, fetches, parses and checks
its files. Files live under ``data_dir``, else ``$MINIFRAMEWORK_DATA``, else
``~/.cache/miniframework`` (see download.py).

Importing the package also registers its data sets as the data sources a
``framework.infra.compare`` config may name (see sources.py); the framework itself
never imports this package.
"""
from .base import ArrayDataReader, DataReader
from .breast_cancer import BreastCancerReader
from .cifar import CifarImageReader
from .curve import CurveFittingReader
from .double_arc import DoubleArcReader
from .errors import DataFileError
from .house import HousePriceReader
from .mnist import FashionMnistDataReader, MnistImageDataReader
from . import sources  # noqa: F401  (registers "mnist", "clusters", ... as data sources)

__all__ = ["DataReader", "ArrayDataReader", "MnistImageDataReader",
           "FashionMnistDataReader", "CifarImageReader", "CurveFittingReader",
           "HousePriceReader", "DoubleArcReader", "BreastCancerReader", "DataFileError"]

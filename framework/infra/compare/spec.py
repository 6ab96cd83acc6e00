"""RunSpec: everything one comparison run is, as plain data, in one place.

A run has to be rebuilt in another process (a local worker or a Dask
worker), written to ``results.jsonl`` and recognised again when a sweep is
resumed, so it is a frozen dataclass of JSON values rather than of objects.
Its fields are the whole schema of a run:

==============  ==========================================================
``name``        the sweep's name (its output sub-folder)
``variant``     the variant's label (a row of the table)
``repeat``      0, 1, ...: repeat ``k`` of every variant shares one seed
``seed``        the run's seed: initial weights and the batch order
``data``        ``{"source": a registered data source, "options": {...}}``
                plus the split: ``seed``, ``train_size``, ``val_size``,
                ``test_size``, ``val_k``, ``per_feature`` (see
                ``datareaders.sources``); the data seed fixes the split, so
                repeats differ in weights and batches, not in samples
``params``      ``HyperParameters`` fields (``seed`` is the run's)
``net``         the compact MLP: ``hidden``, ``activation``, ``batch_norm``,
                ``dropout`` (see ``nets.expand_net``) ...
``layers``      ... or a list of layer specs (``framework.layers.builder``)
``train``       ``net.train`` options: ``checkpoint``, ``restore_best``
``evaluate_test``  evaluate the test set once after training (off: the test
                set is not for comparisons)
``weights_path``   where the worker saves the trained weights (or None)
``blas_threads``   BLAS threads of the run (1: the same arithmetic anywhere)
==============  ==========================================================

``key()`` hashes every field but ``weights_path`` (where a file goes does not
change what is computed): a resumed sweep skips the runs whose key already
has a finished result.
"""
import copy
import hashlib
import json
from dataclasses import asdict, dataclass, field, fields

from ..validation import check_flag, check_integer, check_number
from .nets import check_layers, check_net

# Bump when the meaning of a field changes, so old results are not reused.
SCHEMA_VERSION = 1
TRAIN_OPTIONS = ("checkpoint", "restore_best")
_NOT_HASHED = ("weights_path",)
SEED_IS_THE_SWEEPS = ("'seed' cannot be set in params or varied: every run's seed is the "
                      "sweep's base_seed + repeat (the same initial weights and batches for "
                      "every variant of a repeat, which makes the comparison fair); use "
                      "repeats and base_seed (--repeats, --seed) for other seeds, or "
                      "data.seed for another data split")


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep; see the module docstring for the fields."""

    name: str
    variant: str
    repeat: int
    seed: int
    data: dict
    params: dict
    net: dict = field(default_factory=dict)
    layers: list = None
    train: dict = field(default_factory=dict)
    evaluate_test: bool = False
    weights_path: str = None
    blas_threads: int = 1

    def __post_init__(self):
        """Check every field, so a sweep refuses a bad spec before any run starts."""
        source = self.data.get("source") if isinstance(self.data, dict) else None
        if not isinstance(source, str) or not source:
            raise ValueError(f"run spec 'data': expected a dict with a 'source' naming a "
                             f"registered data source, got {self.data!r}")
        for name in ("name", "variant"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ValueError(f"run spec {name!r}: expected a non-empty string, "
                                 f"got {getattr(self, name)!r}")
        check_integer("run spec 'repeat'", self.repeat, minimum=0)
        check_integer("run spec 'seed'", self.seed, minimum=0)
        check_integer("run spec 'blas_threads'", self.blas_threads)
        check_flag("run spec 'evaluate_test'", self.evaluate_test)
        if self.weights_path is not None and not isinstance(self.weights_path, str):
            raise ValueError(f"run spec 'weights_path': expected a path string or None, "
                             f"got {self.weights_path!r}")
        for name in ("params", "net", "train"):
            if not isinstance(getattr(self, name), dict):
                raise ValueError(f"run spec {name!r}: expected a dict, "
                                 f"got {getattr(self, name)!r}")
        self._check_train()
        self._check_params()
        if self.layers is not None:
            if self.net:
                raise ValueError("run spec: give 'net' (the compact MLP) or 'layers', "
                                 "not both")
            check_layers(self.layers)
        else:
            check_net(self.net)

    def _check_train(self):
        unknown = set(self.train) - set(TRAIN_OPTIONS)
        if unknown:
            raise ValueError(f"run spec 'train': unknown option(s) {sorted(unknown)}; "
                             f"expected {list(TRAIN_OPTIONS)}")
        if "checkpoint" in self.train:
            check_number("train.checkpoint", self.train["checkpoint"], 0, above=True)
        if "restore_best" in self.train:
            check_flag("train.restore_best", self.train["restore_best"])

    def _check_params(self):
        """The hyper-parameters, checked as the run will build them. ``seed`` is
        not one of them: the run's seed is the sweep's (base_seed + repeat, the
        same for every variant of a repeat), which would silently override it."""
        from ...hyper_parameters import HyperParameters
        if "seed" in self.params:
            raise ValueError(SEED_IS_THE_SWEEPS)
        try:
            HyperParameters.from_dict({**self.params, "seed": int(self.seed)})
        except (TypeError, ValueError) as error:
            raise ValueError(f"run spec 'params': {error}") from None

    @classmethod
    def from_dict(cls, data):
        """A RunSpec from a dict; an unknown key is an error naming the known ones."""
        known = [f.name for f in fields(cls)]
        unknown = set(data) - set(known)
        if unknown:
            raise ValueError(f"run spec: unknown key(s) {sorted(unknown)}; expected {known}")
        return cls(**copy.deepcopy(dict(data)))

    def to_dict(self):
        """The fields as a JSON-able dict (a deep copy)."""
        return asdict(self)

    def key(self):
        """Hex digest of the fields that decide the run's numbers (resume identity)."""
        hashed = {k: v for k, v in self.to_dict().items() if k not in _NOT_HASHED}
        text = json.dumps([SCHEMA_VERSION, hashed], sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    @property
    def source(self):
        """The data source's registered name."""
        return self.data["source"]

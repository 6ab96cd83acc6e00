"""DataReader: the textbook's DataReader_2_0 with Python names.

A reader owns train, validation and test arrays (rows are samples) and the
preprocessing the textbook applies to them, in its order: ``read_data``,
``normalize_x``, ``normalize_y``, ``shuffle``, ``generate_validation_set``.

Normalization statistics are fitted on train + test jointly by default, as the
textbook does: if the training houses span 150-220 m² and the test houses
160-230 m², fitting on train alone maps 230 m² outside [0, 1], and the net has
never seen such inputs. ``fit_on="train"`` fits on the training rows (train +
validation) only, for users who must not look at the test set.

Mini-batches come from ``batches(batch_size, rng)``: one permutation per epoch,
each batch's rows gathered into one batch-sized buffer owned by the reader.
Nothing is allocated per batch, the training set is never copied whole, and
the same ``rng`` state gives the same batch sequence, so runs compared side
by side see identical batches. ``batches(batch_size, order=...)`` takes an
explicit list of row-index arrays instead (``framework.BatchOrder``). A batch
is a reused buffer, overwritten by the next one; ``copy=True`` yields copies.
"""
import numpy as np

from framework.batch_order import check_indices
from framework.enums import NetType
from framework.infra.validation import check_flag, check_integer

from . import arrays as arr
from . import labels as lab

_FIT_ON = ("all", "train")


class DataReader:
    """Base class: subclasses implement ``_load()`` returning the raw arrays."""

    class_names = None

    def __init__(self, dtype=np.float32):
        self.dtype = arr.float_dtype(dtype, type(self).__name__)
        self.x_train = self.y_train = self.x_test = self.y_test = None
        self.x_val = self.y_val = None
        self.y_train_raw = self.y_val_raw = self.y_test_raw = None
        self.net_type = None
        self.x_min = self.x_range = None
        self.y_min = self.y_range = None
        self._num_category = None
        self._buffers = None

    # ----------------------------------------------------------- loading
    def _load(self):
        """Return (x_train, y_train, x_test, y_test) as arrays."""
        raise NotImplementedError

    def read_data(self):
        """Load (or reload) every set; returns ``self`` for chaining."""
        self._set_arrays(*self._load())
        return self

    def _set_arrays(self, x_train, y_train, x_test, y_test):
        sets = arr.check_sets(self.dtype, x_train=x_train, y_train=y_train,
                              x_test=x_test, y_test=y_test)
        self.__dict__.update(sets)
        self.y_train_raw, self.y_test_raw = self.y_train.copy(), self.y_test.copy()
        self.x_val = self.y_val = self.y_val_raw = None
        self.net_type = self._num_category = None
        self.x_min = self.x_range = self.y_min = self.y_range = None
        self._buffers = None

    def _require_data(self):
        if self.x_train is None:
            raise RuntimeError(f"{type(self).__name__}: call read_data() first")

    # ----------------------------------------------------- normalization
    def _fit_rows(self, arrays, fit_on):
        if fit_on not in _FIT_ON:
            raise ValueError(f"fit_on: expected one of {_FIT_ON}, got {fit_on!r}")
        train, val, test = arrays
        parts = [train] + ([val] if val is not None else [])
        if fit_on == "all":
            parts.append(test)
        return parts

    def normalize_x(self, fit_on="all", per_feature=True, method="min_max"):
        """Scale every set with one set of statistics: min-max to [0, 1] (the
        textbook's NormalizeX) or, with ``method="z_score"``, to mean 0 and std 1.

        ``per_feature`` fits the statistics per input column; ``False`` uses one
        global pair, which keeps the relative intensities of image pixels. A
        constant column gets scale 1, so it maps to 0 instead of dividing by
        zero. A z-score suits columns with a few large outliers, which min-max
        would squash into a corner of [0, 1]. The offset and scale are kept in
        ``x_min`` / ``x_range`` whichever the method, so ``transform_x`` (and a
        saved net's preprocessing) works alike. Call it once: the raw x is not
        kept, and ``transform_x`` uses the latest statistics.
        """
        self._require_data()
        check_flag("normalize_x: per_feature", per_feature)
        if method not in arr.SCALINGS:
            raise ValueError(f"normalize_x: method: expected one of {sorted(arr.SCALINGS)}, "
                             f"got {method!r}")
        parts = self._fit_rows((self.x_train, self.x_val, self.x_test), fit_on)
        self.x_min, self.x_range = arr.SCALINGS[method](parts, per_feature)
        self.x_train = self.transform_x(self.x_train)
        self.x_test = self.transform_x(self.x_test)
        if self.x_val is not None:
            self.x_val = self.transform_x(self.x_val)
        self._buffers = None

    def transform_x(self, x):
        """Scale new inputs (e.g. to predict) with the fitted x statistics."""
        if self.x_min is None:
            raise RuntimeError("transform_x: call normalize_x() first")
        x = np.asarray(x, dtype=self.dtype)
        width = int(np.prod(x.shape[1:]))
        if self.x_min.ndim and width != self.x_min.size:
            raise ValueError(f"transform_x: rows of shape {x.shape[1:]} have {width} "
                             f"values, but normalize_x fitted {self.x_min.size} features")
        flat = x.reshape(x.shape[0], width)
        flat = flat - self.x_min.astype(self.dtype)
        flat /= self.x_range.astype(self.dtype)
        return flat.reshape(x.shape)

    def normalize_y(self, net_type, fit_on="all", num_category=None):
        """Prepare targets for ``net_type``.

        FITTING: min-max per column (kept for ``de_normalize_y``); BINARY: a
        0/1 column; MULTIPLE_CLASSIFIER: one-hot rows, with ``num_category``
        taken from the labels (max + 1) unless given. Always works from the
        raw labels, so calling it again is safe.
        """
        self._require_data()
        net_type = NetType.parse(net_type, "net_type")
        raws = (self.y_train_raw, self.y_val_raw, self.y_test_raw)
        names = ("y_train", "y_val", "y_test")
        if net_type == NetType.FITTING:
            fwd = [None if r is None else self._y_forward(r.astype(np.float64))
                   for r in raws]
            self.y_min, self.y_range = arr.fit_min_max(self._fit_rows(fwd, fit_on))
            out = [None if f is None else
                   ((f - self.y_min) / self.y_range).astype(self.dtype) for f in fwd]
            self._num_category = self.y_train_raw.shape[1]
        else:
            ints = [None if r is None else lab.as_class_labels(r, n)
                    for r, n in zip(raws, names)]
            lab.check_several_classes(ints[0], "y_train", self._class_name)
            if net_type == NetType.BINARY_CLASSIFIER:
                count = 2
            elif num_category is not None:
                count = check_integer("normalize_y: num_category", num_category, minimum=2)
            else:
                count = self._known_categories(ints)
            for labels, name in zip(ints, names):
                if labels is not None:
                    lab.check_label_range(labels, count, name)
            if net_type == NetType.BINARY_CLASSIFIER:
                out = [None if i is None else i.reshape(-1, 1).astype(self.dtype)
                       for i in ints]
            else:
                out = [None if i is None else lab.one_hot(i, count, self.dtype)
                       for i in ints]
            self._num_category = count
        self.y_train, self.y_val, self.y_test = out
        self.net_type = net_type
        self._buffers = None

    def _class_name(self, label):
        """The name of class ``label`` for messages (the label itself if unnamed)."""
        names = self.class_names
        if names is not None and 0 <= label < len(names):
            return f"{label} ({names[label]})"
        return str(label)

    def _known_categories(self, ints):
        if self.class_names is not None:
            return len(self.class_names)
        return int(max(i.max() for i in ints if i is not None and i.size)) + 1

    def _y_forward(self, y):
        """Hook applied before min-max fitting (e.g. log price); identity here."""
        return y

    def _y_inverse(self, y):
        return y

    def de_normalize_y(self, y):
        """Map net outputs back to original units (float64).

        FITTING inverts the min-max scaling (and any ``_y_forward`` hook);
        for classifiers it returns the predicted class labels as (N, 1) ints.
        """
        y = np.asarray(y, dtype=np.float64)
        if self.net_type == NetType.FITTING:
            return self._y_inverse(y * self.y_range + self.y_min)
        if self.net_type == NetType.BINARY_CLASSIFIER:
            return (y >= 0.5).astype(np.int64).reshape(-1, 1)
        if self.net_type == NetType.MULTIPLE_CLASSIFIER:
            return np.argmax(y, axis=1).reshape(-1, 1)
        raise RuntimeError("de_normalize_y: call normalize_y() first")

    # ----------------------------------------------- splitting, ordering
    def _is_classification(self):
        if self.net_type is not None:
            return self.net_type != NetType.FITTING
        return self.y_train_raw.dtype.kind in "iub"

    def generate_validation_set(self, k=10, seed=0, stratify=None):
        """Move 1/k of the training rows (chosen by ``seed``) to validation.

        Stratified by class for classification (``stratify=None`` decides from
        ``net_type``, or from integer labels before ``normalize_y``), so a rare
        class is represented in proportion. Train and validation stay disjoint.
        """
        self._require_data()
        if self.x_val is not None:
            raise RuntimeError("generate_validation_set: a validation set already "
                               "exists; call read_data() again to re-split")
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
            raise ValueError(f"generate_validation_set: k must be an int >= 2, got {k!r}")
        seed = check_integer("generate_validation_set: seed", seed, minimum=0)
        if stratify is None:
            stratify = self._is_classification()
        else:
            check_flag("generate_validation_set: stratify", stratify)
        strata = lab.as_class_labels(self.y_train_raw, "y_train") if stratify else None
        train, val = lab.validation_indices(self.num_train, k,
                                            np.random.default_rng(seed), strata)
        self.x_val, self.x_train = self.x_train[val], self.x_train[train]
        self.y_val, self.y_train = self.y_train[val], self.y_train[train]
        self.y_val_raw, self.y_train_raw = self.y_train_raw[val], self.y_train_raw[train]
        self._buffers = None

    def shuffle(self, rng=None):
        """Reorder the training rows (x, y and raw labels together)."""
        self._require_data()
        rng = np.random.default_rng() if rng is None else _generator("shuffle", rng)
        perm = rng.permutation(self.num_train)
        self.x_train, self.y_train = self.x_train[perm], self.y_train[perm]
        self.y_train_raw = self.y_train_raw[perm]
        self._buffers = None

    def astype(self, dtype):
        """Convert every float set to ``dtype`` (a floating type) once (no-op if already so)."""
        self.dtype = arr.float_dtype(dtype, "astype")
        changed = False
        for name in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
            value = getattr(self, name)
            if value is not None and (value.dtype.kind == "f" or name[0] == "x") \
                    and value.dtype != self.dtype:
                setattr(self, name, value.astype(self.dtype))
                changed = True
        if changed:   # keep the batch buffers otherwise: re-touching them costs page faults
            self._buffers = None
        return self

    def batches(self, batch_size, rng=None, order=None, copy=False):
        """Yield (x, y) mini-batches covering the training set once.

        With ``rng`` the rows are permuted by ``rng.permutation`` and each
        batch is gathered into buffers of two batches owned by the reader
        (allocated once, reused every epoch; while BLAS runs one thread the
        next batch is gathered on a background thread, see
        ``arrays.iter_batches``). With ``order``, a sequence of 1-D arrays of
        row indices (``framework.BatchOrder.epoch(i)``), each batch is exactly
        those rows, gathered into the same kind of reused buffer, and
        ``batch_size`` is ignored. With neither, batches are slices of the
        training arrays in stored order.

        The batches are reused buffers (or views): the next batch overwrites
        the previous one, so ``list(reader.batches(...))`` would hold one
        batch many times. Pass ``copy=True`` to get batches you may keep
        (each a new array; the training loop never needs that). Do not
        interleave two epochs of one reader.
        """
        self._require_data()
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        check_flag("batches: copy", copy)
        if rng is not None:
            _generator("batches", rng)
        n = self.num_train
        if n == 0:
            raise ValueError("batches: the training set is empty")
        if not (self.x_train.flags.c_contiguous and self.y_train.flags.c_contiguous):
            # set from outside (e.g. a transposed view): copy once and keep it,
            # so no epoch pays a whole-set copy in the gather
            self.x_train = np.ascontiguousarray(self.x_train)
            self.y_train = np.ascontiguousarray(self.y_train)
        if order is not None:
            batches = self._ordered_batches(check_indices(order, n, "batches order"))
        else:
            rows = min(int(batch_size), n)
            batches = arr.iter_batches(self.x_train, self.y_train, int(batch_size), rng,
                                       None if rng is None else self._batch_buffers(2 * rows))
        return _copies(batches) if copy else batches

    def _batch_buffers(self, rows, exact=True):
        """The reader's (x, y) gather buffers: exactly ``rows`` rows (what
        ``iter_batches`` splits into two halves), or at least ``rows``."""
        x, y = self.x_train, self.y_train
        buffers = self._buffers
        if buffers is None or any(
                b.shape[1:] != a.shape[1:] or b.dtype != a.dtype
                or (b.shape[0] != rows if exact else b.shape[0] < rows)
                for b, a in zip(buffers, (x, y))):
            buffers = self._buffers = tuple(np.empty((rows,) + a.shape[1:], a.dtype)
                                            for a in (x, y))
        return buffers

    def _ordered_batches(self, order):
        """Gather the rows of each index array into one reused buffer."""
        x, y = self.x_train, self.y_train
        bx, by = self._batch_buffers(max(rows.shape[0] for rows in order), exact=False)
        take = np.take
        for rows in order:
            k = rows.shape[0]
            out_x, out_y = bx[:k], by[:k]
            take(x, rows, axis=0, out=out_x, mode="clip")   # checked in range above
            take(y, rows, axis=0, out=out_y, mode="clip")
            yield out_x, out_y

    # ------------------------------------------------------------ access
    def get_validation_set(self):
        """(x_val, y_val), or None before generate_validation_set made one."""
        return None if self.x_val is None else (self.x_val, self.y_val)

    def get_test_set(self):
        """(x_test, y_test); 0-row arrays for an ArrayDataReader made without a test set."""
        self._require_data()
        return self.x_test, self.y_test

    def get_train_set(self):
        """(x_train, y_train) as preprocessed, without the rows split off for validation."""
        self._require_data()
        return self.x_train, self.y_train

    @property
    def num_train(self):
        """Rows in the training set (0 before the data is read)."""
        return 0 if self.x_train is None else self.x_train.shape[0]

    @property
    def num_validation(self):
        """Rows in the validation set (0 when none was split off)."""
        return 0 if self.x_val is None else self.x_val.shape[0]

    @property
    def num_test(self):
        """Rows in the test set (0 when there is none)."""
        return 0 if self.x_test is None else self.x_test.shape[0]

    @property
    def num_feature(self):
        """Input width: the product of a row's shape (784 for 1x28x28 images)."""
        self._require_data()
        return int(np.prod(self.x_train.shape[1:]))

    @property
    def num_category(self):
        """Classes for classifiers; target columns for fitting."""
        if self._num_category is not None:
            return self._num_category
        if self.class_names is not None:
            return len(self.class_names)
        return 0 if self.y_train is None else self.y_train.shape[1]

    @property
    def num_output(self):
        """Width of y as the net sees it (one-hot width, 1, or target columns)."""
        self._require_data()
        return self.y_train.shape[1]


def _generator(where, rng):
    """``rng`` if it is a NumPy Generator; a seed or anything else is refused (a seed
    here would give the same order every epoch)."""
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"{where}: rng: expected a numpy.random.Generator "
                         f"(np.random.default_rng(seed)), got {rng!r}")
    return rng


def _copies(batches):
    for x, y in batches:
        yield x.copy(), y.copy()


class ArrayDataReader(DataReader):
    """Wrap arrays a user already has; checked and converted at construction.

    x is 2-D (N, features) or N-D for images; y is (N,), (N, 1) or (N, C).
    Float arrays are copied into ``dtype``; integer labels stay integers until
    ``normalize_y``. ``read_data()`` restores the arrays as given. The test
    set is optional (``ArrayDataReader(x, y)``): without one the test set is
    empty and ``train`` skips the test.
    """

    def __init__(self, x_train, y_train, x_test=None, y_test=None, dtype=np.float32):
        super().__init__(dtype)
        if (x_test is None) != (y_test is None):
            raise ValueError("ArrayDataReader: expected both x_test and y_test or neither, "
                             f"got x_test={'None' if x_test is None else 'an array'} and "
                             f"y_test={'None' if y_test is None else 'an array'}")
        x_train = np.array(arr.as_real_array("x_train", x_train))
        y_train = np.array(arr.as_real_array("y_train", y_train))
        if x_test is None:      # an empty test set with the training rows' shapes
            x_test = np.empty((0,) + x_train.shape[1:], x_train.dtype)
            y_test = np.empty((0,) + y_train.shape[1:], y_train.dtype)
        self._arrays = (x_train, y_train, np.array(arr.as_real_array("x_test", x_test)),
                        np.array(arr.as_real_array("y_test", y_test)))
        self.read_data()

    def _load(self):
        # copy what check_sets would keep as it is (already ``dtype``, or integer
        # labels), so editing x_train or y_train in place cannot change what a
        # later read_data() restores; other arrays are converted into new ones
        return tuple(a.copy() if a.dtype == self.dtype or
                     (name == "y" and a.dtype.kind != "f") else a
                     for a, name in zip(self._arrays, "xyxy"))

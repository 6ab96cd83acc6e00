"""Opening a file we do not trust, before any of its values are used.

Loading executes no code (no pickle), refuses links and external storage that
could make it read other files, and checks that every dataset's declared size is
really stored in the file before anything is allocated. ``CheckedGroup`` is the
read-only view of the file that the rest of loading works on.
"""
import os
import stat

from ...errors import WeightsFileError
from .atomic import describe_os_error, file_kind
from .layout import METADATA_GROUP, attr_value, h5py_module

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
MAX_DEPTH = 8


def check_hdf5_file(path):
    """Open ``path`` read-only after checking it exists and starts with the HDF5 signature.

    Our writer never adds a user block, so the signature must be at offset 0.
    """
    h5py = h5py_module()
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise WeightsFileError(path, f"cannot load: it is {file_kind(info.st_mode)}, not a "
                                         "regular file")
        if info.st_size == 0:
            raise WeightsFileError(path, "file is empty (0 bytes)")
        with open(path, "rb") as handle:
            head = handle.read(len(HDF5_SIGNATURE))
    except FileNotFoundError:
        raise WeightsFileError(path, "file not found") from None
    except OSError as error:
        raise WeightsFileError(path, f"cannot read: {describe_os_error(error)}") from None
    if head != HDF5_SIGNATURE:
        raise WeightsFileError(path, "not an HDF5 file (the HDF5 signature is missing)")
    try:
        return h5py.File(path, "r")
    except OSError as error:
        raise WeightsFileError(path, f"unreadable HDF5 file, truncated or damaged ({error})") \
            from None


class CheckedGroup:
    """A read-only view of an HDF5 group whose links ``check_links`` has checked.

    It offers what loading uses of h5py's Group (``[]`` with paths, ``get``, ``in``,
    iteration, ``visititems``, ``name``, ``attrs`` as a dict) but looks every child
    and attribute up once: h5py's lookups cost far more than the checks themselves,
    and a load asks for the same objects many times.
    """

    def __init__(self, group, name):
        self._group, self.name = group, name
        self.children = {}          # key -> CheckedGroup or h5py.Dataset, in file order
        self.values = {}            # key -> the dataset's values, once read_all has run
        self._attrs = None

    def read_all(self, path):
        """Read every dataset below (after check_storage bounded their sizes), so a
        damaged one (a fletcher32 mismatch) is refused before any net is built."""
        for key, child in self.children.items():
            if isinstance(child, CheckedGroup):
                child.read_all(path)
                continue
            try:
                self.values[key] = child[()]
            except OSError as error:
                raise WeightsFileError(path, f"{_dataset_label(child.name)}: checksum "
                                             "mismatch or unreadable data, the file is "
                                             f"damaged ({error})") from None

    def read(self, key):
        """The values of dataset ``key`` (a path below this group)."""
        head, _, tail = key.strip("/").rpartition("/")
        node = self[head] if head else self
        if tail in node.values:
            return node.values[tail]
        return node.children[tail][()]

    @property
    def attrs(self):
        """The group's attributes as a dict, text decoded to str."""
        if self._attrs is None:
            attrs = self._group.attrs
            self._attrs = {key: attr_value(attrs[key]) for key in attrs}
        return self._attrs

    def __getitem__(self, key):
        node = self
        for part in key.strip("/").split("/"):
            if not isinstance(node, CheckedGroup) or part not in node.children:
                raise KeyError(f"no object {key!r} in {self.name}")
            node = node.children[part]
        return node

    def get(self, key, default=None):
        """The object at ``key`` (a path below this group), or ``default``."""
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key):
        return self.get(key) is not None

    def __iter__(self):
        return iter(self.children)

    def __len__(self):
        return len(self.children)

    def visititems(self, visit, prefix=""):
        """Call ``visit(relative path, object)`` for every object below, as h5py does."""
        for key, child in self.children.items():
            where = f"{prefix}{key}"
            visit(where, child)
            if isinstance(child, CheckedGroup):
                child.visititems(visit, where + "/")


def _dataset_label(name):
    """How error messages name a dataset: "layer 'fc1' parameter 'W'" and the like."""
    parts = name.strip("/").split("/")
    if parts[0] == "layers" and len(parts) == 3:
        return f"layer {parts[1]!r} parameter {parts[2]!r}"
    if parts[0] == "optimizer" and len(parts) > 2:
        return f"layer {parts[1]!r} optimizer state parameter {'/'.join(parts[1:])!r}"
    if parts[0] == METADATA_GROUP and len(parts) == 2:
        return f"metadata parameter {parts[1]!r}"
    return f"dataset {name}"


def check_links(handle, path, tree=None):
    """Reject soft/external links, external or virtual datasets, anywhere in the file;
    return every dataset found (and fill ``tree``, a CheckedGroup of ``handle``).

    Any of these could make a load read a different file (or loop), so a
    weights file from elsewhere could smuggle in data it does not contain.
    """
    h5py = h5py_module()
    datasets = []

    def walk(group, node, depth):
        if depth > MAX_DEPTH:
            raise WeightsFileError(path, f"groups nested deeper than {MAX_DEPTH} at {group.name}")
        for key in group:
            where = f"{group.name.rstrip('/')}/{key}"
            link = group.get(key, getlink=True)
            if isinstance(link, h5py.ExternalLink):
                raise WeightsFileError(path, f"external link at {where} (to {link.filename}:"
                                             f"{link.path}) is not allowed")
            if not isinstance(link, h5py.HardLink):
                raise WeightsFileError(path, f"soft link at {where} is not allowed")
            obj = group[key]
            if isinstance(obj, h5py.Group):
                child = node.children[key] = CheckedGroup(obj, where)
                walk(obj, child, depth + 1)
            elif isinstance(obj, h5py.Dataset):
                if obj.external:
                    raise WeightsFileError(path, f"dataset {where} uses external storage "
                                                 f"({obj.external[0][0]!r}); not allowed")
                if obj.is_virtual:
                    raise WeightsFileError(path, f"dataset {where} is a virtual dataset; "
                                                 "not allowed")
                datasets.append(obj)
                node.children[key] = obj
            else:
                raise WeightsFileError(path, f"unexpected object {where} ({type(obj).__name__})")

    walk(handle, CheckedGroup(handle, "/") if tree is None else tree, 0)
    return datasets


def check_storage(datasets, path):
    """Every dataset numeric and stored whole: its declared size must be in the file.

    Runs before anything is read or allocated, so a small file whose datasets (or a
    fill value) declare gigabytes is refused, not allocated; ``load_net`` then caps
    the parameters its configs may declare at what is stored here (``parameter_budget``).
    """
    total = 0
    for dataset in datasets:
        if dataset.dtype.kind not in "fiub" or dataset.dtype.itemsize > 16:
            raise WeightsFileError(path, f"dataset {dataset.name} has dtype {dataset.dtype}, "
                                         "expected numbers")
        declared = dataset.size * dataset.dtype.itemsize
        stored = dataset.id.get_storage_size()
        if declared > stored:
            raise WeightsFileError(path, f"dataset {dataset.name} declares shape "
                                         f"{dataset.shape} ({declared:,} bytes) but the file "
                                         f"stores only {stored:,} bytes of it; refused "
                                         "before allocating")
        total += stored
    size = os.path.getsize(path)
    if total > size:
        raise WeightsFileError(path, f"the datasets claim {total:,} bytes of storage, more "
                                     f"than the whole {size:,}-byte file")

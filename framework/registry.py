"""Registry: the one way a name in a config or a file becomes a class.

Layers, activators, classifiers, optimizers and learning-rate schedules each
have a registry. A class joins by decorating itself, so a class defined in a
user's own file is as buildable, saveable and loadable as a built-in one::

    @register_layer
    class ScaleLayer(Layer): ...

Names are folded (case, ``-`` and spaces to ``_``) and looked up exactly,
never by substring: a typo is an error that lists the accepted names. Nothing
is ever imported or executed because a file names it: an unknown name is
refused, so a weights file can only name classes the program already has.
"""
import re


def fold(name):
    """``"Leaky-Relu "`` -> ``"leaky_relu"``: the lookup key of a name."""
    return str(name).strip().lower().replace("-", "_").replace(" ", "_")


def snake_case(class_name, suffix=""):
    """``"BatchNormLayer"`` -> ``"batch_norm"`` (``suffix`` removed first)."""
    if suffix and class_name.endswith(suffix) and class_name != suffix:
        class_name = class_name[:-len(suffix)]
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", class_name).lower()


class Registry:
    """Names -> classes of one kind (``kind`` names it in error messages)."""

    def __init__(self, kind):
        self.kind = kind
        self._classes = {}      # folded key -> class
        self._names = {}        # class -> its canonical (first) key

    def register(self, cls, names):
        """Add ``cls`` under every name in ``names`` (the first is canonical).

        Registering the same class again is harmless (a module reloaded, a
        notebook cell run twice: same module and qualified name); a name taken
        by any other class is an error, so a user's class can never silently
        replace a built-in one.
        """
        keys = [fold(name) for name in names]
        for key in keys:
            other = self._classes.get(key)
            if other is not None and (other.__module__, other.__qualname__) != \
                    (cls.__module__, cls.__qualname__):
                raise ValueError(f"{self.kind} name {key!r} is already registered for "
                                 f"{other.__module__}.{other.__qualname__}")
        for key in keys:
            self._classes[key] = cls
        self._names[cls] = keys[0]
        return cls

    def get(self, name):
        """The class registered as ``name``; ValueError listing the choices if none."""
        cls = self._classes.get(fold(name)) if isinstance(name, str) else None
        if cls is None:
            raise ValueError(f"{self.kind}: expected one of {self.names()}, got {name!r}")
        return cls

    def canonical(self, name, field=None):
        """The canonical name of what ``name`` (or an alias) registers: ``"he"`` ->
        ``"msra"``; ValueError naming ``field`` and listing the choices if unknown."""
        cls = self._classes.get(fold(name)) if isinstance(name, str) else None
        if cls is None:
            raise ValueError(f"{field or self.kind}: expected one of {self.names()}, "
                             f"got {name!r}")
        return self._names[cls]

    def name_of(self, cls):
        """The canonical name ``cls`` is registered under (KeyError if it is not)."""
        try:
            return self._names[cls]
        except KeyError:
            raise KeyError(f"{cls.__name__} is not a registered {self.kind}; decorate it "
                           f"with the {self.kind} registry's decorator") from None

    def names(self):
        """The canonical names, sorted (what error messages offer)."""
        return sorted(set(self._names.values()))

    def __contains__(self, name):
        return isinstance(name, str) and fold(name) in self._classes

    def __iter__(self):
        return iter(self.names())

    def __getitem__(self, name):
        return self.get(name)

    def __repr__(self):
        return f"Registry({self.kind!r}, {self.names()})"


def class_decorator(registry, base):
    """The ``register_<kind>`` decorator of a registry whose classes subclass ``base``
    and carry their own ``name`` (activators, classifiers, optimizers, schedules,
    initializers, losses), and optionally ``aliases``: other names accepted for it
    (the textbook's spellings, such as "he" for "msra" or "nesterov" for "nag")."""
    def register(cls):
        if not (isinstance(cls, type) and issubclass(cls, base)) \
                or not isinstance(getattr(cls, "name", None), str) or not cls.name:
            raise TypeError(f"register_{registry.kind}: expected a {base.__name__} subclass "
                            f"with a name, got {cls!r}")
        return registry.register(cls, [cls.name, *cls.__dict__.get("aliases", ())])
    register.__doc__ = (f"Class decorator: make a ``{base.__name__}`` subclass usable by its "
                        f"``name`` in configs and files, saveable and loadable.")
    return register


def make_from_spec(spec, registry, base):
    """An instance from an instance of ``base``, a name or ``{"name": ..., **options}``."""
    if isinstance(spec, base):
        return spec
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, dict) or "name" not in spec:
        raise ValueError(f"{registry.kind}: expected a name or a config dict with 'name', "
                         f"got {spec!r}")
    options = dict(spec)
    name = options.pop("name")
    cls = registry.get(name)
    try:
        return cls(**options)
    except TypeError as error:
        raise ValueError(f"{registry.kind} {fold(name)!r}: bad options {options!r} "
                         f"({error})") from None

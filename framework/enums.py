"""The textbook's option enums, with Python names: the one place for its spellings.

``InitMethod`` and ``OptimizerName`` list the textbook's initializers and
optimizers; each member *is* the name they are registered under (a ``str``), so
``HyperParameters(optimizer_name=OptimizerName.ADAM)`` and ``"adam"`` mean the
same and ``params.optimizer_name == OptimizerName.ADAM``. A class of your own
joins the registry, not the enum; other accepted names ("he", "nesterov") are
the registered classes' ``aliases``.

``NetType``, ``StopCondition`` and ``RegularMethod`` are closed choices: each
accepts its members, their string values and a few aliases (``"binary"``,
``"early-stop"``) through ``parse``. Names are looked up in an exact-match table
after folding case and ``-``/space to ``_``, never by substring, so a typo is an
error rather than a silent guess.
"""
from enum import Enum


class _ParsableEnum(str, Enum):
    """An enum whose members are also their string names."""

    @classmethod
    def _aliases(cls):
        return {}

    @classmethod
    def parse(cls, value, field=None):
        """Return the member named by ``value`` (a member or a string).

        Raises ``ValueError`` naming the field, the value received and the
        accepted names.
        """
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            key = value.strip().lower().replace("-", "_").replace(" ", "_")
            for member in cls:
                if key in (member.value, member.name.lower()):
                    return member
            alias = cls._aliases().get(key)
            if alias is not None:
                return cls(alias)
        accepted = ", ".join(repr(m.value) for m in cls)
        raise ValueError(
            f"{field or cls.__name__}: expected one of {accepted}, got {value!r}"
        )

    def __str__(self):
        return self.value


class NetType(_ParsableEnum):
    """What the net's output means: decides the loss and the accuracy."""

    FITTING = "fitting"
    BINARY_CLASSIFIER = "binary_classifier"
    MULTIPLE_CLASSIFIER = "multiple_classifier"

    @classmethod
    def _aliases(cls):
        return {"regression": "fitting", "binary": "binary_classifier",
                "multiclass": "multiple_classifier",
                "multi_class": "multiple_classifier",
                "multiple": "multiple_classifier"}


class InitMethod(_ParsableEnum):
    """Weight initialisation. All but ZERO are one variance-scaling rule.

    NORMAL is the textbook's N(0, 1); XAVIER (uniform) and MSRA (normal) are
    the textbook's forms of Glorot and He initialisation.
    """

    ZERO = "zero"
    NORMAL = "normal"
    UNIFORM = "uniform"
    XAVIER = "xavier"
    XAVIER_NORMAL = "xavier_normal"
    MSRA = "msra"
    MSRA_UNIFORM = "msra_uniform"


class OptimizerName(_ParsableEnum):
    """The textbook's optimizers by name; @register_optimizer adds names of your own."""

    SGD = "sgd"
    MOMENTUM = "momentum"
    NAG = "nag"
    ADAGRAD = "adagrad"
    ADADELTA = "adadelta"
    RMSPROP = "rmsprop"
    ADAM = "adam"


class StopCondition(_ParsableEnum):
    """STOP_LOSS: stop when the loss falls below a value.
    STOP_DIFF: stop when the loss changes by less than a value between
    two checkpoints."""

    NOTHING = "nothing"
    STOP_LOSS = "stop_loss"
    STOP_DIFF = "stop_diff"

    @classmethod
    def _aliases(cls):
        return {"none": "nothing", "stoploss": "stop_loss", "stopdiff": "stop_diff"}


class RegularMethod(_ParsableEnum):
    """L1/L2 add a weight penalty. EARLY_STOP is the textbook's spelling of
    early stopping, with ``regular_value`` as the patience in checkpoints:
    training turns it into an ``EarlyStopping`` callback. To combine early
    stopping with L1/L2, choose the penalty here and pass
    ``callbacks=[EarlyStopping(patience=...)]`` to ``train``."""

    NOTHING = "nothing"
    L1 = "l1"
    L2 = "l2"
    EARLY_STOP = "early_stop"

    @classmethod
    def _aliases(cls):
        return {"none": "nothing", "earlystop": "early_stop",
                "weight_decay": "l2"}

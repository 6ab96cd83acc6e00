"""Independent random streams derived from one seed.

Each purpose gets its own ``numpy.random.Generator`` spawned from the seed, so
changing how many numbers one purpose draws (say, a dropout layer added, or a
different optimizer) never changes what another purpose sees: two nets with
the same seed and architecture start from identical weights and see the
identical mini-batch order. That is what makes comparisons fair.
"""
from dataclasses import dataclass, field

import numpy as np

_INIT, _SHUFFLE, _NOISE = 0, 1, 2


@dataclass
class RandomStreams:
    """The three generators of one seed: init (weights), shuffle (batches), noise (dropout)."""

    seed: int
    init: np.random.Generator = field(init=False, repr=False)
    shuffle: np.random.Generator = field(init=False, repr=False)
    noise: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self):
        self.init = np.random.default_rng([self.seed, _INIT])
        self.shuffle = np.random.default_rng([self.seed, _SHUFFLE])
        self.noise = np.random.default_rng([self.seed, _NOISE])

    def get_state(self):
        """JSON-able state of every stream, for bit-exact resume."""
        return {name: getattr(self, name).bit_generator.state
                for name in ("init", "shuffle", "noise")}

    def set_state(self, state):
        """Put back the streams saved by get_state (for bit-exact resume)."""
        for name, value in state.items():
            getattr(self, name).bit_generator.state = value

"""WeightsBias: the textbook's pair of a layer's weights W and bias B.

Mirrors the textbook's WeightsBias_2_1 (minus its file caching of initial
weights, which come from a seeded stream instead). It is two named
``Parameter`` objects seen as one: ``W`` / ``B`` are their values, ``dW`` / ``dB``
their gradients, and each keeps its own optimizer state. The layer's backward
pass fills ``dW`` / ``dB``; ``pre_update`` moves both to NAG's look-ahead point
before the forward pass; ``update`` adds the L1/L2 gradient (W only: biases do
not decay) and lets each optimizer step in place.

Fully connected and convolution layers hold one::

    self.wb = WeightsBias(self.add_parameter("W", (n_in, n_out)),
                          self.add_parameter("B", (1, n_out), init="zeros", decay=False))

``WeightsBias.from_params(params, fan_in, fan_out, w_shape, b_shape)`` makes a
configured pair for a layer written the previous way (``weights()`` returning it).
"""
from .parameter import Parameter


class WeightsBias:
    """``WeightsBias(weight, bias)``: two Parameters, the textbook's W and B."""

    def __init__(self, weight, bias):
        if not (isinstance(weight, Parameter) and isinstance(bias, Parameter)):
            raise ValueError(f"WeightsBias: expected two Parameters (W and B), got "
                             f"{weight!r} and {bias!r}")
        self.weight, self.bias = weight, bias

    @classmethod
    def from_params(cls, params, input_size, output_size, w_shape=None, b_shape=None):
        """A configured pair from ``params``: W ``(input_size, output_size)`` (or
        ``w_shape``, with fans ``input_size`` / ``output_size``) by the net's init
        method, B ``(1, output_size)`` (or ``b_shape``) zeros."""
        w_shape = (input_size, output_size) if w_shape is None else w_shape
        b_shape = (1, output_size) if b_shape is None else b_shape
        return cls(Parameter(w_shape, fans=(input_size, output_size)).configure(params),
                   Parameter(b_shape, init="zeros", decay=False).configure(params))

    # ----- the textbook's names for the two arrays and their gradients -----------
    @property
    def W(self):
        """The weights (a live array, written in place)."""
        return self.weight.value

    @property
    def B(self):
        """The bias (a live array, written in place)."""
        return self.bias.value

    @property
    def dW(self):
        """d(loss)/dW, filled by the layer's backward pass."""
        return self.weight.grad

    @property
    def dB(self):
        """d(loss)/dB, filled by the layer's backward pass."""
        return self.bias.grad

    @property
    def dtype(self):
        """The dtype of W and B."""
        return self.W.dtype

    @property
    def look_ahead_needed(self):
        """True if the optimizer wants ``pre_update`` before each forward pass (NAG)."""
        return self.weight.optimizer.uses_look_ahead

    def initialize(self, rng):
        """W by its initializer drawn from ``rng``, B zeros."""
        self.weight.initialize(rng)
        self.bias.initialize(rng)

    def pre_update(self):
        """Before the forward pass: NAG moves W and B to the look-ahead point."""
        self.weight.look_ahead()
        self.bias.look_ahead()

    def update(self, learning_rate):
        """Add the regularization gradient to dW, then step W and B in place."""
        self.weight.update(learning_rate)
        self.bias.update(learning_rate)

    def regular_loss(self):
        """L1: lam * sum|W|;  L2: lam/2 * sum(W**2);  otherwise 0."""
        return self.weight.penalty() + self.bias.penalty()

    def __repr__(self):
        return f"WeightsBias(W{self.weight.shape}, B{self.bias.shape})"

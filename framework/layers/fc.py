"""FcLayer: the fully connected layer, z = x · W + B."""
from ..infra.blas import dot, sum_rows
from ..weights_bias import WeightsBias
from .base import Layer, check_positive_int
from .registry import register_layer


@register_layer
class FcLayer(Layer):
    """``FcLayer(input_size, output_size, params=None)``: z = x · W + B.

    forward     z  = x · W + B          x (m, in),  W (in, out),  B (1, out)
    backward    dW = xᵀ · dz            dB = Σ over the rows of dz
                dx = dz · Wᵀ            (skipped for the net's first layer)

    W and B are Parameters (``W.value``, ``W.grad``; W starts by the net's init
    method with fans in and out, B at zero), seen together as the textbook's
    ``WeightsBias`` pair (``layer.wb.W``, ``layer.wb.dW``, ...). The L1/L2 penalty is added
    to dW by the parameter's update, never here. ``params`` (a HyperParameters)
    gives the dtype, init method, optimizer and penalty; without it the net's are
    used when the layer is added. The input is a vector per sample: put a
    ``FlattenLayer`` between images and a fully connected layer. In a spec,
    ``{"type": "fc", "size": 10}`` takes ``input_size`` from the layer before.
    """

    def __init__(self, input_size, output_size, params=None):
        super().__init__(params)
        input_size = check_positive_int("FcLayer", "input_size", input_size)
        self.units = check_positive_int("FcLayer", "output_size", output_size)
        self.build((input_size,))
        self.W = self.add_parameter("W", (input_size, self.units))
        self.B = self.add_parameter("B", (1, self.units), init="zeros", decay=False)
        self.wb = WeightsBias(self.W, self.B)
        self.x = None

    def forward(self, x, train):
        self.x = self.checked(x)                # a reference: backward needs it
        z = self.work("z", (x.shape[0], self.units))
        dot(x, self.W.value, out=z)             # z = x · W
        z += self.B.value                       #   + B
        return z

    def backward(self, dz):
        x, W, B = self.x, self.W, self.B
        dot(x.T, dz, out=W.grad)                # dW = xᵀ · dz
        sum_rows(dz, out=B.grad)                # dB = Σ_rows dz
        if not self.need_input_grad:
            return None
        return dot(dz, W.value.T, out=self.work("dx", x.shape))   # dx = dz · Wᵀ

    # ----- shapes and configs ---------------------------------------------------
    def compute_output_shape(self, input_shape):
        _vector_width(input_shape)
        return (self.units,)

    def weights(self):
        return [self.wb]

    def get_config(self):
        return {"input_size": self.input_size, "output_size": self.units}

    @classmethod
    def from_config(cls, config, input_shape=None, params=None):
        """Also takes a spec's short form ``{"size": n}``, the input from ``input_shape``."""
        config = dict(config)
        if "size" in config:
            config["output_size"] = config.pop("size")
        if config.get("input_size") is None:
            config["input_size"] = None if input_shape is None else _vector_width(input_shape)
        return super().from_config(config, input_shape, params)


def _vector_width(input_shape):
    """The width of a vector sample; feature maps need a FlattenLayer first."""
    if len(input_shape) != 1:
        raise ValueError(f"FcLayer: expects a vector per sample, received shape "
                         f"{tuple(input_shape)}; add a FlattenLayer (spec 'flatten') before it")
    return input_shape[0]

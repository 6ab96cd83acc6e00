"""Experiment 3: activation histograms per layer for four initialisations.

    python -m apps.experiments.activation_histograms [--out DIR]

The notes' set-up: 1,000 Gaussian inputs through 5 fully connected layers of
100 units (no bias), with sigmoid, tanh or ReLU after each. The weights come
from the framework's ``initialize``: N(0, 1) ("std 1"), N(0, 0.01^2)
("std 0.01"), Xavier (std sqrt(2/(in+out)) = 0.1 here, the notes' 1/sqrt(n))
and He (std sqrt(2/in)). The activators are the framework's own. One PNG per
activation function; the table gives each layer's activation std (spread)
and, for sigmoid/tanh, the share of saturated units.
"""
import sys

import numpy as np

from framework import activators
from framework.initializers import initialize

from . import common

INITS = (("std 1", "normal", 1.0), ("std 0.01", "normal", 0.01),
         ("Xavier", "xavier_normal", 1.0), ("He", "msra", 1.0))
ACTIVATIONS = (("sigmoid", activators.Sigmoid), ("tanh", activators.Tanh),
               ("relu", activators.Relu))


def activations(activator, method, scale, samples=1000, width=100, layers=5, seed=0):
    """Activations of each layer (list of arrays) for one init method."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(samples, width))
    outputs = []
    for _ in range(layers):
        w = initialize(method, (width, width), rng, np.float64, scale=scale)
        z = x @ w
        x = activator.forward(z, np.empty_like(z))
        outputs.append(x)
    return outputs


def saturation(name, a):
    """Share of units in the flat part: sigmoid outside [0.02, 0.98], |tanh| > 0.96."""
    if name == "sigmoid":
        return float(np.mean((a < 0.02) | (a > 0.98)))
    if name == "tanh":
        return float(np.mean(np.abs(a) > 0.96))
    return float(np.mean(a == 0.0))


def plot(name, results, quick):
    from matplotlib.figure import Figure
    layers = len(next(iter(results.values())))
    fig = Figure(figsize=(2.2 * layers, 1.7 * len(results)), dpi=50 if quick else 64)
    for row, (label, outputs) in enumerate(results.items()):
        bins = _bins(name, outputs[0])
        for col, a in enumerate(outputs):
            ax = fig.add_subplot(len(results), layers, row * layers + col + 1)
            values = a.ravel() if name != "relu" else a[a > 0].ravel()
            ax.hist(np.clip(values, bins[0], bins[-1]), bins=bins, color=f"C{row}")
            ax.set_yticks([])
            ax.tick_params(labelsize=7)
            if row == 0:
                ax.set_title(f"layer {col + 1}", fontsize=9)
            if col == 0:
                ax.set_ylabel(label, fontsize=9)
    fig.suptitle(f"{name}: activation histograms"
                 + (" (positive part, zeros omitted; one x range per row, set by layer 1, "
                    "larger values in the last bin)" if name == "relu" else ""))
    fig.tight_layout()
    return fig


def _bins(name, first_layer):
    """Fixed bins per row, so a layer-by-layer shrink or blow-up is visible."""
    if name == "sigmoid":
        return np.linspace(0, 1, 31)
    if name == "tanh":
        return np.linspace(-1, 1, 31)
    return np.linspace(0, np.percentile(first_layer[first_layer > 0], 99), 31)


def main(argv=None):
    parser = common.make_parser(__doc__.splitlines()[0], epochs=0)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--layers", type=int, default=5)
    args = common.parse(parser, argv, quick={"samples": 200, "layers": 2})
    layers = " | ".join(f"layer {i + 1}" for i in range(args.layers))
    lines = ["Std of each layer's activations (share saturated: sigmoid a<0.02 or a>0.98, "
             "tanh |a|>0.96; ReLU: share of zeros).", "",
             f"| activation | init | {layers} | saturated/zero in layer {args.layers} |",
             "|---|---|" + "---|" * (args.layers + 1)]
    for name, cls in ACTIVATIONS:
        results = {label: activations(cls(), method, scale, args.samples,
                                      layers=args.layers, seed=args.seed)
                   for label, method, scale in INITS}
        for label, outputs in results.items():
            stds = " | ".join(f"{a.std():.3g}" for a in outputs)
            lines.append(f"| {name} | {label} | {stds} | {saturation(name, outputs[-1]):.0%} |")
        common.save_figure(plot(name, results, args.quick), args,
                           f"activation_histograms_{name}.png")
    common.write_text(args, "activation_histograms.md", "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Experiment 3: activation histograms per layer for four initialisations.

    python apps/experiments/activation_histograms.py [--samples 1000] [--plot-dir DIR]

The notes' set-up: 1,000 Gaussian inputs through 5 fully connected layers of
100 units (no bias), with sigmoid, tanh or ReLU after each. The weights come
from the framework's ``initialize``: N(0, 1) ("std 1"), N(0, 0.01^2)
("std 0.01"), Xavier (std sqrt(2/(in+out)) = 0.1 here, the notes' 1/sqrt(n))
and He (std sqrt(2/in)). The activators are the framework's own. One PNG per
activation function; the table gives each layer's activation std (spread)
and, for sigmoid/tanh, the share of saturated units.
"""
import sys
from pathlib import Path

if not __package__:     # `python apps/experiments/x.py` from a clone: make `apps` importable
    sys.path[0] = str(Path(__file__).resolve().parents[2])

import numpy as np  # noqa: E402
from framework import activators  # noqa: E402
from framework.initializers import initialize  # noqa: E402

from apps.support import sweeps as common  # noqa: E402

NAME = "activation_histograms"
QUICK = {"samples": 300}

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


def plot(experiment, name, results):
    """One row of per-layer histograms per initialisation."""
    layers = len(next(iter(results.values())))
    fig = experiment.figure(max(2.4 * layers, 7.0), 1.9 * len(results) + 0.8)
    for row, (label, outputs) in enumerate(results.items()):
        bins = _bins(name, outputs[0])
        for col, a in enumerate(outputs):
            ax = fig.add_subplot(len(results), layers, row * layers + col + 1)
            values = a.ravel() if name != "relu" else a[a > 0].ravel()
            ax.hist(np.clip(values, bins[0], bins[-1]), bins=bins, color=f"C{row}")
            ax.set_yticks([])
            ax.tick_params(labelsize=8)
            if row == 0:
                ax.set_title(f"layer {col + 1}", fontsize=10)
            if col == 0:
                ax.set_ylabel(label, fontsize=10)
            if row == len(results) - 1:
                ax.set_xlabel(f"{name} output", fontsize=9)
    samples = next(iter(results.values()))[0].shape[0]
    fig.suptitle(f"{name}: activation histograms of {samples:,} Gaussian inputs through "
                 f"{layers} layers of 100 units\nrows: the initial weights; bar height: how "
                 f"many activations (each panel its own scale)"
                 + ("\n(positive part, zeros omitted; one x range per row, set by layer 1, "
                    "larger values in the last bin)" if name == "relu" else ""), fontsize=11)
    return fig


def _bins(name, first_layer):
    """Fixed bins per row, so a layer-by-layer shrink or blow-up is visible."""
    if name == "sigmoid":
        return np.linspace(0, 1, 31)
    if name == "tanh":
        return np.linspace(-1, 1, 31)
    return np.linspace(0, np.percentile(first_layer[first_layer > 0], 99), 31)


def make_parser():
    """The experiment's flags: no training, so --samples, --layers, --seed and outputs."""
    parser = common.make_parser(NAME, __doc__.splitlines()[0], quick=QUICK)
    group = parser.add_argument_group(NAME)
    group.add_argument("--samples", type=common.flags.positive_int, default=1000,
                       help="Gaussian input rows")
    group.add_argument("--layers", type=common.flags.positive_int, default=5,
                       help="fully connected layers of 100 units")
    return parser


def body(experiment):
    """Every activation x init: the per-layer spreads (table, JSON) and histograms."""
    args = experiment.args
    experiment.settings.update(samples=args.samples, layers=args.layers, width=100,
                               seed=args.seed, inits={label: {"init": method, "scale": scale}
                                                      for label, method, scale in INITS})
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
            share = saturation(name, outputs[-1])
            stds = [float(a.std()) for a in outputs]
            lines.append(f"| {name} | {label} | " + " | ".join(f"{v:.3g}" for v in stds)
                         + f" | {share:.0%} |")
            experiment.variants.append({"activation": name, "variant": label,
                                        "layer_std": stds, "last_layer_saturated": share})
        if experiment.plotting:
            experiment.save_figure(plot(experiment, name, results), name)
    experiment.write_table("\n".join(lines) + "\n")


def main(argv=None):
    """Run the experiment; return its exit status."""
    return common.run(NAME, make_parser(), body, argv, QUICK,
                      plots=tuple(name for name, _ in ACTIVATIONS))


if __name__ == "__main__":
    sys.exit(main())

"""Experiment 1: optimizer paths on an elongated bowl.

    python apps/experiments/optimizer_paths.py [--steps 30] [--plot-dir DIR]

f(x, y) = x^2/20 + y^2 (the notes' function) and x^2/10 + y^2 (the ai-edu
textbook's), starting from (-7, 2). The framework's own optimizers take the
steps -- ``make_optimizer(...).step(theta, grad, lr)``, with NAG's
``look_ahead`` before each gradient -- so the figure shows the code that
trains the nets, not a re-implementation. The learning rates are the ones
the notes' source book tuned for this picture (SGD 0.95, Momentum 0.1,
AdaGrad 1.5, Adam 0.3); NAG shares Momentum's, RMSProp uses Adam's 0.3, and
AdaDelta has no learning rate.
"""
import sys
from pathlib import Path

if not __package__:     # `python apps/experiments/x.py` from a clone: make `apps` importable
    sys.path[0] = str(Path(__file__).resolve().parents[2])

import numpy as np  # noqa: E402
from framework.optimizers import make_optimizer  # noqa: E402

from apps.support import sweeps as common  # noqa: E402

NAME = "optimizer_paths"
QUICK = {"steps": 10}

START = (-7.0, 2.0)
OPTIMIZERS = (("SGD", "sgd", 0.95), ("Momentum", "momentum", 0.1), ("NAG", "nag", 0.1),
              ("AdaGrad", "adagrad", 1.5), ("AdaDelta", "adadelta", 1.0),
              ("RMSProp", "rmsprop", 0.3), ("Adam", "adam", 0.3))
FUNCTIONS = (("x2_20", 20.0), ("x2_10", 10.0))   # f = x^2/a + y^2


def gradient(theta, a):
    """The gradient of f = x^2/a + y^2 at ``theta``."""
    return np.array([2.0 * theta[0] / a, 2.0 * theta[1]])


def path(name, lr, a, steps):
    """The (steps + 1, 2) trajectory of optimizer ``name`` from START."""
    theta = np.array(START, dtype=np.float64)
    opt = make_optimizer(name, theta.shape, np.float64)
    points = [theta.copy()]
    for _ in range(steps):
        opt.look_ahead(theta)
        grad = gradient(theta, a)
        opt.step(theta, grad, lr)
        points.append(theta.copy())
    return np.array(points)


def loss(points, a):
    """f = x^2/a + y^2 at each point of a path."""
    return points[:, 0] ** 2 / a + points[:, 1] ** 2


def summary_rows(paths, a):
    """Per optimizer: final f, first step with f < 0.01, largest x (overshoot past 0)."""
    rows = []
    for (label, _, lr), points in zip(OPTIMIZERS, paths):
        f = loss(points, a)
        below = np.flatnonzero(f < 1e-2)
        rows.append((label, "-" if label == "AdaDelta" else f"{lr:g}",
                     f"{f[-1]:.3g}", str(below[0]) if below.size else "never",
                     f"{points[:, 0].max():+.2f}"))
    return rows


def plot(experiment, paths, a, title):
    """A panel per optimizer (its path over the contours), then f against the step."""
    fig = experiment.figure(13, 6.4)
    quick = experiment.args.quick
    xs, ys = np.meshgrid(np.linspace(-10, 10, 120 if quick else 300),
                         np.linspace(-5, 5, 60 if quick else 150))
    zs = xs ** 2 / a + ys ** 2
    for i, ((label, _, lr), points) in enumerate(zip(OPTIMIZERS, paths)):
        ax = fig.add_subplot(2, 4, i + 1)
        ax.contour(xs, ys, zs, levels=np.geomspace(0.05, 20, 12), linewidths=0.6, cmap="viridis")
        ax.plot(points[:, 0], points[:, 1], "o-", color="red", markersize=2, linewidth=1)
        ax.plot(0, 0, "+", color="black", markersize=10)
        ax.set_title(f"{label}" + ("" if label == "AdaDelta" else f" (lr {lr:g})"), fontsize=10)
        ax.set_xlim(-10, 10)
        ax.set_ylim(-5, 5)
    ax = fig.add_subplot(2, 4, 8)
    for (label, _, _), points in zip(OPTIMIZERS, paths):
        ax.semilogy(np.maximum(loss(points, a), 1e-12), label=label, linewidth=1)
    ax.set_xlabel("step")
    ax.set_ylabel("f(x, y)")
    ax.legend(fontsize=8)
    fig.suptitle(title)
    return fig


def markdown(rows_by_function, steps):
    """The summary rows of both bowls as one Markdown table."""
    lines = [f"f after {steps} steps from (-7, 2); 'f<0.01 at' is the first step below 0.01; "
             "'max x' > 0 means the path overshot the minimum in x.", "",
             "| optimizer | lr | f (x²/20+y²) | f<0.01 at | max x | f (x²/10+y²) | f<0.01 at "
             "| max x |", "|---|---|---|---|---|---|---|---|"]
    for first, second in zip(*rows_by_function):
        lines.append("| " + " | ".join(first + second[2:]) + " |")
    return "\n".join(lines) + "\n"


def make_parser():
    """The experiment's flags: it trains no net, so only --steps and the outputs."""
    parser = common.make_parser(NAME, __doc__.splitlines()[0], seed=False, quick=QUICK)
    parser.add_argument_group(NAME).add_argument(
        "--steps", type=common.flags.positive_int, default=30,
        help="optimizer steps from the start point")
    return parser


def body(experiment):
    """Every optimizer's path on both bowls: figures, table, JSON summary."""
    steps = experiment.args.steps
    experiment.settings.update(steps=steps, start=list(START),
                               optimizers={label: {"optimizer": name, "lr": lr}
                                           for label, name, lr in OPTIMIZERS})
    rows_by_function = []
    for tag, a in FUNCTIONS:
        paths = [path(name, lr, a, steps) for _, name, lr in OPTIMIZERS]
        rows = summary_rows(paths, a)
        rows_by_function.append(rows)
        for label, _, final, below, max_x in rows:
            experiment.variants.append({"function": tag, "variant": label,
                                        "final_f": float(final),
                                        "first_step_below_0.01": None if below == "never"
                                        else int(below), "max_x": float(max_x)})
        if experiment.plotting:
            fig = plot(experiment, paths, a,
                       f"f(x, y) = x²/{a:g} + y², {steps} steps from (-7, 2)")
            experiment.save_figure(fig, tag)
    experiment.write_table(markdown(rows_by_function, steps))


def main(argv=None):
    """Run the experiment; return its exit status."""
    return common.run(NAME, make_parser(), body, argv, QUICK)


if __name__ == "__main__":
    sys.exit(main())

"""Experiment 1: optimizer paths on an elongated bowl.

    python -m apps.experiments.optimizer_paths [--steps 30] [--out DIR]

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

import numpy as np

from framework.optimizers import make_optimizer

from . import common

START = (-7.0, 2.0)
OPTIMIZERS = (("SGD", "sgd", 0.95), ("Momentum", "momentum", 0.1), ("NAG", "nag", 0.1),
              ("AdaGrad", "adagrad", 1.5), ("AdaDelta", "adadelta", 1.0),
              ("RMSProp", "rmsprop", 0.3), ("Adam", "adam", 0.3))
FUNCTIONS = (("x2_20", 20.0), ("x2_10", 10.0))   # f = x^2/a + y^2


def gradient(theta, a):
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


def plot(paths, a, title, quick):
    from matplotlib.figure import Figure
    fig = Figure(figsize=(13, 6), dpi=55 if quick else 72)
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
    ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def markdown(rows_by_function, steps):
    lines = [f"f after {steps} steps from (-7, 2); 'f<0.01 at' is the first step below 0.01; "
             "'max x' > 0 means the path overshot the minimum in x.", "",
             "| optimizer | lr | f (x²/20+y²) | f<0.01 at | max x | f (x²/10+y²) | f<0.01 at "
             "| max x |", "|---|---|---|---|---|---|---|---|"]
    for first, second in zip(*rows_by_function):
        lines.append("| " + " | ".join(first + second[2:]) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = common.make_parser(__doc__.splitlines()[0], epochs=0)
    parser.add_argument("--steps", type=int, default=30)
    args = common.parse(parser, argv, quick={"steps": 30})
    rows_by_function = []
    for tag, a in FUNCTIONS:
        paths = [path(name, lr, a, args.steps) for _, name, lr in OPTIMIZERS]
        rows_by_function.append(summary_rows(paths, a))
        fig = plot(paths, a, f"f(x, y) = x²/{a:g} + y², {args.steps} steps from (-7, 2)",
                   args.quick)
        common.save_figure(fig, args, f"optimizer_paths_{tag}.png")
    common.write_text(args, "optimizer_paths.md", markdown(rows_by_function, args.steps))
    return 0


if __name__ == "__main__":
    sys.exit(main())

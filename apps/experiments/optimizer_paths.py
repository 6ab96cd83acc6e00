"""Experiment 1: optimizer paths, on two bowls and on the textbook's linear regression.

    python apps/experiments/optimizer_paths.py [--steps 30] [--iterations 400] [--plot-dir DIR]

The bowls: f(x, y) = x^2/20 + y^2 (the notes' function) and x^2/10 + y^2 (the
ai-edu textbook's), starting from (-7, 2). The framework's own optimizers take
the steps -- ``make_optimizer(...).step(theta, grad, lr)``, with NAG's
``look_ahead`` before each gradient -- so the figure shows the code that
trains the nets, not a re-implementation. The learning rates are the ones the
notes' source book tuned for this picture (SGD 0.95, Momentum 0.1, AdaGrad
1.5, Adam 0.3); NAG shares Momentum's, RMSProp uses Adam's 0.3, and AdaDelta
has no learning rate.

The linear regression: the textbook's second comparison (ch15 Level4) trains
each optimizer on its chapter-4 data, y = 2x + 3 plus Gaussian noise (100
points, x uniform in [0, 1], only w and b to learn), with a NeuralNet of one
FcLayer: zero initial weights, batch 5, the textbook's learning rates (SGD
0.5, Momentum and NAG 0.05, AdaGrad 1, RMSProp 0.1, Adam 0.5). It draws each
optimizer's (w, b) after every iteration on the contours of the loss
J(w, b) = sum((w x + b - y)^2) / 2m over the 100 points, and counts the
iterations until J first falls to 0.005, the book's yardstick (SGD 148,
Momentum 128, RMSProp 130, Adam 107 in the book). The book's generator draws
noise N(0, 0.2^2), whose least-squares loss is about 0.019, so no optimizer
could reach 0.005 on such data: the book's counts come from a quieter file.
``--noise 0.1`` (the default) makes the least-squares loss about 0.005, so the
target means "at the bottom of the bowl"; the count of one data set depends on
its draw, so the table also gives the median and range over the first
``--data-seeds`` data sets whose bottom is below the target (a draw whose
least-squares loss is above it cannot be counted, and is left out, counted).
"""
import sys
from pathlib import Path

if not __package__:     # `python apps/experiments/x.py` from a clone: make `apps` importable
    sys.path[0] = str(Path(__file__).resolve().parents[2])

import numpy as np  # noqa: E402
from datareaders.base import ArrayDataReader  # noqa: E402
from framework import Callback, HyperParameters, NeuralNet  # noqa: E402
from framework.optimizers import make_optimizer  # noqa: E402
from framework.plotting import FONT_SIZE, tidy_log_axis  # noqa: E402

from apps.support import sweeps as common  # noqa: E402

NAME = "optimizer_paths"
QUICK = {"steps": 10, "iterations": 200, "data_seeds": 3}

START = (-7.0, 2.0)
OPTIMIZERS = (("SGD", "sgd", 0.95), ("Momentum", "momentum", 0.1), ("NAG", "nag", 0.1),
              ("AdaGrad", "adagrad", 1.5), ("AdaDelta", "adadelta", 1.0),
              ("RMSProp", "rmsprop", 0.3), ("Adam", "adam", 0.3))
FUNCTIONS = (("x2_20", 20.0), ("x2_10", 10.0))   # f = x^2/a + y^2

# the textbook's ch15 Level4_Optimizer_ch04: optimizer -> learning rate (AdaDelta has none)
LINEAR_OPTIMIZERS = (("SGD", "sgd", 0.5), ("Momentum", "momentum", 0.05),
                     ("NAG", "nag", 0.05), ("AdaGrad", "adagrad", 1.0),
                     ("AdaDelta", "adadelta", 1.0), ("RMSProp", "rmsprop", 0.1),
                     ("Adam", "adam", 0.5))
BOOK_ITERATIONS = {"SGD": 148, "Momentum": 128, "RMSProp": 130, "Adam": 107}
TRUE_W, TRUE_B = 2.0, 3.0
SAMPLES, BATCH = 100, 5


# ------------------------------------------------------------------ the bowls
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


def plot_bowl(experiment, paths, a, title):
    """A panel per optimizer (its path over the contours, equal axes so the bowl's
    stretch is seen as it is), then f against the step."""
    fig = experiment.figure(13, 6.2)
    xs, ys = np.meshgrid(np.linspace(-10, 10, 300), np.linspace(-5, 5, 150))
    zs = xs ** 2 / a + ys ** 2
    for i, ((label, _, lr), points) in enumerate(zip(OPTIMIZERS, paths)):
        ax = fig.add_subplot(2, 4, i + 1)
        ax.contour(xs, ys, zs, levels=np.geomspace(0.05, 20, 12), linewidths=0.6,
                   cmap="viridis")
        ax.plot(points[:, 0], points[:, 1], "o-", color="red", markersize=2, linewidth=1)
        ax.plot(0, 0, "+", color="black", markersize=10)
        ax.set_title(f"{label}" + ("" if label == "AdaDelta" else f" (lr {lr:g})"),
                     fontsize=FONT_SIZE)
        ax.set_xlim(-10, 10)
        ax.set_ylim(-5, 5)
        ax.set_xticks([-10, -5, 0, 5, 10])
        ax.set_yticks([-5, 0, 5])
        ax.set_aspect("equal")
        ax.set_xlabel("x", fontsize=FONT_SIZE - 1, labelpad=1)
        ax.set_ylabel("y", fontsize=FONT_SIZE - 1, labelpad=1)
        ax.tick_params(labelsize=FONT_SIZE - 2)
    ax = fig.add_subplot(2, 4, 8)
    for i, ((label, _, _), points) in enumerate(zip(OPTIMIZERS, paths)):
        ax.plot(np.maximum(loss(points, a), 1e-12), label=label, linewidth=1.2,
                color=f"C{i}")
    ax.set_yscale("log")
    tidy_log_axis(ax)
    ax.set_xlabel("step", fontsize=FONT_SIZE - 1)
    ax.set_ylabel("f(x, y)", fontsize=FONT_SIZE - 1)
    ax.set_title("f along each path", fontsize=FONT_SIZE)
    ax.tick_params(labelsize=FONT_SIZE - 2)
    ax.grid(alpha=0.3)
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=7,
               fontsize=FONT_SIZE - 1, frameon=False)
    fig.suptitle(title + "; red: the path, +: the minimum", fontsize=FONT_SIZE + 1)
    return fig


def bowl_table(rows_by_function, steps):
    """The summary rows of both bowls as one Markdown table."""
    lines = [f"f after {steps} steps from (-7, 2); 'f<0.01 at' is the first step below 0.01; "
             "'max x' > 0 means the path overshot the minimum in x.", "",
             "| optimizer | lr | f (x²/20+y²) | f<0.01 at | max x | f (x²/10+y²) | f<0.01 at "
             "| max x |", "|---|---|---|---|---|---|---|---|"]
    for first, second in zip(*rows_by_function):
        lines.append("| " + " | ".join(first + second[2:]) + " |")
    return "\n".join(lines) + "\n"


# -------------------------------------------------------- the linear regression
def linear_data(seed, noise, samples=SAMPLES):
    """The textbook's ch04 data: x ~ U(0, 1), y = 2x + 3 + N(0, noise^2)."""
    rng = np.random.default_rng(seed)
    x = rng.random((samples, 1))
    return x, TRUE_W * x + TRUE_B + rng.normal(0.0, noise, x.shape)


def linear_loss(w, b, x, y):
    """The textbook's loss J(w, b) = sum((w x + b - y)^2) / 2m, for arrays of w and b."""
    w, b = np.asarray(w, dtype=float), np.asarray(b, dtype=float)
    residual = w[..., None] * x.ravel() + b[..., None] - y.ravel()
    return (residual ** 2).sum(axis=-1) / (2 * x.shape[0])


def least_squares(x, y):
    """(w*, b*, J*) of the data: the bottom of the bowl."""
    w, b = np.polyfit(x.ravel(), y.ravel(), 1)
    return float(w), float(b), float(linear_loss(w, b, x, y))


class _Trajectory(Callback):
    """Records (w, b) of the one FcLayer after every iteration."""

    def __init__(self, start):
        self.points = [start]

    def on_batch_end(self, net, iteration, loss):
        """Keep the weight and bias the step just made."""
        wb = net.weights()[0]
        self.points.append((float(wb.W[0, 0]), float(wb.B[0, 0])))


def linear_path(name, lr, x, y, iterations, seed):
    """(iterations + 1, 2) array of (w, b): the framework training a 1-1 FcLayer
    net from zero weights with batch 5 (the batch order from ``seed``)."""
    epochs = -(-iterations // (x.shape[0] // BATCH))
    params = HyperParameters(learning_rate=lr, max_epoch=epochs, batch_size=BATCH,
                             net_type="fitting", init_method="zero", optimizer_name=name,
                             seed=seed, dtype=np.float64)
    net = NeuralNet.from_specs(params, [{"type": "fc", "size": 1}], 1, f"linear_{name}")
    recorder = _Trajectory((0.0, 0.0))
    net.train(ArrayDataReader(x, y), checkpoint=float(epochs), need_test=False, verbose=0,
              callbacks=[recorder], restore_best=False)
    return np.array(recorder.points[:iterations + 1])


def first_below(losses, target):
    """The first iteration (0 = the start) whose loss is <= ``target``, or None."""
    hits = np.flatnonzero(np.asarray(losses) <= target)
    return int(hits[0]) if hits.size else None


def linear_study(args):
    """Every optimizer on data seed ``args.data_seed`` (paths kept) and, for the
    spread, on data seeds 0 .. data_seeds - 1 (counts only)."""
    x, y = linear_data(args.data_seed, args.noise)
    w_star, b_star, j_star = least_squares(x, y)
    found = {"x": x, "y": y, "optimum": (w_star, b_star, j_star), "rows": []}
    drawn = [linear_data(seed, args.noise) for seed in range(args.data_seeds)]
    spread_data = [(sx, sy) for sx, sy in drawn if least_squares(sx, sy)[2] < args.target_loss]
    found["reachable"] = (len(spread_data), len(drawn))
    for label, name, lr in LINEAR_OPTIMIZERS:
        points = linear_path(name, lr, x, y, args.iterations, seed=args.data_seed)
        losses = linear_loss(points[:, 0], points[:, 1], x, y)
        counts = []
        for sx, sy in spread_data:
            other = linear_path(name, lr, sx, sy, args.iterations, seed=args.data_seed)
            counts.append(first_below(linear_loss(other[:, 0], other[:, 1], sx, sy),
                                      args.target_loss))
        found["rows"].append({"label": label, "optimizer": name, "lr": lr, "points": points,
                              "losses": losses,
                              "iterations": first_below(losses, args.target_loss),
                              "spread": counts, "final_w": float(points[-1, 0]),
                              "final_b": float(points[-1, 1]),
                              "final_loss": float(losses[-1])})
    return found


def _spread_text(counts):
    """'56 [45, 129]' (median, min, max) over the data sets, and how many never got
    there within the iterations."""
    reached = sorted(c for c in counts if c is not None)
    if not reached:
        return "never" if counts else "-"
    text = f"{int(np.median(reached))} [{reached[0]}, {reached[-1]}]"
    missed = len(counts) - len(reached)
    return text + (f", {missed} of {len(counts)} never" if missed else "")


def linear_table(study, args):
    """Iterations to the target loss beside the book's, and where each path ended."""
    w_star, b_star, j_star = study["optimum"]
    usable, drawn = study["reachable"]
    lines = [f"The textbook's linear regression (ch15 Level4): {SAMPLES} points, y = 2x + 3 + "
             f"N(0, {args.noise:g}²), data seed {args.data_seed}; least squares: "
             f"w = {w_star:.4f}, b = {b_star:.4f}, loss {j_star:.6g}. Zero initial weights, "
             f"batch {BATCH}, {args.iterations} iterations; 'iterations' is the first "
             f"iteration whose loss over the {SAMPLES} points is <= {args.target_loss:g}. "
             f"The spread is over the {usable} of data seeds 0-{drawn - 1} whose "
             f"least-squares loss is below {args.target_loss:g} (the others cannot reach it).",
             "",
             f"| optimizer | lr | iterations (data seed {args.data_seed}) | median [min, max] "
             f"over {usable} data sets | the book | w, b after "
             f"{args.iterations} | loss after {args.iterations} |",
             "|---|---|---|---|---|---|---|"]
    for row in study["rows"]:
        lr = "-" if row["label"] == "AdaDelta" else f"{row['lr']:g}"
        reached = "never" if row["iterations"] is None else str(row["iterations"])
        book = BOOK_ITERATIONS.get(row["label"], "-")
        lines.append(f"| {row['label']} | {lr} | {reached} | {_spread_text(row['spread'])} | "
                     f"{book} | {row['final_w']:.4f}, {row['final_b']:.4f} | "
                     f"{row['final_loss']:.6g} |")
    return "\n".join(lines) + "\n"


def plot_linear(experiment, study, args, zoom):
    """A panel per optimizer: its (w, b) path on the loss contours (equal axes: the
    tilted ellipses are the data's, not the figure's); then the loss per iteration.
    ``zoom``: a window of +-0.5 around the least-squares point, as the book's
    second figure, to see the last steps."""
    w_star, b_star, j_star = study["optimum"]
    x, y = study["x"], study["y"]
    if zoom:
        w_range, b_range = (w_star - 0.5, w_star + 0.5), (b_star - 0.5, b_star + 0.5)
    else:
        w_range, b_range = (-0.5, 3.5), (-0.5, 4.5)
    ws, bs = np.meshgrid(np.linspace(*w_range, 200), np.linspace(*b_range, 200))
    js = linear_loss(ws, bs, x, y)
    levels = j_star + np.geomspace(1e-4 if zoom else 2e-3, js.max() - j_star, 14)
    fig = experiment.figure(13, 7.0)
    for i, row in enumerate(study["rows"]):
        ax = fig.add_subplot(2, 4, i + 1)
        ax.contour(ws, bs, js, levels=levels, linewidths=0.6, cmap="viridis")
        points = row["points"]
        ax.plot(points[:, 0], points[:, 1], "-", color="red", linewidth=0.8)
        ax.plot(points[:, 0], points[:, 1], ".", color="red", markersize=2)
        ax.plot(w_star, b_star, "+", color="black", markersize=10)
        ax.set_xlim(*w_range)
        ax.set_ylim(*b_range)
        ax.set_aspect("equal")
        reached = (f"not in {args.iterations} it." if row["iterations"] is None
                   else f"{row['iterations']} it.")
        book = BOOK_ITERATIONS.get(row["label"])
        lr = "" if row["label"] == "AdaDelta" else f" lr {row['lr']:g}"
        ax.set_title(f"{row['label']}{lr}: {reached}"
                     + (f" (book {book})" if book else ""), fontsize=FONT_SIZE - 1)
        ax.set_xlabel("w", fontsize=FONT_SIZE - 1, labelpad=1)
        ax.set_ylabel("b", fontsize=FONT_SIZE - 1, labelpad=1)
        ax.tick_params(labelsize=FONT_SIZE - 2)
    ax = fig.add_subplot(2, 4, 8)
    for i, row in enumerate(study["rows"]):
        ax.plot(np.arange(len(row["losses"])), row["losses"], linewidth=1.1, color=f"C{i}",
                label=row["label"])
    ax.axhline(args.target_loss, color="black", linestyle="--", linewidth=1,
               label=f"target {args.target_loss:g}")
    ax.axhline(j_star, color="gray", linestyle=":", linewidth=1, label="least squares")
    ax.set_yscale("log")
    ax.set_ylim(j_star * 0.8, None)
    tidy_log_axis(ax)
    ax.set_xlabel("iteration", fontsize=FONT_SIZE - 1)
    ax.set_ylabel("loss J(w, b)", fontsize=FONT_SIZE - 1)
    ax.set_title("loss per iteration", fontsize=FONT_SIZE - 1)
    ax.tick_params(labelsize=FONT_SIZE - 2)
    ax.grid(alpha=0.3)
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=9,
               fontsize=FONT_SIZE - 1, frameon=False)
    where = (f"zoomed to ±0.5 around the least-squares point (+) w = {w_star:.3f}, "
             f"b = {b_star:.3f}" if zoom else "from (0, 0) to the least-squares point (+)")
    fig.suptitle(f"The textbook's linear regression, y = 2x + 3 + N(0, {args.noise:g}²): "
                 f"(w, b) after every iteration, batch {BATCH}, {where}\n"
                 f"'it.': iterations until the loss first reaches {args.target_loss:g}",
                 fontsize=FONT_SIZE + 1)
    return fig


# ------------------------------------------------------------------------ the app
def make_parser():
    """The experiment's flags: it trains no net on a data set, so no sweep flags."""
    parser = common.make_parser(NAME, __doc__.splitlines()[0], seed=False, quick=QUICK)
    group = parser.add_argument_group(NAME)
    positive = common.flags.positive_int
    group.add_argument("--steps", type=positive, default=30,
                       help="optimizer steps on the bowls, from (-7, 2)")
    group.add_argument("--iterations", type=positive, default=400,
                       help="linear regression: iterations (batches of 5) per optimizer")
    group.add_argument("--noise", type=common.flags.non_negative, default=0.1,
                       help="linear regression: std of the noise on y = 2x + 3 (the "
                            "textbook's generator: 0.2)")
    group.add_argument("--target-loss", type=common.flags.positive_float, default=0.005,
                       metavar="LOSS",
                       help="linear regression: count the iterations until the loss is <= "
                            "LOSS (the book's yardstick)")
    group.add_argument("--data-seed", type=common.flags.non_negative_int, default=0,
                       help="linear regression: seed of the data set drawn in the figure")
    group.add_argument("--data-seeds", type=positive, default=10,
                       help="linear regression: data sets (seeds 0, 1, ...) for the spread "
                            "of the counts")
    return parser


def body(experiment):
    """Both bowls and the linear regression: figures, tables, JSON summary."""
    args = experiment.args
    experiment.settings.update(
        steps=args.steps, start=list(START),
        optimizers={label: {"optimizer": name, "lr": lr} for label, name, lr in OPTIMIZERS},
        linear_regression={"iterations": args.iterations, "noise": args.noise,
                           "target_loss": args.target_loss, "data_seed": args.data_seed,
                           "data_seeds": args.data_seeds, "samples": SAMPLES,
                           "batch_size": BATCH, "init": "zero",
                           "optimizers": {label: {"optimizer": name, "lr": lr}
                                          for label, name, lr in LINEAR_OPTIMIZERS}})
    rows_by_function = []
    for tag, a in FUNCTIONS:
        paths = [path(name, lr, a, args.steps) for _, name, lr in OPTIMIZERS]
        rows = summary_rows(paths, a)
        rows_by_function.append(rows)
        for label, _, final, below, max_x in rows:
            experiment.variants.append({"function": tag, "variant": label,
                                        "final_f": float(final),
                                        "first_step_below_0.01": None if below == "never"
                                        else int(below), "max_x": float(max_x)})
        experiment.draw(tag, lambda: plot_bowl(experiment, paths, a,
                                               f"f(x, y) = x²/{a:g} + y², {args.steps} steps "
                                               "from (-7, 2)"))
    study = linear_study(args)
    for row in study["rows"]:
        experiment.variants.append({
            "function": "linear_regression", "variant": row["label"], "lr": row["lr"],
            "iterations_to_target": row["iterations"], "over_data_seeds": row["spread"],
            "book_iterations": BOOK_ITERATIONS.get(row["label"]), "final_w": row["final_w"],
            "final_b": row["final_b"], "final_loss": row["final_loss"]})
    w_star, b_star, j_star = study["optimum"]
    experiment.metrics["linear_regression_optimum"] = {"w": w_star, "b": b_star,
                                                       "loss": j_star}
    experiment.metrics["linear_regression_data_sets"] = {"counted": study["reachable"][0],
                                                         "drawn": study["reachable"][1]}
    experiment.draw("linear_regression", lambda: plot_linear(experiment, study, args, False))
    experiment.draw("linear_regression_zoom",
                    lambda: plot_linear(experiment, study, args, True))
    experiment.write_table(bowl_table(rows_by_function, args.steps) + "\n"
                           + linear_table(study, args))


PLOTS = ("x2_20", "x2_10", "linear_regression", "linear_regression_zoom")


def main(argv=None):
    """Run the experiment; return its exit status."""
    return common.run(NAME, make_parser(), body, argv, QUICK, plots=PLOTS)


if __name__ == "__main__":
    sys.exit(main())

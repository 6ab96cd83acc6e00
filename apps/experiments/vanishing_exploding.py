"""Experiment 10: vanishing and exploding gradients in deep MLPs, and the notes' remedies.

    python apps/experiments/vanishing_exploding.py [--epochs 5] [--repeats 3]

Vanishing: MLPs of D sigmoid layers of 64 units (Xavier init, SGD, batch 64) for
each depth of ``--depths``: plain; with residual connections (h <- h + fc(sigmoid(h)),
the same layers with a skip around each); with batch norm or layer norm before
every sigmoid; with layer norm after every sigmoid. Exploding: a plain ReLU MLP of
``--depth`` layers (He init, SGD) at a rate where it diverges (``--high-lr``),
without and with gradient clipping (by global norm, by value) and with a
linear warm-up, beside the same net at a rate it trains at. Within a repeat every
variant starts from the same fc weights and sees the same batches (the comparison
runner's BatchOrder); the gradient RMS of every weight matrix is taken on that
first batch, before any update, at depth ``--depth``.
"""
import math
import sys
from pathlib import Path

if not __package__:     # `python apps/experiments/x.py` from a clone: make `apps` importable
    sys.path[0] = str(Path(__file__).resolve().parents[2])

import argparse  # noqa: E402

import numpy as np  # noqa: E402
from framework import HyperParameters  # noqa: E402
from framework.batch_order import BatchOrder  # noqa: E402
from framework.infra.compare.nets import build_net  # noqa: E402
from framework.infra.compare.report import curves, draw_curves, mean_std  # noqa: E402
from framework.infra.compare.sources import get_source, load_reader  # noqa: E402
from framework.plotting import FONT_SIZE  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullFormatter  # noqa: E402

from apps.support import flags  # noqa: E402
from apps.support import sweeps as common  # noqa: E402

NAME = "vanishing_exploding"
QUICK = {"epochs": 2, "repeats": 2, "train_size": 200, "depths": (2, 5), "depth": 5}
WIDTH, BATCH = 64, 64
SAFE_LR = 0.05          # a rate the plain ReLU net trains at
CLIP_VALUE = 0.003      # the by-value clipping variant's bound
# vanishing variants: the layers between two fc layers (the residual one wraps them
# and the fc after them in a block)
UNITS = {"plain": ["sigmoid"], "residual": ["sigmoid"],
         "batch norm": ["batch_norm", "sigmoid"], "layer norm": ["layer_norm", "sigmoid"],
         "layer norm after": ["sigmoid", "layer_norm"]}


# ------------------------------------------------------------------ the nets
def sigmoid_mlp(kind, depth):
    """Layer specs of a ``depth``-layer sigmoid MLP of ``kind`` (see UNITS): fc, then
    (unit, fc) ``depth - 1`` times (in a residual block each for "residual"), then
    unit, the output fc and softmax. Every kind has the same fc layers."""
    unit = [{"type": layer} for layer in UNITS[kind]]
    specs = [{"type": "fc", "size": WIDTH}]
    for _ in range(depth - 1):
        step = unit + [{"type": "fc", "size": WIDTH}]
        specs += [{"type": "residual", "layers": step}] if kind == "residual" else step
    return specs + unit + [{"type": "fc", "size": 10}, {"type": "softmax"}]


def relu_mlp(depth):
    """A plain ReLU MLP: (fc, relu) ``depth`` times, the output fc and softmax."""
    return [{"type": t, **({"size": WIDTH} if t == "fc" else {})}
            for _ in range(depth) for t in ("fc", "relu")] + [
        {"type": "fc", "size": 10}, {"type": "softmax"}]


def vanishing_variants(depths):
    """{"<kind> D=<depth>": {"layers": specs}} for every kind and depth."""
    return {label(kind, depth): {"layers": sigmoid_mlp(kind, depth)}
            for depth in depths for kind in UNITS}


def label(kind, depth):
    """A vanishing variant's name."""
    return f"{kind} D={depth}"


def exploding_variants(args):
    """The ReLU net at a safe and at a diverging rate; clipping and warm-up at the latter."""
    warmup = {"name": "warmup", "epochs": args.warmup_epochs, "start_factor": 0.1}
    return {f"plain, lr {SAFE_LR:g}": {"learning_rate": SAFE_LR},
            f"plain, lr {args.high_lr:g}": {},
            f"clip norm {args.clip_norm:g}": {"clip_norm": args.clip_norm},
            f"clip value {CLIP_VALUE:g}": {"clip_value": CLIP_VALUE},
            f"warm-up {args.warmup_epochs} epochs": {"lr_schedule": warmup}}


# ------------------------------------------------------------------ gradients at the start
def gradient_rms(experiment, data, params, variants):
    """{variant: [RMS of d(loss)/dW for each weight matrix, input side first]}: on the
    first batch of each repeat's BatchOrder, before any update, the geometric mean
    over the repeats (the runner's seeds: the same weights and batch as its runs)."""
    args = experiment.args
    reader = load_reader(get_source(data["source"]), data, params["net_type"], np.float32)
    found = {}
    for variant, overrides in variants.items():
        logs = []
        for repeat in range(args.repeats):
            seed = args.seed + repeat
            run_params = HyperParameters.from_dict({**params, "seed": seed})
            net = build_net(run_params, overrides["layers"], reader.x_train.shape[1:])
            rows = BatchOrder(reader.num_train, run_params.batch_size, seed).epoch(0)[0]
            grads = net.gradients(reader.x_train[rows], reader.y_train[rows])
            logs.append([math.log10(math.sqrt(float(np.mean(g.astype(np.float64) ** 2))))
                         for key, g in grads.items() if key.endswith("/W")])
        found[variant] = [10 ** v for v in np.mean(logs, axis=0)]
    return found


# ------------------------------------------------------------------ the tables
class Joined:
    """Several sweeps seen as one: their results together (their labels differ)."""

    def __init__(self, sweeps):
        self.results = [result for sweep in sweeps for result in sweep.results]

    def runs(self, variant):
        """The results of one variant, in repeat order."""
        return [r for r in self.results if r.get("variant") == variant]


def final(sweep, variant, key):
    """(mean, sample std, runs with a finite value, runs) of the last record's ``key``."""
    runs = sweep.runs(variant)
    values = [r["final"].get(key) for r in runs if r.get("status") == "ok"]
    values = [v for v in values if v is not None and math.isfinite(v)]
    return (*mean_std(values), len(values), len(runs))


def cell(stats, digits=3):
    """'0.912 ± 0.004' ('(k/n)' when some runs have no value); 'diverged' for none."""
    mean, std, count, total = stats
    if mean is None:
        return "diverged" if total else "failed"
    text = f"{mean:.{digits}f} ± {std:.{digits}f}"
    return text if count == total else f"{text} ({count}/{total})"


def vanishing_table(sweep, depths, depth, rms):
    """Final validation accuracy per kind and depth; gradient RMS at depth ``depth``."""
    lines = [f"| variant | {' | '.join(f'D={d}' for d in depths)} | train acc D={depth} | "
             f"grad RMS fc 1 (D={depth}) | grad RMS output fc |",
             "|---|" + "---|" * (len(depths) + 3)]
    for kind in UNITS:
        accs = [cell(final(sweep, label(kind, d), "val_accuracy")) for d in depths]
        train = cell(final(sweep, label(kind, depth), "train_accuracy"))
        first, last = rms[label(kind, depth)][0], rms[label(kind, depth)][-1]
        lines.append(f"| {kind} | {' | '.join(accs)} | {train} | {first:.2e} | {last:.2e} |")
    return "\n".join(lines) + "\n"


def exploding_table(sweep, names, args):
    """Per variant: how many runs diverged and when; final numbers; how much it clipped."""
    lines = ["| variant | diverged | final train loss | final val acc | steps clipped | "
             "mean grad norm before clipping |", "|---|---|---|---|---|---|"]
    for name in names:
        runs = [r for r in sweep.runs(name) if r.get("status") == "ok"]
        stops = [_diverged_at(r) for r in runs]
        diverged = [e for e in stops if e is not None]
        when = "" if not diverged else f" (epoch {min(diverged):.2f})" \
            if min(diverged) == max(diverged) else \
            f" (epochs {min(diverged):.2f}–{max(diverged):.2f})"
        clipped = _clip_means(runs)
        lines.append(f"| {name} | {len(diverged)} of {len(runs)}{when} | "
                     f"{cell(final(sweep, name, 'train_loss'))} | "
                     f"{cell(final(sweep, name, 'val_accuracy'))} | {clipped} |")
    return "\n".join(lines) + "\n"


def _diverged_at(result):
    """The epoch of a diverged run's last record, or None."""
    history = result["history"]
    if not str(history.get("stop_reason", "")).startswith("diverged"):
        return None
    return history["records"][-1]["epoch"] if history["records"] else 0.0


def _clip_means(runs):
    """'72% | 3.1' over every record of the runs; '– | –' without clipping."""
    records = [rec for r in runs for rec in r["history"]["records"] if "clipped" in rec]
    fractions = [rec["clipped"] for rec in records if rec["clipped"] is not None]
    norms = [rec["grad_norm"] for rec in records if rec.get("grad_norm") is not None]
    if not fractions:
        return "– | –"
    return f"{np.mean(fractions):.0%} | {np.mean(norms):.3g}"


# ------------------------------------------------------------------ the figure
def plot(experiment, parts, depths, depth, rms, names):
    """Top row: vanishing (gradient RMS per layer, accuracy per epoch, accuracy per
    depth); bottom row: exploding (train loss, accuracy, clipping)."""
    vanishing, exploding = parts
    fig = experiment.figure(15, 9)
    kinds = list(UNITS)
    colors = {kind: f"C{i}" for i, kind in enumerate(kinds)}
    ax = fig.add_subplot(2, 3, 1)
    for kind in kinds:
        values = rms[label(kind, depth)]
        ax.plot(range(1, len(values) + 1), values, "o-", color=colors[kind], label=kind,
                markersize=3)
    relu = rms.get("relu")
    if relu:
        ax.plot(range(1, len(relu) + 1), relu, "--", color="gray", label="plain ReLU (He)")
    ax.set_yscale("log")
    ax.set_xlabel("weight layer (1 = input side)")
    ax.set_ylabel("RMS of dL/dW, first batch")
    ax.set_title(f"gradients before training, D={depth}", fontsize=FONT_SIZE)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=FONT_SIZE - 2)
    ax = fig.add_subplot(2, 3, 2)
    draw_curves(ax, vanishing.results, [label(k, depth) for k in kinds], ("val_accuracy",),
                colors=[colors[k] for k in kinds])
    ax.set_ylim(0, 1)
    ax.set_ylabel("validation accuracy")
    ax.set_title(f"sigmoid MLPs, D={depth}", fontsize=FONT_SIZE)
    ax = fig.add_subplot(2, 3, 3)
    for kind in kinds:
        stats = [final(vanishing, label(kind, d), "val_accuracy") for d in depths]
        means = [np.nan if s[0] is None else s[0] for s in stats]
        ax.errorbar(depths, means, yerr=[s[1] or 0 for s in stats], fmt="o-", capsize=3,
                    color=colors[kind], label=kind, markersize=3)
    ax.set_xscale("log")
    ax.set_xticks(depths, [str(d) for d in depths])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_ylim(0, 1)
    ax.set_xlabel("depth D (sigmoid layers)")
    ax.set_ylabel(f"val accuracy after {experiment.args.epochs} epochs")
    ax.set_title("accuracy against depth", fontsize=FONT_SIZE)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=FONT_SIZE - 2)
    _exploding_panels(fig, exploding, names, depth, experiment.args.high_lr)
    fig.suptitle(f"Vanishing (top: sigmoid MLPs, SGD lr {experiment.args.lr:g}) and exploding "
                 f"(bottom: {depth}-layer ReLU MLP, SGD) gradients; mean ± std over "
                 f"{experiment.args.repeats} repeats")
    return fig


def _exploding_panels(fig, sweep, names, depth, high_lr):
    """Train loss (log; a cross where a run diverged), val accuracy, clipping."""
    ax = fig.add_subplot(2, 3, 4)
    draw_curves(ax, sweep.results, names, ("train_loss",))
    ax.set_ylim(0, 3)                   # chance is ln 10 = 2.3; a diverging loss leaves it
    ax.set_ylabel("training loss")
    for name, color in zip(names, [f"C{i}" for i in range(len(names))]):
        for r in sweep.runs(name):
            if r.get("status") == "ok" and _diverged_at(r) is not None:
                ax.plot(_diverged_at(r), 2.3, "x", color=color, markersize=9, mew=2)
    ax.set_title(f"ReLU MLP, D={depth}: training loss (x: diverged)", fontsize=FONT_SIZE)
    ax = fig.add_subplot(2, 3, 5)
    draw_curves(ax, sweep.results, names, ("val_accuracy",), legend=False)
    ax.set_ylim(0, 1)
    ax.set_ylabel("validation accuracy")
    ax.set_title(f"validation accuracy (lr {high_lr:g} unless named)", fontsize=FONT_SIZE)
    ax = fig.add_subplot(2, 3, 6)
    share = ax.twinx()
    clipped = [n for n in names if _has(sweep, n, "grad_norm")]
    for name in clipped:
        color = f"C{names.index(name)}"
        x, mean, _ = curves(sweep.results, name, "grad_norm")
        ax.plot(x, mean, "-", color=color, label=f"{name}: norm before clipping")
        x, fraction, _ = curves(sweep.results, name, "clipped")
        share.plot(x, fraction, ":", color=color, label=f"{name}: steps clipped")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean gradient norm before clipping (solid)")
    _plain_log_labels(ax)
    share.set_ylim(0, 1.05)
    share.set_ylabel("fraction of steps clipped (dotted)")
    ax.set_title("what clipping did", fontsize=FONT_SIZE)
    ax.grid(alpha=0.3)
    if clipped:
        ax.legend(fontsize=FONT_SIZE - 2, loc="lower left")


def _plain_log_labels(ax):
    """Log-axis labels as plain numbers (2, 3, 5 rather than 2×10⁰); minor ticks labelled
    only when the axis spans less than a decade (else they would crowd)."""
    plain = FuncFormatter(lambda value, _: f"{value:g}")
    ax.yaxis.set_major_formatter(plain)
    low, high = ax.get_ylim()
    ax.yaxis.set_minor_formatter(plain if high < 10 * low else NullFormatter())


def _has(sweep, name, key):
    """True if some run of ``name`` recorded a finite ``key``."""
    curve = curves(sweep.results, name, key)
    return curve is not None and bool(np.isfinite(curve[1]).any())


# ------------------------------------------------------------------ the run
def body(experiment):
    """The sweeps (vanishing: one per depth over the kinds; exploding: over its
    variants), the gradient RMS at the start, one figure, one table."""
    args = experiment.args
    depths = sorted(set(args.depths) | {args.depth})
    data = experiment.data_spec(val_size=None if args.quick else 2000)
    sigmoid_params = experiment.params(learning_rate=args.lr, batch_size=BATCH,
                                       optimizer_name="sgd", init_method="xavier")
    relu_params = experiment.params(learning_rate=args.high_lr, batch_size=BATCH,
                                    optimizer_name="sgd", init_method="msra")
    vanishing_base = {"data": data, "params": sigmoid_params, "train": {"checkpoint": 1.0},
                      "layers": sigmoid_mlp("plain", 2)}
    exploding_base = {"data": data, "params": relu_params, "layers": relu_mlp(args.depth),
                      "train": {"checkpoint": 0.25}}
    experiment.settings.update(vanishing=vanishing_base | {"layers": "see variants"},
                               exploding=exploding_base, depths=depths, depth=args.depth,
                               repeats=args.repeats, seed=args.seed)
    variants, parts = {}, []
    for depth in depths:            # a sweep per depth: its curves.png has a short legend
        named = vanishing_variants((depth,))
        parts.append(experiment.sweep(vanishing_base, variants=named,
                                      part=f"vanishing_D{depth}"))
        variants.update(named)
    vanishing = Joined(parts)
    explode = exploding_variants(args)
    exploding = experiment.sweep(exploding_base, variants=explode, part="exploding")
    names = list(explode)
    rms = gradient_rms(experiment, data, sigmoid_params,
                       {label(k, args.depth): variants[label(k, args.depth)] for k in UNITS})
    rms["relu"] = gradient_rms(experiment, data, relu_params,
                               {"relu": {"layers": relu_mlp(args.depth)}})["relu"]
    experiment.metrics.update(
        grad_rms_first_layer={k: v[0] for k, v in rms.items()},
        final_val_accuracy={v: final(vanishing, v, "val_accuracy")[0] for v in variants},
        diverged={n: sum(_diverged_at(r) is not None for r in exploding.runs(n))
                  for n in names})
    experiment.draw("curves", lambda: plot(experiment, (vanishing, exploding), depths,
                                           args.depth, rms, names))
    experiment.write_table(
        f"Vanishing: final validation accuracy of sigmoid MLPs by depth D (SGD lr "
        f"{args.lr:g}, {args.epochs} epochs); gradient RMS on the first batch\n\n"
        + vanishing_table(vanishing, depths, args.depth, rms)
        + f"\nExploding: the {args.depth}-layer ReLU MLP (SGD lr {args.high_lr:g} unless "
          f"named)\n\n" + exploding_table(exploding, names, args))


def depth_list(text):
    """``"2,5,10"`` -> (2, 5, 10): depths of at least 1."""
    sizes = flags.hidden_sizes(text)
    if not sizes:
        raise argparse.ArgumentTypeError(f"expected depths such as 2,5,10, got {text!r}")
    return sizes


def make_parser():
    """The shared sweep flags with this experiment's defaults, and its own."""
    parser = common.make_parser(NAME, __doc__.splitlines()[0], quick=QUICK,
                                sweep={"epochs": 5, "repeats": 3, "train_size": 5000})
    group = parser.add_argument_group("nets")
    group.add_argument("--depths", type=depth_list, default=(2, 3, 5, 10, 20, 30),
                       metavar="D,D,...", help="depths of the sigmoid MLPs")
    group.add_argument("--depth", type=flags.positive_int, default=20,
                       help="depth of the gradient figure and of the ReLU MLP")
    group.add_argument("--lr", type=flags.positive_float, default=0.3,
                       help="SGD rate of the sigmoid MLPs")
    group.add_argument("--high-lr", type=flags.positive_float, default=0.4,
                       help="the rate at which the plain ReLU MLP diverges")
    group.add_argument("--clip-norm", type=flags.positive_float, default=1.0,
                       help="global-norm bound of the clipping variant")
    group.add_argument("--warmup-epochs", type=flags.positive_int, default=2,
                       help="epochs of the warm-up variant's linear warm-up from 0.1 x "
                            "--high-lr")
    return parser


def main(argv=None):
    """Run the experiment; return its exit status."""
    return common.run(NAME, make_parser(), body, argv, QUICK, plots=("curves",))


if __name__ == "__main__":
    sys.exit(main())

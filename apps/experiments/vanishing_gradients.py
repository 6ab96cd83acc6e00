"""Experiment 11: inside a 10-layer net while it trains: vanishing gradients, init, batch norm.

    python apps/experiments/vanishing_gradients.py [--epochs 5] [--depth 10]

The notes' lesson (4.1.2 and 4.3: "梯度消失", gradients that shrink layer by
layer toward the input, and what Xavier/He initialisation and batch norm do
about it), measured on a live net by ``framework.callbacks.LayerMonitor``
rather than drawn after the fact. Four nets of ``--depth`` fully connected
layers of ``--width`` units on MNIST (or ``--dataset clusters``), trained
with SGD + momentum from the same seed on the same batches:

    sigmoid, N(0, 0.01^2)          every sigmoid layer scales the gradient by
                                   ~0.25 x 0.01 x sqrt(width): it vanishes
    sigmoid, Xavier                the weights no longer shrink it, sigmoid's
                                   slope (at most 1/4) still does
    ReLU, He                       slope 1 where active, variance kept: the
                                   gradient reaches the first layer
    sigmoid, N(0, 0.01^2) + BN     batch norm before each sigmoid rescales
                                   every layer's input: the same bad start trains

At the start and at every checkpoint the monitor probes a fixed training
batch: each layer's output std and share of zeros, the RMS of the gradient
reaching each layer, each weight's gradient RMS and update-to-weight ratio.
The figure: the weight-gradient RMS of every layer at the start and at the
end (log scale), the validation accuracy, then one row of heat maps per net
(layers x checkpoints). The table: first- and last-layer gradients, their
ratio, the final accuracy, and what the monitor cost.
"""
import sys
import time
from pathlib import Path

if not __package__:     # `python apps/experiments/x.py` from a clone: make `apps` importable
    sys.path[0] = str(Path(__file__).resolve().parents[2])

import numpy as np  # noqa: E402
from framework import BatchOrder, HyperParameters, NeuralNet, mlp_specs  # noqa: E402
from framework.callbacks import LayerMonitor  # noqa: E402
from framework.diagnostics.figure import LOG_FIELDS, draw_panels, value_range  # noqa: E402
from framework.infra.compare.sources import get_source  # noqa: E402
from framework.plotting import FONT_SIZE  # noqa: E402

from apps.support import sweeps as common  # noqa: E402

NAME = "vanishing_gradients"
QUICK = {"epochs": 1, "train_size": 300, "depth": 4, "width": 16}
VARIANTS = {    # label: (activation, init method, init scale, batch norm)
    "sigmoid, N(0, 0.01²)": ("sigmoid", "normal", 0.01, False),
    "sigmoid, Xavier": ("sigmoid", "xavier", 1.0, False),
    "ReLU, He": ("relu", "msra", 1.0, False),
    "sigmoid, N(0, 0.01²) + BN": ("sigmoid", "normal", 0.01, True),
}
PANELS = ("input_grad_rms", "output_std", "zero_fraction")


def make_parser():
    """The shared flags (seed, outputs, data), the training length and the net's shape."""
    parser = common.make_parser(NAME, __doc__.splitlines()[0], quick=QUICK)
    group = parser.add_argument_group(NAME)
    group.add_argument("--epochs", type=common.flags.positive_int, default=5,
                       help="epochs of every net")
    group.add_argument("--depth", type=common.flags.positive_int, default=10,
                       help="fully connected layers (the last is the output layer)")
    group.add_argument("--width", type=common.flags.positive_int, default=64,
                       help="units of every hidden layer")
    group.add_argument("--lr", type=common.flags.positive_float, default=0.05,
                       help="learning rate (SGD with momentum 0.9, batch 64)")
    group.add_argument("--checkpoint", type=common.flags.positive_float, default=0.25,
                       metavar="EPOCHS", help="epochs between checkpoints (and readings)")
    data = parser.add_argument_group("data")
    common.flags.add_data_flags(data, common.DATASETS)
    common.add_train_size_flag(data, 10000)
    common.add_synthetic_flag(data)
    return parser


def train_variant(experiment, reader, label, order):
    """One net trained with a LayerMonitor; (monitor, history, train seconds)."""
    args = experiment.args
    activation, init, scale, batch_norm = VARIANTS[label]
    params = HyperParameters(learning_rate=args.lr, max_epoch=args.epochs, batch_size=64,
                             net_type="multiple_classifier", init_method=init,
                             init_scale=scale, optimizer_name="momentum", seed=args.seed)
    specs = mlp_specs([args.width] * (args.depth - 1), reader.num_category, activation,
                      batch_norm, classifier="softmax")
    net = NeuralNet.from_specs(params, specs, (reader.num_feature,), "deep")
    monitor = LayerMonitor(reader, seed=args.seed)
    started = time.perf_counter()
    history = net.train(reader, checkpoint=args.checkpoint, callbacks=[monitor],
                        batch_order=order, need_test=False, verbose=0)
    seconds = time.perf_counter() - started
    experiment.log(f"{label}: final val accuracy {history.records[-1].val_accuracy:.4f}, "
                   f"{seconds:.1f} s ({monitor.seconds:.2f} s in the monitor)")
    return monitor, history, seconds


def summary(label, monitor, history, seconds, depth):
    """The variant's row: first/last layer weight-gradient RMS at start and end, ..."""
    first, last = monitor.parameter("fc1/W"), monitor.parameter(f"fc{depth}/W")
    return {"variant": label,
            "grad_rms_first_start": first[0], "grad_rms_last_start": last[0],
            "grad_rms_first_end": first[-1], "grad_rms_last_end": last[-1],
            "last_over_first_start": last[0] / first[0],
            "update_ratio_first_end": monitor.parameter("fc1/W", "update_ratio")[-1],
            "final_val_accuracy": history.records[-1].val_accuracy,
            "train_seconds": seconds, "monitor_seconds": monitor.seconds,
            "readings": len(monitor.reading_epochs)}


def table(rows):
    """The Markdown table of the variants' rows."""
    lines = ["| net | dW RMS fc1 / last, start | ratio | dW RMS fc1 / last, end | "
             "update/weight fc1, end | final val acc | monitor cost |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        cost = row["monitor_seconds"] / max(row["train_seconds"] - row["monitor_seconds"],
                                            1e-9)
        lines.append(
            f"| {row['variant']} | {row['grad_rms_first_start']:.3g} / "
            f"{row['grad_rms_last_start']:.3g} | {row['last_over_first_start']:.3g} | "
            f"{row['grad_rms_first_end']:.3g} / {row['grad_rms_last_end']:.3g} | "
            f"{row['update_ratio_first_end']:.3g} | {row['final_val_accuracy']:.4f} | "
            f"{100 * cost:.0f} % ({row['readings']} readings) |")
    return "\n".join(lines) + "\n"


def plot(experiment, results, depth):
    """Top: dW RMS by depth (start and end) and validation accuracy; below, per net,
    the monitor's heat maps with colour scales shared by all nets."""
    labels = list(results)
    fig = experiment.figure(16, 4.0 + 3.2 * len(labels))
    grid = fig.add_gridspec(1 + len(labels), 3, height_ratios=[1.1] + [1.0] * len(labels))
    ax = fig.add_subplot(grid[0, :2])
    layers = np.arange(1, depth + 1)
    for i, label in enumerate(labels):
        monitor = results[label][0]
        rows = [monitor.parameter(f"fc{k}/W") for k in layers]
        ax.plot(layers, [row[0] for row in rows], "o--", color=f"C{i}", alpha=0.6)
        ax.plot(layers, [row[-1] for row in rows], "o-", color=f"C{i}", label=label)
    ax.set_yscale("log")
    ax.set_xlabel("fully connected layer (1 = next to the input)")
    ax.set_ylabel("RMS of dL/dW")
    ax.set_title("weight-gradient RMS by depth: at the start (dashed) and at the end (solid)",
                 fontsize=FONT_SIZE)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=FONT_SIZE - 1)
    ax = fig.add_subplot(grid[0, 2])
    for i, label in enumerate(labels):
        history = results[label][1]
        ax.plot(history.column("epoch"), history.column("val_accuracy"), color=f"C{i}",
                label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.set_title("validation accuracy", fontsize=FONT_SIZE)
    limits = {field: _shared_range([results[label][0] for label in labels], field)
              for field in PANELS}
    for row, label in enumerate(labels, 1):
        axes = [fig.add_subplot(grid[row, col]) for col in range(len(PANELS))]
        draw_panels(axes, results[label][0], limits, fields=PANELS)
        axes[0].set_ylabel(label, fontsize=FONT_SIZE + 1, fontweight="bold")
    fig.suptitle(f"Inside a {depth}-layer net while it trains (LayerMonitor). Heat maps: "
                 f"layers from the input (top) to the output, colour scales shared by the "
                 f"rows; grey: no value (fc1 computes no dL/dx)", fontsize=FONT_SIZE + 2)
    return fig


def _shared_range(monitors, field):
    lows, highs = zip(*(value_range(m.array(field), field in LOG_FIELDS) for m in monitors))
    return min(lows), max(highs)


def body(experiment):
    """Read the data, train the four nets, write the table and the figure."""
    args = experiment.args
    if args.depth < 2:
        raise common.flags.UsageError("--depth: expected at least 2 layers")
    spec = experiment.data_spec(val_size=1000 if not args.quick else 100)
    reader = get_source(spec["source"])(spec, "multiple_classifier", np.float32)
    experiment.settings.update(data=spec, epochs=args.epochs, depth=args.depth,
                               width=args.width, lr=args.lr, optimizer="momentum",
                               batch_size=64, checkpoint=args.checkpoint, seed=args.seed,
                               variants={label: dict(zip(("activation", "init", "scale",
                                                          "batch_norm"), v))
                                         for label, v in VARIANTS.items()})
    order = BatchOrder(reader.num_train, 64, args.seed)
    results, rows = {}, []
    for label in VARIANTS:
        results[label] = train_variant(experiment, reader, label, order)
        rows.append(summary(label, *results[label], args.depth))
        experiment.runs += 1
    experiment.variants.extend(rows)
    experiment.write_table(table(rows))
    experiment.draw("layers", lambda: plot(experiment, results, args.depth))


def main(argv=None):
    """Run the experiment; return its exit status."""
    return common.run(NAME, make_parser(), body, argv, QUICK, plots=("layers",))


if __name__ == "__main__":
    sys.exit(main())

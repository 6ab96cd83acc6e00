"""Experiment 8: random log-scale search over learning rate and weight decay.

    python apps/experiments/hparam_search.py [--trials 16 --trials2 10] [--epochs 20]

The notes' recipe (section 5): sample hyper-parameters at random on a log
scale, judge them on *validation* data, narrow the ranges around the best
and sample again, and only then touch the test set -- once. Every trial of
a round is a variant of one ``compare`` sweep, so all trials start from the
same weights and batches (repeat k uses seed + k) and are averaged over the
repeats. The sampling has its own seeded generator, so the whole search is
reproducible. The final test evaluation retrains the chosen configuration
with the same seeds (which reproduces its validation numbers exactly) and
evaluates the test set once per repeat.
"""
import math
import sys
from pathlib import Path

if not __package__:     # `python apps/experiments/x.py` from a clone: make `apps` importable
    sys.path[0] = str(Path(__file__).resolve().parents[2])

import numpy as np  # noqa: E402
from framework.infra.compare.report import mean_std  # noqa: E402
from framework.plotting import FONT_SIZE  # noqa: E402

from apps.support import sweeps as common  # noqa: E402

NAME = "hparam_search"
QUICK = {"epochs": 5, "repeats": 1, "train_size": 500, "trials": 8, "trials2": 4, "top": 3}

LR_RANGE = (-4.0, 0.0)        # log10 learning rate
WD_RANGE = (-8.0, -1.0)       # log10 weight decay (L2 lambda)


def sample(rng, n, lr_range, wd_range):
    """``n`` (lr, wd) pairs, log-uniform in the given log10 ranges."""
    return [(float(10 ** rng.uniform(*lr_range)), float(10 ** rng.uniform(*wd_range)))
            for _ in range(n)]


def narrow(scored, top, margin=0.25):
    """log10 ranges spanning the ``top`` best trials, widened by ``margin`` decades."""
    best = sorted(scored, key=lambda t: -t["score"])[:top]
    lrs = [math.log10(t["lr"]) for t in best]
    wds = [math.log10(t["wd"]) for t in best]
    return (min(lrs) - margin, max(lrs) + margin), (min(wds) - margin, max(wds) + margin)


def run_round(experiment, base, name, pairs):
    """One sweep; each trial scored by its final validation accuracy (mean over repeats).

    Accuracy, not loss: the recorded validation loss includes the L2 penalty,
    which would favour small weight decays for the wrong reason.
    """
    variants = {f"lr={lr:.3g},wd={wd:.3g}": {"learning_rate": lr, "regular_name": "l2",
                                             "regular_value": wd} for lr, wd in pairs}
    sweep = experiment.sweep(base, variants=variants, part=name)
    scored = []
    for row, (lr, wd) in zip(sweep.rows, pairs):
        mean, std = row["final_val_accuracy"]
        scored.append({"variant": row["variant"], "lr": lr, "wd": wd, "round": name,
                       "score": -1.0 if mean is None else mean, "std": std or 0.0})
    return scored


def plot(experiment, trials, box, chosen):
    """The trials in the (lr, wd) plane, and validation accuracy against lr."""
    from matplotlib.patches import Rectangle
    fig = experiment.figure(11, 4.6)
    ax = fig.add_subplot(1, 2, 1)
    scores = sorted(max(t["score"], 0) for t in trials)
    low, high = scores[len(scores) // 4], scores[-1]     # spread the colours over the top 3/4
    for marker, name in (("o", "round1"), ("^", "round2")):
        pts = [t for t in trials if t["round"].endswith(name)]
        sc = ax.scatter([t["lr"] for t in pts], [t["wd"] for t in pts], marker=marker,
                        c=[max(t["score"], 0) for t in pts], cmap="viridis", vmin=low, vmax=high,
                        label=name.replace("round", "round "), edgecolors="k", linewidths=0.3)
    (l0, l1), (w0, w1) = box
    ax.add_patch(Rectangle((10 ** l0, 10 ** w0), 10 ** l1 - 10 ** l0, 10 ** w1 - 10 ** w0,
                           fill=False, linestyle="--", color="gray"))
    ax.scatter([chosen["lr"]], [chosen["wd"]], marker="*", s=250, color="red", label="chosen")
    ax.set(xscale="log", yscale="log", xlabel="learning rate (log scale)",
           ylabel="weight decay: L2 lambda (log scale)",
           title="the trials; dashed: round 2's box")
    fig.colorbar(sc, ax=ax).set_label("final validation accuracy", fontsize=FONT_SIZE)
    ax.legend(fontsize=FONT_SIZE - 1)
    ax = fig.add_subplot(1, 2, 2)
    ax.errorbar([t["lr"] for t in trials], [t["score"] for t in trials],
                yerr=[t["std"] for t in trials], fmt="o", markersize=4, capsize=2)
    ax.set(xscale="log", xlabel="learning rate (log scale)",
           ylabel="final validation accuracy", ylim=(0, 1),
           title="validation accuracy against the learning rate")
    ax.grid(alpha=0.3)
    args = experiment.args
    repeats = f"{args.repeats} repeat" + ("s" if args.repeats != 1 else "")
    fig.suptitle(f"Random log-scale search, {len(trials)} trials in two rounds, "
                 f"{args.dataset} ({args.train_size} training samples): each trial's mean "
                 f"over {repeats}" + (", bars ± 1 std" if args.repeats > 1 else ""),
                 fontsize=FONT_SIZE + 1)
    return fig


def report(trials, box, chosen, final_row, test):
    """The ten best trials, the narrowed box, the choice and the one test result."""
    lines = ["| rank | round | learning rate | weight decay | final val acc (mean ± std) |",
             "|---|---|---|---|---|"]
    for i, t in enumerate(sorted(trials, key=lambda t: -t["score"])[:10]):
        lines.append(f"| {i + 1} | {t['round'][-1]} | {t['lr']:.3g} | {t['wd']:.3g} | "
                     f"{common.fmt([t['score'], t['std']])} |")
    (l0, l1), (w0, w1) = box
    lines += ["", f"Round 2 range: lr 10^[{l0:.2f}, {l1:.2f}], wd 10^[{w0:.2f}, {w1:.2f}].",
              f"Chosen on validation only: lr {chosen['lr']:.3g}, wd {chosen['wd']:.3g}.",
              f"Retrained with the same seeds: final val acc "
              f"{common.fmt(final_row['final_val_accuracy'])} (the search's: "
              f"{common.fmt([chosen['score'], chosen['std']])}).",
              f"Test set, used once at the end: accuracy {common.fmt(test)}."]
    return "\n".join(lines) + "\n"


def body(experiment):
    """Round 1, round 2 in the narrowed box, then the chosen setting on the test set."""
    args = experiment.args
    base = {"data": experiment.data_spec(val_size=1000 if not args.quick else 200),
            "net": common.mlp([100] * 4),
            "params": experiment.params(learning_rate=0.01, batch_size=100,
                                        init_method="msra", optimizer_name="sgd"),
            "train": {"checkpoint": 1.0}}
    experiment.settings.update(base=base, repeats=args.repeats, seed=args.seed,
                               trials=args.trials, trials2=args.trials2, top=args.top,
                               search_seed=args.search_seed, lr_range=list(LR_RANGE),
                               wd_range=list(WD_RANGE))
    rng = np.random.default_rng(args.search_seed)
    trials = run_round(experiment, base, "round1",
                       sample(rng, args.trials, LR_RANGE, WD_RANGE))
    box = narrow(trials, args.top)
    trials += run_round(experiment, base, "round2", sample(rng, args.trials2, *box))
    chosen = max(trials, key=lambda t: t["score"])
    final = experiment.sweep({**base, "evaluate_test": True}, part="final",
                             variants={"chosen": {"learning_rate": chosen["lr"],
                                                  "regular_name": "l2",
                                                  "regular_value": chosen["wd"]}})
    test = mean_std([r["test"]["accuracy"] for r in final.results if r["status"] == "ok"])
    experiment.metrics.update(chosen={"lr": chosen["lr"], "wd": chosen["wd"],
                                      "val_accuracy": [chosen["score"], chosen["std"]]},
                              round2_box={"log10_lr": list(box[0]), "log10_wd": list(box[1])},
                              test_accuracy=test)
    experiment.draw("trials", lambda: plot(experiment, trials, box, chosen))
    experiment.write_table(report(trials, box, chosen, final.rows[0], test))


def make_parser():
    """The shared sweep flags with this experiment's defaults, and the search's own."""
    parser = common.make_parser(NAME, __doc__.splitlines()[0], quick=QUICK,
                                sweep={"epochs": 20, "repeats": 2, "train_size": 1000})
    group = parser.add_argument_group(NAME)
    positive = common.flags.positive_int
    group.add_argument("--trials", type=positive, default=16, help="round-1 trials")
    group.add_argument("--trials2", type=positive, default=10, help="round-2 trials")
    group.add_argument("--top", type=positive, default=4,
                       help="best round-1 trials that set the round-2 box")
    group.add_argument("--search-seed", type=common.flags.non_negative_int, default=0,
                       help="seed of the trials' sampling")
    return parser


def main(argv=None):
    """Run the experiment; return its exit status."""
    return common.run(NAME, make_parser(), body, argv, QUICK, plots=("trials",))


if __name__ == "__main__":
    sys.exit(main())

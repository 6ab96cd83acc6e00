"""Predict King County house prices (the textbook's ch14 regression app).

Default net: the textbook's four FC+ReLU layers 32-16-8-4 and one linear
output. What changed from the textbook, and why:

- features: the reader's 19 (the textbook's 13 plus view, the neighbours'
  sqft_living15/sqft_lot15, the sale date and the age/renovation features);
- target: log(price), min-max scaled, so the squared error weighs a 10% miss
  on a cheap house like one on a mansion; predictions are turned back into
  dollars before every metric;
- MSRA init (the right one for ReLU), Adam at lr 0.002 with a cosine decay
  over 150 epochs, batch 32 (the textbook: 16), and the checkpoint with the
  lowest validation loss restored at the end (``--patience N`` adds early
  stopping). The textbook's SGD at lr 0.1 sometimes collapses to a constant
  output (R² ≈ 0).

The 4:1 train/test split is fixed by --split-seed (2019, as the textbook's
data files), so --seed only changes the initial weights and the batch order.

``--textbook`` is the textbook's own run (ch14 Level2): its 13-feature files
(``--dataset textbook``), the price itself min-max scaled, MSRA init, plain
SGD at lr 0.1, batch 16, up to 1,000 epochs, a checkpoint every 10 epochs and
StopDiff 1e-7 (stop when the validation loss changes by less than that).

The plots: predicted against actual price, the residuals (predicted - actual,
as the textbook's ``ShowResult`` draws them) and the training history.

    python apps/house_price.py
    python apps/house_price.py --seed 3 --no-save
    python apps/house_price.py --textbook
    python apps/house_price.py --load weights/house_price_kc-house_seed1.h5
"""
import dataclasses
import sys
from pathlib import Path

if not __package__:     # `python apps/house_price.py` from a clone: make `apps` importable
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import numpy as np  # noqa: E402
from datareaders.download import resolve_data_dir  # noqa: E402
from datareaders.arrays import as_real_array  # noqa: E402
from datareaders.house import HousePriceReader  # noqa: E402
from datareaders.preprocessing import STATISTICS, checked_statistics  # noqa: E402
from framework import LossFunction, NetType, mlp_specs  # noqa: E402
from framework.callbacks import Callback  # noqa: E402

from apps.support.plots import plot_predicted_vs_actual, plot_residuals  # noqa: E402
from apps.support import flags, output, skeleton  # noqa: E402
from apps.support import weights  # noqa: E402
from apps.support.data import require_files  # noqa: E402
from apps.support.weights import load_net  # noqa: E402

COLLAPSE_EPOCHS = 2      # watch for a constant output this long
MAX_ATTEMPTS = 5         # starting points tried before giving up


class CollapseGuard(Callback):
    """Stops training when the net's output is one constant in its first epochs.

    With ReLU and a 4-unit layer, a few starts in a hundred lose every unit of
    that layer within the first epoch (dead ReLUs, which never recover: no
    gradient flows through them). The output is then one number for every
    house, R² 0: the failure the textbook's code shows.
    """

    def __init__(self, x_val):
        self.x_val = x_val
        self.collapsed = False

    def on_checkpoint(self, net, record):
        """Stop (and remember why) at an early checkpoint whose output is constant."""
        if record.epoch <= COLLAPSE_EPOCHS and np.ptp(net.inference(self.x_val)) < 1e-7:
            self.collapsed = True
            net.stop_training = True


class HousePrice(skeleton.App):
    """The house-price regression app."""

    name = "house_price"
    description = "Train (or --load and evaluate) a house-price regression net."
    epilog = (f"A start that collapses to a constant output (dead ReLUs) in its first "
              f"{COLLAPSE_EPOCHS} epochs is restarted from seed + 1000. Data: "
              "<data>/house/kc_house_data.csv, or with --dataset textbook "
              "<data>/aiedu/ch14.house.{train,test}.npz.")
    datasets = ("kc-house", "textbook")
    dataset_aliases = ("--source",)
    data_flags = ("dataset", "split_seed", "price_scale")

    DEFAULTS = flags.AppDefaults(
        hidden=(32, 16, 8, 4), epochs=150, batch_size=32, lr=0.002, optimizer="adam",
        init="msra", lr_schedule="cosine", checkpoint=1.0, keep="best")
    # ch14 Level2_HousePriceRegression: its files, SGD lr 0.1, batch 16, 1000 epochs,
    # MSRA, StopDiff 1e-7, a checkpoint every 10 epochs, the last weights
    TEXTBOOK = flags.AppDefaults(
        hidden=(32, 16, 8, 4), epochs=1000, batch_size=16, lr=0.1, optimizer="sgd",
        init="msra", lr_schedule="constant", checkpoint=10.0, keep="last", stop_diff=1e-7,
        extra={"dataset": "textbook", "price_scale": "linear"})

    net_type = NetType.FITTING

    def add_flags(self, group, argv):
        extra = self.defaults(argv).extra
        group.add_argument("--split-seed", type=flags.non_negative_int, default=2019,
                            help="seed of the 4:1 train/test split of the CSV")
        group.add_argument("--price-scale", choices=("log", "linear"),
                            default=extra.get("price_scale", "log"),
                            help="fit log(price) or the price itself (the textbook)")

    def check_flags(self, args, given):
        if args.dataset == "textbook":
            return [(("split_seed",), "the textbook's files (--dataset textbook) come "
                                      "split"),
                    (("download",), "the textbook's files are not downloadable; they are "
                                    "made by its generator (docs/results.md)")]
        return []

    def plot_kinds(self, run):
        return ("predicted_vs_actual", "residuals")

    def read_data(self, run):
        args, options = run.args, run.options
        log_price = options["price_scale"] == "log"
        if options["dataset"] == "textbook":
            folder = resolve_data_dir(args.data_dir, "aiedu")
            require_files(folder, ("ch14.house.train.npz", "ch14.house.test.npz"),
                          "the textbook's house files", args.data_dir,
                          "--dataset kc-house reads the Kaggle CSV instead")
            reader = HousePriceReader.from_npz(folder / "ch14.house.train.npz",
                                               folder / "ch14.house.test.npz",
                                               log_price=log_price)
        else:
            reader = HousePriceReader(args.data_dir, seed=options["split_seed"],
                                      log_price=log_price, download=args.download,
                                      progress=output.progress_bars_wanted(args.verbose))
        reader.read_data()
        reader.normalize_x()
        reader.normalize_y(NetType.FITTING)
        run.log(f"houses: {reader.num_train:,} for training, {reader.num_test:,} for "
                f"testing, {reader.num_feature} features, target "
                f"{'log(price)' if log_price else 'price'}")
        return reader

    def specs(self, run):
        args = run.args
        return (mlp_specs(args.hidden, 1, args.activation, args.bn, args.dropout),
                run.reader.num_feature)

    def train(self, run, params):
        """Train; if the net collapses to a constant output, start again from seed + 1000.

        The collapse is checked at the checkpoints of the first COLLAPSE_EPOCHS
        epochs (CollapseGuard); such a start is abandoned.
        """
        x_val = (run.reader.get_validation_set() or (run.reader.x_train[:2000],))[0]
        collapsed = run.extra.setdefault("collapsed_seeds", [])
        for attempt in range(MAX_ATTEMPTS):
            seed = params.seed + 1000 * attempt
            guard = CollapseGuard(x_val)
            trained = self.train_net(run, dataclasses.replace(params, seed=seed), [guard],
                                     summary=attempt == 0)
            if not guard.collapsed or trained.interrupted:
                return trained
            collapsed.append(seed)
            run.log(f"seed {seed}: the net collapsed to a constant output (dead ReLUs); "
                    f"restarting from seed {seed + 1000}")
        raise ValueError(f"the net collapsed to a constant output from {MAX_ATTEMPTS} "
                         "starting points; try a smaller --lr or another --init")

    def evaluate(self, run):
        reader, net = run.reader, run.net
        reader.astype(net.params.dtype)
        x_test, y_test = reader.get_test_set()
        output = net.inference(x_test)
        run.scratch["predicted"] = reader.de_normalize_y(output)
        metrics = dollar_metrics(reader.y_test_raw, run.scratch["predicted"])
        loss_function = LossFunction(NetType.FITTING)
        metrics["test_loss"] = float(loss_function.loss(output, y_test))
        metrics["r2_scaled"] = float(loss_function.accuracy(output, y_test))
        metrics["num_test"] = int(y_test.shape[0])
        run.log(f"test R² {metrics['r2']:.4f} (in dollars), MSE/10,000 "
                f"{metrics['mse_per_10000']:,.0f}, RMSE ${metrics['rmse']:,.0f}, "
                f"MAE ${metrics['mae']:,.0f}")
        return metrics

    def plots(self, run, metrics):
        actual, predicted = run.reader.y_test_raw, run.scratch["predicted"]
        plot_predicted_vs_actual(actual, predicted, run.plot_path("predicted_vs_actual"),
                                 f"{run.name}\ntest R² {metrics['r2']:.3f}, "
                                 f"RMSE ${metrics['rmse']:,.0f}")
        plot_residuals(actual, predicted, run.plot_path("residuals"),
                       f"{run.name}\nresiduals of the {metrics['num_test']:,} test houses, "
                       f"MAE ${metrics['mae']:,.0f}")


def dollar_metrics(actual, predicted):
    """R², the textbook's MSE/10,000, RMSE and MAE, all in dollars."""
    actual = np.ravel(actual).astype(np.float64)
    predicted = np.ravel(predicted).astype(np.float64)
    error = predicted - actual
    mse = float(np.mean(error ** 2))
    ss_tot = float(np.sum((actual - actual.mean()) ** 2))
    return {"r2": 1.0 - float(np.sum(error ** 2)) / ss_tot if ss_tot > 0 else 0.0,
            "mse_per_10000": mse / 10000.0,
            "rmse": mse ** 0.5,
            "mae": float(np.mean(np.abs(error)))}


weights.register_data_options(
    HousePrice.name, dataset=weights.one_of(*HousePrice.datasets), split_seed=weights.seed,
    price_scale=weights.one_of("log", "linear"))


def predict_prices(path, features):
    """Prices in dollars for raw feature rows (the reader's columns, unscaled) from a
    net this app saved: the scaling travels in the file, no data file is needed.
    Rows of another width are refused (one column used to be broadcast over all)."""
    net, options, saved = load_net(path, HousePrice.name)
    stats = checked_statistics(saved, str(path), required=STATISTICS)
    x = raw_feature_rows(features, saved["options"].get("feature_names"),
                         stats["x_min"].size)
    x = (x - stats["x_min"]) / stats["x_range"]
    y = net.inference(x.astype(net.params.dtype)) * stats["y_range"] + stats["y_min"]
    return np.exp(y) if options["price_scale"] == "log" else y


def raw_feature_rows(features, names, width):
    """``features`` as float64 rows of ``width`` finite real numbers, else a ValueError
    listing the expected columns."""
    x = as_real_array("predict_prices: features", features).astype(np.float64)
    if x.ndim != 2 or x.shape[1] != width:
        problem = f"shape {x.shape}"
    elif not np.isfinite(x).all():
        problem = "NaN or inf"
    else:
        return x
    columns = ", ".join(map(str, names or ())) or "the columns the net was trained on"
    raise ValueError(f"predict_prices: expected rows of {width} finite raw features "
                     f"({columns}), got {problem}")


def main(argv=None):
    """Run the app; return its exit status."""
    return skeleton.run_app(HousePrice(), argv)


if __name__ == "__main__":
    sys.exit(main())

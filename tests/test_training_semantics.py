"""Training that does what the monitor, the metric and the callback say: one owner of the
best weights, a learning rate callbacks steer, metrics over whole intervals, Keras's
names and meanings for callbacks, fit / evaluate on arrays."""
import contextlib
import io
import math
import os

import numpy as np
import pytest

import framework as fw
from datareaders import ArrayDataReader
from framework.metrics import RSquared
from net_state import same_arrays


def _two_class_reader(n=160, seed=0, noise=1.2):
    """Two overlapping blobs: validation accuracy and loss peak at different checkpoints."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(size=(n, 4)) * noise + y[:, None] * 1.0
    reader = ArrayDataReader(x, y, x[:40], y[:40])
    reader.normalize_y("multiple_classifier")
    reader.generate_validation_set(k=4, seed=seed)
    return reader


def _net(net_type="multiple_classifier", lr=0.05, epochs=20, outputs=2, seed=1, **kwargs):
    params = fw.HyperParameters(lr, epochs, 16, net_type=net_type, seed=seed,
                                optimizer_name=kwargs.pop("optimizer_name", "momentum"),
                                **kwargs)
    classifier = {"multiple_classifier": "softmax", "binary_classifier": "logistic"}.get(net_type)
    return fw.NeuralNet.from_specs(params, fw.mlp_specs([16], outputs, "relu",
                                                        classifier=classifier), (4,))


class Snapshots(fw.Callback):
    """The net's snapshot at every checkpoint."""

    def on_train_begin(self, net, history):
        self.snapshots = []

    def on_checkpoint(self, net, record):
        self.snapshots.append(net.snapshot())


# ----- one owner of "best" ---------------------------------------------------------------
def test_early_stopping_on_val_accuracy_keeps_its_best_and_the_history_agrees():
    net, seen = _net(), Snapshots()
    history = net.train(_two_class_reader(), checkpoint=1, verbose=0, callbacks=[
        seen, fw.EarlyStopping(monitor="val_accuracy", patience=4)])
    accuracies = [r.val_accuracy for r in history.records]
    assert history.monitor == "val_accuracy" and history.kept == "best"
    assert history.best_index == int(np.argmax(accuracies))           # the first maximum
    assert same_arrays(net.snapshot(), seen.snapshots[history.best_index])
    losses = [r.val_loss for r in history.records]
    assert history.best_index != int(np.argmin(losses))   # loss would have picked another
    epoch = history.records[history.best_index].epoch
    assert f"(epoch {epoch:.2f}, val_accuracy " in history.kept_description()


def test_the_apps_line_names_the_checkpoint_the_net_holds():
    from apps.support.training import TrainedNet, describe_stop
    net = _net()
    history = net.train(_two_class_reader(), checkpoint=1, verbose=0,
                        callbacks=[fw.EarlyStopping(monitor="val_accuracy", patience=4)])
    line = describe_stop(TrainedNet(net, history, 1.0, False), "best")
    assert f"epoch {history.best_epoch:.2f}" in line and "val_accuracy" in line


def test_monitors_that_disagree_are_refused_before_the_first_step(tmp_path):
    net = _net()
    with pytest.raises(ValueError, match="ModelCheckpoint monitors 'val_loss'.*judges its "
                                         "best checkpoint by 'val_accuracy'.*one run keeps "
                                         "one best checkpoint"):
        net.train(_two_class_reader(), verbose=0, callbacks=[
            fw.EarlyStopping(monitor="val_accuracy"), fw.ModelCheckpoint(tmp_path / "a.h5")])
    assert net.iteration == 0
    with pytest.raises(ValueError, match="reports 'r2', not 'accuracy'"):
        _net("fitting", outputs=1).train(_fitting_reader(), verbose=0, monitor="val_accuracy")


def test_the_starting_weights_are_a_candidate():
    net = _net(lr=0.05)
    reader = _two_class_reader()
    net.train(reader, epochs=10, checkpoint=1, verbose=0)
    start = net.snapshot()
    # a rate that only makes things worse: every checkpoint is worse than the start
    net.params = fw.HyperParameters(5.0, 40, 16, net_type="multiple_classifier", seed=1,
                                    optimizer_name="momentum")
    history = net.train(reader, epochs=3, checkpoint=1, verbose=0)
    assert history.kept == "start" and history.best_index is None
    assert min(r.val_loss for r in history.records) > history.start_record.val_loss
    assert same_arrays(net.snapshot(), start)
    assert "started from" in history.kept_description()


def test_without_validation_data_the_last_weights_are_kept_and_said():
    reader = _two_class_reader()
    plain = ArrayDataReader(reader.x_train, reader.y_train_raw)
    plain.normalize_y("multiple_classifier")
    net, seen = _net(epochs=4), Snapshots()
    history = net.train(plain, checkpoint=1, verbose=0, callbacks=[seen])
    assert history.kept == "last" and same_arrays(net.snapshot(), seen.snapshots[-1])
    assert "no validation data" in history.kept_description()


# ----- the learning rate -------------------------------------------------------------------
def test_reduce_lr_on_plateau_lowers_the_rate_the_next_step_uses():
    reader = _two_class_reader()
    net = _net(lr=0.1, optimizer_name="sgd", epochs=30)
    plateau = fw.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2, min_delta=0.0)

    class Probe(fw.Callback):
        """After the first reduction: one hand-computed SGD step at the new rate."""
        def on_train_begin(self, net, history):
            self.checked = False

        def on_checkpoint(self, net, record):
            if self.checked:
                net.stop_training = True        # one more interval at the new rate, then stop
            if plateau.reductions and not self.checked:
                self.checked = True
                x, y = reader.x_train[:16], reader.y_train[:16]
                grads = net.gradients(x, y)
                before = {k: p.value.copy() for k, p in net.parameters().items()}
                net.train_step(x, y)                 # the rate net.learning_rate says
                for key, p in net.parameters().items():
                    expected = before[key] - plateau.reductions[0][1] * grads[key]
                    np.testing.assert_allclose(p.value, expected, rtol=1e-5, atol=1e-7)

    probe = Probe()
    history = net.train(reader, checkpoint=1, verbose=0, callbacks=[plateau, probe])
    assert probe.checked and plateau.reductions[0][1] == pytest.approx(0.05)
    rates = history.history["lr"]
    assert rates[0] == pytest.approx(0.1) and rates[-1] == pytest.approx(0.05)
    assert net.learning_rate == pytest.approx(0.05)


def test_learning_rate_scheduler_and_lambda_callback():
    seen = []
    logger = fw.LambdaCallback(on_epoch_begin=lambda net, epoch: seen.append(net.learning_rate))
    net = _net(lr=0.08, epochs=4)
    history = net.train(_two_class_reader(), checkpoint=1, verbose=0, callbacks=[
        fw.LearningRateScheduler(lambda epoch, lr: 0.08 / (1 + epoch)), logger])
    assert history.history["lr"] == pytest.approx([0.08, 0.04, 0.08 / 3, 0.02])
    assert len(seen) == 4
    with pytest.raises(ValueError, match="both set the learning rate"):
        _net(lr_schedule="cosine").train(_two_class_reader(), verbose=0, callbacks=[
            fw.ReduceLROnPlateau()])


def test_the_textbooks_lr_schedule_still_sets_each_epochs_rate():
    net = _net(lr=0.1, epochs=4, lr_schedule={"name": "step", "step_size": 2, "gamma": 0.5})
    history = net.train(_two_class_reader(), checkpoint=1, verbose=0)
    assert history.history["lr"] == [0.1, 0.1, 0.05, 0.05]


# ----- metrics over whole intervals ----------------------------------------------------------
def _fitting_reader(n=96, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    y = np.sin(x[:, :1]) + 0.3 * x[:, 1:2]
    reader = ArrayDataReader(x, y, x[:20], y[:20])
    reader.normalize_y("fitting")
    reader.generate_validation_set(k=4, seed=seed)
    return reader


def test_train_r2_of_a_record_is_r2_over_its_samples():
    reader = _fitting_reader()
    net = _net("fitting", outputs=1, epochs=1, dtype=np.float64, optimizer_name="sgd")
    net.train(reader, epochs=3, checkpoint=1, verbose=0)
    net.learning_rate = 0.0                  # the weights stay put: one R² for all batches
    history = net.train(reader, epochs=1, checkpoint=1, verbose=0)
    record = history.records[-1]
    whole = RSquared().of(net.forward(reader.x_train, train=True), reader.y_train)
    assert record.train_accuracy == pytest.approx(whole, abs=1e-6)
    per_batch = np.mean([RSquared().of(net.forward(x, True), y)
                         for x, y in reader.batches(16, copy=True)])
    assert abs(per_batch - whole) > 1e-3           # what the per-batch mean would have said
    assert list(history.history)[:3] == ["epoch", "loss", "r2"]


# ----- Keras's names and meanings for callbacks -------------------------------------------
def test_patience_counts_epochs_however_often_checkpoints_come():
    history = _net(epochs=60).train(_two_class_reader(), checkpoint=0.25, verbose=0,
                                    callbacks=[fw.EarlyStopping(patience=3)])
    assert history.stop_reason.startswith("early_stop")
    best_epoch = history.best_epoch
    assert history.records[-1].epoch - best_epoch == pytest.approx(3.0)
    late = _net(epochs=60).train(_two_class_reader(), checkpoint=1, verbose=0, callbacks=[
        fw.EarlyStopping(patience=0, start_from_epoch=10)])
    assert late.records[-1].epoch > 10


def test_baseline_and_mode():
    history = _net(epochs=30).train(_two_class_reader(), checkpoint=1, verbose=0, callbacks=[
        fw.EarlyStopping(monitor="val_accuracy", mode="max", baseline=0.999, patience=3)])
    assert len(history) == 3                                  # never beat the baseline
    with pytest.raises(ValueError, match="mode: expected one of"):
        fw.EarlyStopping(mode="up")


def test_model_checkpoint_fills_kerass_templates(tmp_path):
    template = str(tmp_path / "w.{epoch:02d}-{val_loss:.3f}.h5")
    net = _net(epochs=3)
    history = net.train(_two_class_reader(), checkpoint=1, verbose=0, callbacks=[
        fw.ModelCheckpoint(template, save_best_only=False)])
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [f"w.{int(r.epoch):02d}-{r.val_loss:.3f}.h5" for r in history.records]
    assert fw.NeuralNet.load(tmp_path / names[0]).epoch == 1


@pytest.mark.parametrize("template,words", [("w.{val_los}.h5", "val_los"),
                                            ("w.{epoch:.2q}.h5", "ValueError"),
                                            ("w.{accuracy}.h5", "accuracy")])
def test_a_bad_template_is_refused_before_the_first_step(tmp_path, template, words):
    net = _net("fitting", outputs=1) if "accuracy" in template else _net()
    reader = _fitting_reader() if "accuracy" in template else _two_class_reader()
    with pytest.raises(ValueError, match="cannot be filled") as info:
        net.train(reader, verbose=0, callbacks=[fw.ModelCheckpoint(str(tmp_path / template))])
    assert words in str(info.value) and "{epoch}" in str(info.value)
    assert net.iteration == 0


@pytest.mark.parametrize("folder", ["existing", "slash"])
def test_a_folder_as_the_checkpoint_path_is_refused_before_the_first_step(tmp_path, folder):
    target = str(tmp_path) if folder == "existing" else str(tmp_path / "new") + "/"
    net = _net()
    with pytest.raises(ValueError, match="is a folder; expected a file path"):
        net.train(_two_class_reader(), verbose=0, callbacks=[fw.ModelCheckpoint(target)])
    assert net.iteration == 0 and not (tmp_path / "new").exists()


def test_save_best_only_never_overwrites_a_better_file(tmp_path):
    path = tmp_path / "good.h5"
    net = _net(epochs=8)
    reader = _two_class_reader()
    net.train(reader, checkpoint=1, verbose=0, callbacks=[fw.ModelCheckpoint(path)])
    good = fw.NeuralNet.load(path).metadata["model_checkpoint"]["value"]
    worse = _net(lr=40.0, epochs=4, seed=2)         # a run much worse than the saved net
    worse.train(reader, checkpoint=1, verbose=0, callbacks=[fw.ModelCheckpoint(path)])
    assert fw.NeuralNet.load(path).metadata["model_checkpoint"]["value"] == good
    plain = tmp_path / "plain.h5"
    net.save(plain)
    with pytest.raises(ValueError, match="does not record its val_loss.*not overwritten"):
        _net(epochs=2).train(reader, checkpoint=1, verbose=0,
                             callbacks=[fw.ModelCheckpoint(plain)])


def test_save_weights_only_and_strict_booleans(tmp_path):
    net = _net(epochs=2)
    net.train(_two_class_reader(), checkpoint=1, verbose=0, callbacks=[
        fw.ModelCheckpoint(tmp_path / "w.h5", save_weights_only=True)])
    import h5py
    with h5py.File(tmp_path / "w.h5", "r") as f:
        assert "optimizer" not in f
    for make in (lambda: fw.EarlyStopping(restore_best_weights="no"),
                 lambda: fw.ModelCheckpoint("x.h5", save_best_only="false"),
                 lambda: fw.CSVLogger("x.csv", append="no"),
                 lambda: fw.ProgressBar(bar="no")):
        with pytest.raises(ValueError, match="expected True or False"):
            make()


def test_csv_logger_separator_and_append(tmp_path):
    path = tmp_path / "log.csv"
    _net(epochs=2).train(_two_class_reader(), checkpoint=1, verbose=0,
                         callbacks=[fw.CSVLogger(path, separator=";")])
    _net(epochs=2).train(_two_class_reader(), checkpoint=1, verbose=0,
                         callbacks=[fw.CSVLogger(path, separator=";", append=True)])
    lines = path.read_text().splitlines()
    assert lines[0] == "epoch;iteration;lr;loss;accuracy;val_loss;val_accuracy"
    assert len(lines) == 5
    other = tmp_path / "other.csv"
    other.write_text("a;b\n1;2\n")
    with pytest.raises(ValueError, match="has the columns"):
        _net(epochs=1).train(_two_class_reader(), verbose=0,
                             callbacks=[fw.CSVLogger(other, separator=";", append=True)])
    with pytest.raises(ValueError, match="separator"):
        fw.CSVLogger(path, separator="ab")


class KerasStyle(fw.Callback):
    def on_epoch_end(self, epoch, logs=None):
        pass


class TooMany(fw.Callback):
    def on_checkpoint(self, net, record, extra):
        pass


@pytest.mark.parametrize("callback,words", [
    (KerasStyle(), "on_epoch_end(self, net, epoch)"),
    (TooMany(), "on_checkpoint(self, net, record)"),
])
def test_a_hook_with_the_wrong_signature_is_refused_before_the_first_step(callback, words):
    net = _net()
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        net.train(_two_class_reader(), verbose=0, callbacks=[callback])
    assert net.iteration == 0
    with pytest.raises(ValueError, match="on_checkpoint"):
        fw.LambdaCallback(on_checkpoint=lambda record: None)


@pytest.mark.parametrize("verbose", [1, 2])
def test_verbose_prints_one_stop_reason_line(verbose):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        _net(epochs=30).train(_two_class_reader(), checkpoint=1, verbose=verbose,
                              need_test=False, callbacks=[fw.EarlyStopping(patience=2)])
    stops = [line for line in out.getvalue().splitlines() if line.startswith("training stopped")]
    assert len(stops) == 1 and "early_stop" in stops[0] and "kept the best" in stops[0]


# ----- arrays in, numbers out ----------------------------------------------------------------
def test_fit_and_evaluate_take_class_numbers():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(200, 4))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    net = _net(epochs=10)
    history = net.fit(x, y, validation_split=0.2, verbose=0)
    assert len(history.validation_rows) == 40
    assert list(history.history) == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy",
                                     "lr"]
    scores = net.evaluate(x, y, metrics=["mae"])
    assert set(scores) == {"loss", "accuracy", "mae"} and scores["accuracy"] > 0.8
    binary = _net("binary_classifier", outputs=1, epochs=5)
    binary.fit(x, y, verbose=0)
    assert set(binary.evaluate(x, y, metrics=["precision", "recall", "f1"])) == \
        {"loss", "accuracy", "precision", "recall", "f1"}
    loss, accuracy = net.loss(x[:8], y[:8])               # the step API takes them too
    assert accuracy == net.evaluate(x[:8], y[:8])["accuracy"]
    assert set(net.gradients(x[:8], y[:8])) == set(net.parameters())


def test_a_one_output_fitting_net_takes_targets_of_shape_samples():
    """Keras and scikit-learn take a regression target as (samples,): the same run as (samples, 1)."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(120, 4))
    y = x @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.3
    flat, column = _net("fitting", outputs=1, epochs=3), _net("fitting", outputs=1, epochs=3)
    a = flat.fit(x, y, validation_split=0.25, verbose=0)
    b = column.fit(x, y[:, None], validation_split=0.25, verbose=0)
    assert a.history == b.history
    assert flat.evaluate(x, y) == column.evaluate(x, y[:, None])
    assert flat.loss(x[:8], y[:8]) == column.loss(x[:8], y[:8, None])
    two = _net("fitting", outputs=2)
    with pytest.raises(ValueError, match=r"expected labels of shape \(120, 2\)"):
        two.evaluate(x, y)                     # two outputs: one column is not enough


@pytest.mark.parametrize("bad,words", [
    (lambda y: np.eye(2)[y] * 2, "must be 0 or 1"),
    (lambda y: -np.eye(2)[y], "must be 0 or 1"),
    (lambda y: np.zeros((len(y), 2)), "exactly one 1"),
    (lambda y: np.where(np.arange(len(y)) == 3, np.nan, y), "NaN"),
    (lambda y: y + 5, "outside the net's classes 0..1"),
])
def test_labels_a_loss_cannot_use_are_refused_where_they_enter(bad, words):
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(16, 4)), rng.integers(0, 2, 16)
    net = _net()
    before = net.snapshot()
    for call in (lambda: net.train_step(x, bad(y)), lambda: net.gradients(x, bad(y)),
                 lambda: net.loss(x, bad(y)), lambda: net.fit(x, bad(y), verbose=0)):
        with pytest.raises(ValueError, match=words):
            call()
    assert same_arrays(net.snapshot(), before)
    binary = _net("binary_classifier", outputs=1)
    with pytest.raises(ValueError, match="must be 0 or 1"):
        binary.train_step(x, np.where(y == 1, 2, -1).reshape(-1, 1))
    with pytest.raises(ValueError, match="outside the net's classes 0..1"):
        binary.train_step(x, np.where(y == 1, 2, -1))


def _breast_cancer():
    from datareaders import BreastCancerReader
    data = os.environ.get("MINIFRAMEWORK_DATA")
    if not data or not os.path.isdir(os.path.join(data, "breast-cancer")):
        pytest.skip("the breast-cancer set is not in $MINIFRAMEWORK_DATA")
    reader = BreastCancerReader(data).read_data()
    reader.normalize_x(method="z_score")
    return reader


def test_fit_equals_the_reader_path_on_the_breast_cancer_arrays():
    reader = _breast_cancer()
    x_train, y_train = reader.x_train.copy(), reader.y_train_raw.ravel().copy()
    x_test, y_test = reader.x_test.copy(), reader.y_test_raw.ravel().copy()
    reader.normalize_y("binary_classifier")
    reader.generate_validation_set(k=5, seed=0)

    def make():
        params = fw.HyperParameters(0.05, 6, 32, net_type="binary_classifier", seed=7,
                                    optimizer_name="adam")
        return fw.NeuralNet.from_specs(params, fw.mlp_specs([16], 1, "relu",
                                                            classifier="logistic"), (30,))
    by_reader, by_arrays = make(), make()
    a = by_reader.train(reader, checkpoint=1, verbose=0, need_test=False)
    b = by_arrays.fit(x_train, y_train, validation_split=0.2, split_seed=0, verbose=0)
    assert a.records == b.records
    assert same_arrays(by_reader.snapshot(), by_arrays.snapshot())
    loss, accuracy = by_reader.test(reader)
    scores = by_arrays.evaluate(x_test, y_test)
    assert (scores["loss"], scores["accuracy"]) == (loss, accuracy) and accuracy > 0.9


def test_fit_on_mnist_arrays():
    from datareaders import MnistImageDataReader
    data = os.environ.get("MINIFRAMEWORK_DATA")
    if not data or not os.path.isdir(os.path.join(data, "mnist")):
        pytest.skip("MNIST is not in $MINIFRAMEWORK_DATA")
    reader = MnistImageDataReader(data).read_data()
    x, y = reader.x_train[:6000], reader.y_train_raw.ravel()[:6000]
    params = fw.HyperParameters(0.05, 2, 64, net_type="multiple_classifier", seed=1,
                                optimizer_name="momentum", init_method="msra")
    net = fw.NeuralNet.from_specs(params, fw.mlp_specs([64], 10, "relu",
                                                       classifier="softmax"), (784,))
    history = net.fit(x, y, validation_split=0.1, verbose=0)
    assert history.records[-1].val_accuracy > 0.85
    assert net.evaluate(reader.x_test[:2000], reader.y_test_raw.ravel()[:2000])["accuracy"] \
        > 0.85
    assert not math.isnan(history.history["val_loss"][-1])

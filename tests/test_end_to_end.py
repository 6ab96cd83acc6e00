"""End to end: generated data -> reader -> net -> train -> test -> history PNG."""
import numpy as np

import framework as fw
from datareaders.base import ArrayDataReader

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _fc_net(params, sizes, activation, name):
    net = fw.NeuralNet(params, name)
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        net.add_layer(fw.FcLayer(n_in, n_out, params), f"fc{i + 1}")
        if i < len(sizes) - 2:
            net.add_layer(fw.ActivationLayer(activation), f"{activation}{i + 1}")
    return net


def test_fitting_net_learns_a_sine(tmp_path):
    """Test MSE is mean((prediction - y)^2) on the raw scale (y in [-1, 1]),
    after de-normalizing the net's min-max scaled output."""
    rng = np.random.default_rng(0)
    x, x_test = rng.uniform(0, 1, (1000, 1)), rng.uniform(0, 1, (200, 1))
    reader = ArrayDataReader(x, np.sin(2 * np.pi * x), x_test, np.sin(2 * np.pi * x_test))
    reader.normalize_x()
    reader.normalize_y("fitting")
    reader.generate_validation_set(k=10)
    params = fw.HyperParameters(0.01, 150, 32, net_type="fitting", optimizer_name="adam",
                                lr_schedule={"name": "cosine", "total_epochs": 150})
    net = _fc_net(params, [1, 16, 16, 1], "tanh", "sine")
    history = net.train(reader, checkpoint=10, verbose=False)
    prediction = reader.de_normalize_y(net.inference(reader.x_test))
    mse = float(np.mean((prediction - np.sin(2 * np.pi * x_test)) ** 2))
    assert mse < 1e-3
    assert history.test_accuracy > 0.99             # R^2 on the normalized scale
    figure = history.plot(tmp_path / "sine.png", x_axis="iteration")
    assert figure is not None and (tmp_path / "sine.png").stat().st_size > 10_000


def test_classifier_learns_a_three_arm_spiral(tmp_path, spiral_reader):
    reader = spiral_reader(n_train=1500, n_test=500, seed=1)
    params = fw.HyperParameters(0.01, 60, 32, net_type="multiple_classifier",
                                optimizer_name="adam", seed=2)
    net = _fc_net(params, [2, 32, 32, 3], "tanh", "spiral")
    net.add_layer(fw.ClassificationLayer("softmax"), "softmax")
    history = net.train(reader, checkpoint=0.5, verbose=False)
    loss, accuracy = net.test(reader)
    assert accuracy > 0.95
    assert history.best_val_loss == min(r.val_loss for r in history.records)
    path = tmp_path / "history.png"
    history.plot(path)
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 10_000
    history.to_csv(tmp_path / "history.csv")
    assert len((tmp_path / "history.csv").read_text().splitlines()) == len(history) + 1

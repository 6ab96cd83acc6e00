"""Write the weights files of tests/data that a release left behind, for the load tests.

Run it with the release's tree first on the path, from this folder::

    git worktree add /tmp/release 4651d7a      # the last release before named parameters
    PYTHONPATH=/tmp/release python tests/data/make_release_files.py tests/data

It saves, with whatever ``framework`` it imports, an MLP (batch norm, dropout,
Adam state) and a small CNN (spatial batch norm, pooling, NAG state), each
trained a little, and beside each an ``.npz`` with a probe batch, the
predictions of the saving net and every array it saved (``layers/<layer>/<name>``,
``optimizer/<layer>/<param>/<state>``), so a newer release can check that it
loads the same numbers and predicts the same outputs.
"""
import sys

import numpy as np

import framework as fw
from datareaders import ArrayDataReader


def _reader(shape, classes=3, n=96, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n,) + shape).astype(np.float32)
    y = rng.integers(0, classes, n)
    reader = ArrayDataReader(x, y, x[:24], y[:24])
    reader.normalize_y("multiple_classifier")
    return reader


def _save(net, reader, folder, name):
    net.train(reader, checkpoint=1, need_test=False, verbose=0)
    net.save(f"{folder}/{name}.h5")
    probe = reader.get_test_set()[0][:8]
    arrays = {}
    for index, layer_name in enumerate(net.layer_names):
        for key, value in net.layer_arrays(index).items():
            arrays[f"layers/{layer_name}/{key}"] = value
        for i, wb in enumerate(net.layers[index].weights()):
            for key, value in wb.optimizer_state().items():
                arrays[f"optimizer/{layer_name}/{key}"] = np.asarray(value)
    np.savez(f"{folder}/{name}_probe.npz", x=probe, predicted=net.predict(probe), **arrays)


def main(folder):
    mlp = fw.HyperParameters(0.01, 2, 16, net_type="multiple_classifier",
                             optimizer_name="adam", init_method="msra", seed=5)
    net = fw.NeuralNet.from_specs(mlp, fw.mlp_specs([12, 8], 3, "relu", batch_norm=True,
                                                    dropout=0.2, classifier="softmax"), (6,))
    _save(net, _reader((6,)), folder, "release_mlp")
    cnn = fw.HyperParameters(0.05, 2, 16, net_type="multiple_classifier",
                             optimizer_name="nag", init_method="xavier", seed=6)
    specs = [{"type": "conv", "filters": 3, "kernel": 3, "padding": 1},
             {"type": "batch_norm"}, {"type": "relu"}, {"type": "pooling", "size": 2},
             {"type": "flatten"}, {"type": "fc", "size": 3}, {"type": "softmax"}]
    net = fw.NeuralNet.from_specs(cnn, specs, (1, 6, 6))
    _save(net, _reader((1, 6, 6)), folder, "release_cnn")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")

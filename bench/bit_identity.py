"""Do two source trees train bit-identical nets? (the refactor's "results unchanged" check)

    python bench/bit_identity.py OLD_TREE [NEW_TREE=.] [--data-dir DIR]

Each tree trains the same nets in its own process, on one BLAS thread, from the
same seed, on the first 6,000 MNIST training images (random data of that shape
without the files): three MLPs -- momentum; NAG with batch norm, dropout and L2;
Adam with batch norm and L1 -- built with the FcLayer / BatchNormLayer /
DropoutLayer calls every release has had, trained 2 epochs, and the reference CNN
of bench/bench_conv.py (conv 16 + 32 5x5, max pools, FC; SGD) trained one epoch on
the first 2,000 images. Each net is reduced to a SHA-256 of all its weights and
buffers, layer by layer in order (a release that named batch norm's gamma/beta "W"/"B"
is read under the same names), and its test accuracy. Equal digests mean
bit-identical training. Where they differ, the largest difference of any weight
from the old tree's, relative to the largest value of its array, says how far
apart the runs ended (float32 rounding in a changed summation order, for instance
the chunked convolution products of the CNN since issue 23, is ~3e-7 after an
epoch; a changed formula is far more). Exit status 1 if any digest differs.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

WORKER = r'''
import hashlib, json, sys
sys.path.insert(0, sys.argv[1])
import numpy as np
import framework as fw
from datareaders.base import ArrayDataReader
arrays_dir = sys.argv[2]
data_dir = sys.argv[3] if len(sys.argv) > 3 else None
RENAMED = {"gamma": "W", "beta": "B"}


def layer_arrays(net):
    # {layer: {name: array}} of weights and buffers, in either tree's API
    if hasattr(net, "state_dict"):
        found = {name: {} for name in net.layer_names}
        for key, value in net.state_dict().items():
            if "/" in key and not key.startswith("optimizer/"):
                layer, name = key.split("/", 1)
                found[layer][RENAMED.get(name, name)] = value
        return found
    return net.get_state()


def keep_arrays(net, index):
    # every weight and buffer, for the caller's comparison when digests differ
    flat = {f"{layer}/{key}": value for layer, arrays in layer_arrays(net).items()
            for key, value in arrays.items()}
    np.savez(f"{arrays_dir}/{index}.npz", **flat)


def digest_of(net):
    digest = hashlib.sha256()
    for name, arrays in layer_arrays(net).items():
        for key in sorted(arrays):
            digest.update(arrays[key].tobytes())
    return digest.hexdigest()[:16]


def reader_of(mode, rows):
    if data_dir:
        from datareaders import MnistImageDataReader
        r = MnistImageDataReader(data_dir, mode=mode).read_data()
        r.x_train, r.y_train_raw, r.y_train = (r.x_train[:rows], r.y_train_raw[:rows],
                                               r.y_train[:rows])
        r.x_test, r.y_test_raw, r.y_test = r.x_test[:2000], r.y_test_raw[:2000], r.y_test[:2000]
    else:
        rng = np.random.default_rng(0)
        shape = (784,) if mode == "vector" else (1, 28, 28)
        r = ArrayDataReader(rng.random((rows,) + shape, dtype=np.float32),
                            rng.integers(0, 10, rows),
                            rng.random((1000,) + shape, dtype=np.float32),
                            rng.integers(0, 10, 1000))
    r.normalize_y("multiple_classifier")
    r.generate_validation_set(k=10)
    return r


out = {}
r = reader_of("vector", 6000)
for opt, bn, drop, reg in [("momentum", False, 0, "nothing"), ("nag", True, 0.2, "l2"),
                           ("adam", True, 0, "l1")]:
    p = fw.HyperParameters(learning_rate=0.01, max_epoch=2, batch_size=64,
                           net_type="multiple_classifier", init_method="msra",
                           optimizer_name=opt, seed=3, regular_name=reg,
                           regular_value=1e-4 if reg != "nothing" else 0)
    net = fw.NeuralNet(p, "n")
    width = 784
    for i, size in enumerate([64, 32]):
        net.add_layer(fw.FcLayer(width, size, p), f"fc{i}")
        if bn:
            net.add_layer(fw.BatchNormLayer(size, params=p), f"bn{i}")
        net.add_layer(fw.ActivationLayer("relu"), f"relu{i}")
        if drop:
            net.add_layer(fw.DropoutLayer(size, drop), f"drop{i}")
        width = size
    net.add_layer(fw.FcLayer(width, 10, p), "out")
    net.add_layer(fw.ClassificationLayer("softmax"), "softmax")
    history = net.train(r, checkpoint=0.5, verbose=False)
    keep_arrays(net, len(out))
    out[f"MLP {opt}, bn={bn}, dropout={drop}, {reg}"] = [digest_of(net), history.test_accuracy]

images = reader_of("image", 2000)
p = fw.HyperParameters(learning_rate=0.05, max_epoch=1, batch_size=64,
                       net_type="multiple_classifier", optimizer_name="sgd", seed=3)
specs = [{"type": "conv", "filters": 16, "kernel": 5, "padding": 2}, {"type": "relu"},
         {"type": "pooling", "size": 2},
         {"type": "conv", "filters": 32, "kernel": 5, "padding": 2}, {"type": "relu"},
         {"type": "pooling", "size": 2}, {"type": "flatten"},
         {"type": "fc", "size": 10}, {"type": "softmax"}]
net = fw.NeuralNet.from_specs(p, specs, (1, 28, 28), "lenet")
history = net.train(images, checkpoint=0.5, verbose=False)
keep_arrays(net, len(out))
out["reference CNN, sgd"] = [digest_of(net), history.test_accuracy]
print(json.dumps(out))
'''


def run(tree, data_dir, arrays_dir):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               MKL_NUM_THREADS="1", PYTHONPATH="")
    args = [sys.executable, "-c", WORKER, os.path.abspath(tree), arrays_dir] + (
        [data_dir] if data_dir else [])
    done = subprocess.run(args, capture_output=True, text=True, env=env, cwd=tree)
    if done.returncode:
        sys.exit(f"{tree}: worker failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def largest_difference(old_file, new_file):
    """max |new - old| / max |old| over the arrays both nets have, with the array's name."""
    with np.load(old_file, allow_pickle=False) as old, np.load(new_file, allow_pickle=False) as new:
        shared = [name for name in old.files if name in new.files
                  and old[name].shape == new[name].shape]
        if not shared:
            return "(no array of the same name and shape)"
        worst = max(shared, key=lambda name: _relative(old[name], new[name]))
        return f"{_relative(old[worst], new[worst]):.1e} of its array's largest value ({worst})"


def _relative(old, new):
    scale = float(np.abs(old).max()) or 1.0
    return float(np.abs(new.astype(np.float64) - old).max()) / scale


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old_tree")
    parser.add_argument("new_tree", nargs="?", default=".")
    parser.add_argument("--data-dir", default=os.environ.get("MINIFRAMEWORK_DATA"))
    args = parser.parse_args()
    data_dir = args.data_dir if args.data_dir and os.path.isdir(
        os.path.join(args.data_dir, "mnist")) else None
    with tempfile.TemporaryDirectory() as old_dir, tempfile.TemporaryDirectory() as new_dir:
        old = run(args.old_tree, data_dir, old_dir)
        new = run(args.new_tree, data_dir, new_dir)
        same = True
        for index, net in enumerate(old):
            equal = old[net] == new[net]
            same &= equal
            print(f"{'same' if equal else 'DIFFERENT'}  {net}: old {old[net][0]} "
                  f"(test acc {old[net][1]:.4f}), new {new[net][0]} (test acc {new[net][1]:.4f})"
                  + ("" if equal else "; largest weight difference "
                     + largest_difference(f"{old_dir}/{index}.npz", f"{new_dir}/{index}.npz")))
    print("bit-identical" if same else "results differ")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())

"""Do two source trees train bit-identical MLPs? (the refactor's "results unchanged" check)

    python bench/bit_identity.py OLD_TREE [NEW_TREE=.] [--data-dir DIR]

Each tree trains the same three MLPs in its own process, on one BLAS thread,
from the same seed, on the first 6,000 MNIST training images (random data of
that shape without the files): momentum; NAG with batch norm, dropout and L2;
Adam with batch norm and L1. Each net is built with the FcLayer /
BatchNormLayer / DropoutLayer calls every release has had, trained 2 epochs,
and reduced to a SHA-256 of all its weights and buffers. Equal digests mean
bit-identical training. Exit status 1 if any digest differs.
"""
import argparse
import json
import os
import subprocess
import sys

WORKER = r'''
import hashlib, json, sys
sys.path.insert(0, sys.argv[1])
import numpy as np
import framework as fw
from datareaders.base import ArrayDataReader
data_dir = sys.argv[2] if len(sys.argv) > 2 else None
rows = 6000
if data_dir:
    from datareaders import MnistImageDataReader
    r = MnistImageDataReader(data_dir).read_data()
    r.x_train, r.y_train_raw, r.y_train = r.x_train[:rows], r.y_train_raw[:rows], r.y_train[:rows]
else:
    rng = np.random.default_rng(0)
    r = ArrayDataReader(rng.random((rows, 784), dtype=np.float32), rng.integers(0, 10, rows),
                        rng.random((1000, 784), dtype=np.float32), rng.integers(0, 10, 1000))
r.normalize_y("multiple_classifier")
r.generate_validation_set(k=10)
out = {}
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
    digest = hashlib.sha256()
    for name, arrays in net.get_state().items():
        for key in sorted(arrays):
            digest.update(arrays[key].tobytes())
    out[f"{opt}, bn={bn}, dropout={drop}, {reg}"] = [digest.hexdigest()[:16],
                                                      history.test_accuracy]
print(json.dumps(out))
'''


def run(tree, data_dir):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               MKL_NUM_THREADS="1", PYTHONPATH="")
    args = [sys.executable, "-c", WORKER, os.path.abspath(tree)] + ([data_dir] if data_dir else [])
    done = subprocess.run(args, capture_output=True, text=True, env=env, cwd=tree)
    if done.returncode:
        sys.exit(f"{tree}: worker failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old_tree")
    parser.add_argument("new_tree", nargs="?", default=".")
    parser.add_argument("--data-dir", default=os.environ.get("MINIFRAMEWORK_DATA"))
    args = parser.parse_args()
    data_dir = args.data_dir if args.data_dir and os.path.isdir(
        os.path.join(args.data_dir, "mnist")) else None
    old, new = run(args.old_tree, data_dir), run(args.new_tree, data_dir)
    same = True
    for net in old:
        equal = old[net] == new[net]
        same &= equal
        print(f"{'same' if equal else 'DIFFERENT'}  {net}: old {old[net][0]} "
              f"(test acc {old[net][1]:.4f}), new {new[net][0]} (test acc {new[net][1]:.4f})")
    print("bit-identical" if same else "results differ")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())

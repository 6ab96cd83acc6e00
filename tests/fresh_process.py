"""Helper for the round-trip tests (not a test module): load a saved net in a new
Python process, so nothing of the saving process (caches, RNG, imports) can help."""
import json
import os
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_CODE = """
import json, sys
import numpy as np
from framework import NeuralNet
net = NeuralNet.load(sys.argv[1])
np.save(sys.argv[3], net.inference(np.load(sys.argv[2])))
print(json.dumps({"names": net.layer_names, "shapes": [list(s) for s in net.layer_shapes],
                  "epoch": net.epoch, "iteration": net.iteration}))
"""


def load_and_predict(path, x, folder):
    """(predictions for ``x``, {names, shapes, epoch, iteration}) from a fresh process."""
    inputs, outputs = os.path.join(folder, "x.npy"), os.path.join(folder, "y.npy")
    np.save(inputs, x)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", PYTHONPATH=ROOT)
    done = subprocess.run([sys.executable, "-c", _CODE, str(path), inputs, outputs],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    return np.load(outputs), json.loads(done.stdout)

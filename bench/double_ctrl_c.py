"""Press Ctrl-C twice at random moments of real training runs; count what was lost.

    python bench/double_ctrl_c.py [--rounds 25] [--seed 0]

Each round starts a training process (an MLP with batch norm, Adam, a validation
set, one checkpoint per epoch: every checkpoint snapshots the net, and the end
puts the best snapshot back) and, once it has made a few checkpoints, sends it
SIGINT twice: the first at a random moment, the second 0-300 ms later, so the
second press lands anywhere: in a step, in a validation pass, while the best
weights are being restored, while ``on_train_end`` runs (it sleeps 250 ms to widen
that window), or while the thread limit is lifted. A round is lost if the process
dies inside ``train`` (no result printed), or ends with weights that are neither
the best checkpoint's nor the start's (some layers restored, others not). A
second press that arrives after ``train`` has returned ends the program, as
Ctrl-C should; the round is then counted by the result it had already printed.
"""
import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = r'''
import hashlib, json, sys, time
import numpy as np
import framework as fw
from datareaders import ArrayDataReader
rng = np.random.default_rng(0)
x = rng.normal(size=(4000, 20)).astype(np.float32)
y = (x[:, :3].sum(axis=1) > 0).astype(int)
reader = ArrayDataReader(x, y)
reader.normalize_y("multiple_classifier")
reader.generate_validation_set(k=5)
params = fw.HyperParameters(0.01, 1000, 32, net_type="multiple_classifier",
                            optimizer_name="adam", seed=1)
net = fw.NeuralNet.from_specs(params, fw.mlp_specs([256, 256], 2, "relu", batch_norm=True,
                                                   classifier="softmax"), (20,))


def digest(state):
    h = hashlib.sha256()
    for key in sorted(state):
        h.update(np.ascontiguousarray(state[key]).tobytes())
    return h.hexdigest()


class Seen(fw.Callback):
    def on_train_begin(self, net, history):
        self.digests = [digest(net.snapshot())]         # the start
    def on_checkpoint(self, net, record):
        self.digests.append(digest(net.snapshot()))
        if len(self.digests) == 4:
            print("ready", flush=True)
    def on_train_end(self, net, history):
        time.sleep(0.25)


seen = Seen()
history = net.train(reader, checkpoint=0.25, verbose=0, need_test=False, callbacks=[seen])
final = digest(net.snapshot())
kept = {"best": seen.digests[history.best_index + 1] if history.best_index is not None
        else None, "start": seen.digests[0]}.get(history.kept)
print(json.dumps({"reason": history.stop_reason, "kept": history.kept,
                  "consistent": final == kept}), flush=True)
'''


def one_round(rng):
    """(lost?, what happened) of one run pressed twice."""
    env = dict(os.environ, PYTHONPATH=ROOT, OPENBLAS_NUM_THREADS="1")
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
    for line in child.stdout:
        if line.strip() == "ready":
            break
    time.sleep(rng.uniform(0.0, 0.3))
    child.send_signal(signal.SIGINT)
    time.sleep(rng.uniform(0.0, 0.3))
    if child.poll() is None:
        child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=120)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if not lines:
        return True, f"exit {child.returncode}: {err.strip().splitlines()[-1:] or ['no result']}"
    result = json.loads(lines[-1])
    lost = result["reason"] != "interrupted" or not result["consistent"]
    after = " (the second press came after train returned)" if child.returncode else ""
    return lost, (f"{result['reason']}, kept {result['kept']}, consistent "
                  f"{result['consistent']}{after}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    lost = 0
    for number in range(1, args.rounds + 1):
        failed, what = one_round(rng)
        lost += failed
        print(f"round {number:2d}: {'LOST' if failed else 'ok  '} {what}", flush=True)
    print(f"{args.rounds} rounds of two Ctrl-C presses: {lost} lost")
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())

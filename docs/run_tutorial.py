"""Run docs/tutorial.ipynb and store it with its outputs (what a reader sees on GitHub).

    python docs/run_tutorial.py            # MNIST from $MINIFRAMEWORK_DATA, else the stand-in

The notebook runs in a fresh kernel of this interpreter, in an empty temporary
folder, with this checkout first on the import path; the stored copy keeps
the outputs but no timing metadata and a plain "python3" kernel spec, so a
re-run on the same data changes only what training itself changes.
tests/test_docs.py executes the notebook again and checks the stored outputs.
Needs the ``notebook`` (or ``dev``) extra: nbclient, nbformat, ipykernel.
"""
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "docs" / "tutorial.ipynb"
KERNEL = "miniframework-docs"
TIMEOUT = 120
PLAIN_KERNEL = {"name": "python3", "display_name": "Python 3", "language": "python"}


def kernel_folder(base, name=KERNEL):
    """A Jupyter data folder whose one kernel spec runs this interpreter."""
    folder = Path(base) / "jupyter" / "kernels" / name
    folder.mkdir(parents=True)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "MiniFramework", "language": "python"}
    (folder / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    return Path(base) / "jupyter"


def execute(notebook, work, env, kernel=KERNEL, timeout=TIMEOUT):
    """Execute ``notebook`` (an nbformat object) in folder ``work``; return it."""
    import nbclient
    client = nbclient.NotebookClient(notebook, timeout=timeout, kernel_name=kernel,
                                     record_timing=False,
                                     resources={"metadata": {"path": str(work)}})
    client.execute(env=env)
    return notebook


def main():
    """Execute the tutorial and write it back with its outputs."""
    import nbformat
    with tempfile.TemporaryDirectory() as base:
        work = Path(base) / "work"
        work.mkdir()
        env = dict(os.environ, JUPYTER_PATH=str(kernel_folder(base)), TQDM_DISABLE="1",
                   PYTHONPATH=os.pathsep.join([str(ROOT)] + [
                       p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
        os.environ["JUPYTER_PATH"] = env["JUPYTER_PATH"]
        notebook = execute(nbformat.read(NOTEBOOK, as_version=4), work, env)
    notebook.metadata["kernelspec"] = PLAIN_KERNEL
    nbformat.write(notebook, NOTEBOOK)
    print(f"wrote {NOTEBOOK.relative_to(ROOT)} with the outputs of this run")
    return 0


if __name__ == "__main__":
    sys.exit(main())

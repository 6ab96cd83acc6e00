"""The docs that are code: the tutorial notebook runs, docs/api.md is current, every
public name has a docstring.

The notebook is stored with the outputs of a run on MNIST (``python
docs/run_tutorial.py``), so a reader sees them without running it, and is executed
here with nbclient, once on the synthetic stand-in (always: the kernel sees an empty
data folder) and once on MNIST (when ``$MINIFRAMEWORK_DATA`` has it). Its cells assert what they show (the gradient
check passes, a step lowers the batch loss, the reloaded net predicts the same), so a
run that completes is a run whose claims held.
"""
import importlib.util
import json
import os
import re
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "docs" / "tutorial.ipynb"
NOTEBOOK_SECONDS = 60
KERNEL = "miniframework-tests"


def load_make_api():
    """docs/make_api.py as a module (docs/ is a folder of files, not a package)."""
    spec = importlib.util.spec_from_file_location("make_api", ROOT / "docs" / "make_api.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def mnist_available():
    """True if the MNIST reader finds its four files without downloading."""
    from datareaders import DataFileError, MnistImageDataReader
    try:
        MnistImageDataReader().files()
    except DataFileError:
        return False
    return True


def kernel_spec_folder(tmp_path):
    """A Jupyter data folder with one kernel spec: this interpreter running ipykernel.

    The notebook must run on the Python (and packages) the tests run on, not on
    whatever ``python`` an installed "python3" kernel spec finds on the PATH.
    """
    pytest.importorskip("ipykernel", reason="no Jupyter kernel: ipykernel is not "
                        "installed (pip install -e '.[dev]')")
    folder = tmp_path / "jupyter" / "kernels" / KERNEL
    folder.mkdir(parents=True)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "MiniFramework tests", "language": "python"}
    (folder / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    return tmp_path / "jupyter"


def execute_notebook(data_dir, tmp_path, monkeypatch, notebook=None):
    """Run the notebook (the stored one, or ``notebook``) in a fresh kernel whose
    ``MINIFRAMEWORK_DATA`` is ``data_dir``.

    Returns (executed notebook, seconds). The kernel starts in an empty folder
    (``tmp_path / "work"``: a file the notebook wrote would land there) and
    imports this tree's packages.
    """
    nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed "
                                   "(pip install -e '.[dev]')")
    nbclient = pytest.importorskip("nbclient", reason="nbclient is not installed "
                                   "(pip install -e '.[dev]')")
    monkeypatch.setenv("JUPYTER_PATH", str(kernel_spec_folder(tmp_path)))
    work = tmp_path / "work"
    work.mkdir()
    notebook = notebook or nbformat.read(NOTEBOOK, as_version=4)
    for cell in notebook.cells:                 # run it as a reader would open it
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    python_path = [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
                                 if p]
    env = dict(os.environ, MINIFRAMEWORK_DATA=str(data_dir), TQDM_DISABLE="1",
               PYTHONPATH=os.pathsep.join(python_path))
    client = nbclient.NotebookClient(notebook, timeout=NOTEBOOK_SECONDS, kernel_name=KERNEL,
                                     resources={"metadata": {"path": str(work)}})
    start = time.perf_counter()
    client.execute(env=env)
    return notebook, time.perf_counter() - start


def outputs_text(notebook):
    """All stdout/stderr text and error names the executed cells produced (a stored
    notebook's JSON may hold a text as a list of lines)."""
    parts = []
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            text = (output.get("text", "") if output.get("output_type") == "stream"
                    else output.get("ename", ""))
            parts.append("".join(text) if isinstance(text, list) else text)
    return "".join(parts)


def test_the_stored_notebook_has_its_outputs_and_no_machine_paths():
    """Stored as executed (python docs/run_tutorial.py): every code cell ran, in order,
    and shows its output (the figure too), and no path of this machine is in it."""
    text = NOTEBOOK.read_text(encoding="utf-8")
    notebook = json.loads(text)
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert code, "the tutorial has no code cells"
    assert [cell["execution_count"] for cell in code] == list(range(1, len(code) + 1))
    assert all(cell["outputs"] for cell in code), "a code cell without its output"
    assert not any(output.get("output_type") == "error" for cell in code
                   for output in cell["outputs"])
    stored = outputs_text(notebook)
    assert "predicts the same: True" in stored
    assert re.search(r"^(MNIST|synthetic digits): train 9000, validation 1000, test 2000, "
                     r"784 features$", stored, re.M)
    assert sum("image/png" in output.get("data", {}) for cell in code
               for output in cell["outputs"]) == 1
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"
    for marker in ("/work/", "/home/", "/root/", "/tmp/", "C:\\", "shared/data"):
        assert marker not in text, f"docs/tutorial.ipynb names a machine path ({marker!r})"


def test_a_fresh_run_gives_the_stored_notebooks_outputs(tmp_path, monkeypatch):
    """The stored outputs are what the notebook prints: cell by cell the same kinds
    of output, and on the same data the same data line and checks."""
    import copy
    nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed "
                                   "(pip install -e '.[dev]')")
    stored = nbformat.read(NOTEBOOK, as_version=4)
    data_dir = os.environ.get("MINIFRAMEWORK_DATA") if mnist_available() else None
    if data_dir is None:
        pytest.skip("MNIST not found: the stored outputs are of a run on MNIST")
    fresh, _ = execute_notebook(data_dir, tmp_path, monkeypatch, copy.deepcopy(stored))
    def kinds(notebook):
        """Per cell the kinds of output, a run of stream chunks counted once (how a
        stream is cut into chunks depends on the kernel's flushes)."""
        found = []
        for cell in notebook.cells:
            types = [o["output_type"] for o in cell.get("outputs", [])]
            found.append([t for i, t in enumerate(types) if i == 0 or t != types[i - 1]])
        return found

    assert kinds(fresh) == kinds(stored)
    assert outputs_text(fresh).splitlines()[0] == outputs_text(stored).splitlines()[0]


def test_the_notebook_runs_on_synthetic_digits(tmp_path, monkeypatch):
    """Without MNIST the notebook says so and runs every step on the stand-in data."""
    empty = tmp_path / "no-data"
    empty.mkdir()
    notebook, seconds = execute_notebook(empty, tmp_path, monkeypatch)
    text = outputs_text(notebook)
    assert "MNIST not found, so this notebook uses synthetic digits instead" in text
    assert "synthetic digits: train 9000, validation 1000, test 2000, 784 features" in text
    epoch_lines = [line for line in text.splitlines() if line.startswith("epoch ")]
    assert len(epoch_lines) == 4, epoch_lines      # 2 epochs x 2 checkpoints, whole lines
    assert "predicts the same: True" in text
    figures = [output for cell in notebook.cells for output in cell.get("outputs", [])
               if "image/png" in output.get("data", {})]
    assert len(figures) == 1, "history.plot() should show one inline figure"
    left = list((tmp_path / "work").iterdir())
    assert left == [], f"the notebook left files in its working folder: {left}"
    assert seconds < NOTEBOOK_SECONDS, f"the notebook took {seconds:.0f} s"


def test_the_notebook_runs_on_mnist(tmp_path, monkeypatch):
    """With MNIST the same cells train the textbook's net on a slice of it."""
    data_dir = os.environ.get("MINIFRAMEWORK_DATA")
    if not data_dir or not mnist_available():
        pytest.skip("MNIST not found under $MINIFRAMEWORK_DATA/mnist (the synthetic "
                    "run covers the notebook)")
    notebook, seconds = execute_notebook(data_dir, tmp_path, monkeypatch)
    text = outputs_text(notebook)
    assert "MNIST: train 9000, validation 1000, test 2000, 784 features" in text
    assert "predicts the same: True" in text
    assert seconds < NOTEBOOK_SECONDS, f"the notebook took {seconds:.0f} s"


def test_api_md_is_what_the_generator_writes():
    """docs/api.md is generated; a changed signature or docstring must be regenerated."""
    make_api = load_make_api()
    current = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    expected = make_api.render()
    assert current == expected, ("docs/api.md is out of date: run python docs/make_api.py "
                                 "(and commit the result)")


def test_api_md_covers_the_public_surface():
    """The reference lists the names a user meets first, under their modules."""
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    for needle in ("## `framework.net`", "- **class `NeuralNet(params, name='net')`**",
                   "  - `train(data_reader, epochs=None", "  - `train_step(x, y, lr=None)`",
                   "## `datareaders.base`", "- **class `ArrayDataReader(",
                   "- `check_gradients(net, x, y,", "- **enum `NetType`**: `fitting`"):
        assert needle in text, needle
    assert " at 0x" not in text and "<class '" not in text


def test_every_public_name_has_a_docstring():
    """STYLE: every public module, class, function and method says what it is for."""
    make_api = load_make_api()
    missing = make_api.missing_docstrings()
    assert not missing, f"{len(missing)} public names without a docstring: {missing}"


def test_the_docstring_check_can_fail(tmp_path, monkeypatch):
    """The checker sees a missing docstring on a class (a dataclass's made-up one too), a
    method, a property and a function, accepts an override of a documented base method,
    and ignores private and imported names."""
    package = tmp_path / "framework_probe"
    package.mkdir()
    (package / "__init__.py").write_text('"""Probe package."""\n')
    (package / "mod.py").write_text(
        '"""Probe module."""\n'
        'from dataclasses import dataclass\n'
        '@dataclass\nclass Data:\n    x: int\n'
        'class Base:\n    """Documented."""\n    def run(self):\n        """Runs."""\n'
        'class Child(Base):\n    def run(self):\n        return 1\n'
        '    def bare(self):\n        return 2\n'
        '    @property\n    def size(self):\n        return 3\n'
        '    def _private(self):\n        return 4\n'
        'def helper():\n    return 5\n'
        'def _hidden():\n    return 6\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    make_api = load_make_api()
    monkeypatch.setattr(make_api, "PACKAGES", ("framework_probe",))
    modules = make_api.public_modules(("framework_probe",))
    assert make_api.missing_docstrings(modules) == [
        "framework_probe.mod.Data", "framework_probe.mod.Child",
        "framework_probe.mod.Child.bare",
        "framework_probe.mod.Child.size", "framework_probe.mod.helper"]
    sys.modules.pop("framework_probe.mod", None)
    sys.modules.pop("framework_probe", None)

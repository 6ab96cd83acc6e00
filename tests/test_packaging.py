"""The source distribution and the README's quick start, as a newcomer meets them.

The sdist is built from a copy of this tree (so the build writes nothing into the
checkout) with two files planted in the copy: a 2 MB trained-weights file that must
not ship, and a new test importing a new helper that must, because MANIFEST.in takes
whole folders and a test added later has to be shipped without editing it. The full
suite of the unpacked sdist is too slow to run here; collecting it (which imports every
test module and so every helper) is what failed before.
"""
import ast
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHIPPED_FOLDERS = ("tests", "apps", "bench", "docs")     # every file in them must ship
PLANTED_WEIGHTS = "weights/planted_trained_net.h5"
PLANTED_HELPER = "tests/planted_helper.py"
PLANTED_TEST = "tests/test_planted_import.py"
MAX_H5_BYTES = 1 << 20
CACHES = {".git", "__pycache__", ".pytest_cache", ".hypothesis"}
OUTPUTS = {"build", "dist", "out", "runs"}                # top-level folders runs write


def _not_sources(folder, names):
    """copytree's ignore: caches anywhere, run outputs at the top, trained weights."""
    skip = {n for n in names if n in CACHES or n.endswith((".pyc", ".egg-info"))}
    if Path(folder) == ROOT:
        skip |= OUTPUTS & set(names)
    if Path(folder) == ROOT / "weights":
        skip |= {n for n in names if n.endswith(".h5")}
    return skip


def _copy_tree(dest):
    """This checkout without caches, outputs or trained weights, plus the planted files."""
    shutil.copytree(ROOT, dest, ignore=_not_sources)
    with open(dest / PLANTED_WEIGHTS, "wb") as f:
        f.truncate(2 * MAX_H5_BYTES)
    (dest / PLANTED_HELPER).write_text('"""A helper added after MANIFEST.in."""\nVALUE = 1\n')
    (dest / PLANTED_TEST).write_text("from planted_helper import VALUE\n\n\n"
                                     "def test_value():\n    assert VALUE == 1\n")


@pytest.fixture(scope="module")
def sdist(tmp_path_factory):
    """(source copy, path of the built .tar.gz, {member path without the top folder: size})."""
    for module in ("build", "setuptools"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"`{module}` is not installed (pip install -e \".[dev]\")")
    base = tmp_path_factory.mktemp("sdist")
    src, out = base / "src", base / "dist"
    _copy_tree(src)
    done = subprocess.run([sys.executable, "-m", "build", "--sdist", "--no-isolation",
                           "--outdir", str(out), str(src)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (archive,) = out.glob("*.tar.gz")
    with tarfile.open(archive) as tar:
        members = {m.name.split("/", 1)[1]: m.size for m in tar.getmembers()
                   if m.isfile() and "/" in m.name}
    return src, archive, members


def _files_under(folder):
    """Every regular file below ``folder``, relative to its tree, less what MANIFEST.in
    excludes everywhere (caches, temporary files)."""
    tree = folder.parent
    return sorted(p.relative_to(tree).as_posix() for p in folder.rglob("*")
                  if p.is_file() and not CACHES & set(p.parts)
                  and p.suffix not in (".pyc", ".pyo", ".pyd", ".tmp"))


def imported_modules(source):
    """Top-level names of every absolute import in a module, nested ones included."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def local_module_files(tree, name):
    """Files of ``tree`` that ``import name`` from a test would load (tests/ or the root)."""
    candidates = [f"tests/{name}.py", f"tests/{name}/__init__.py", f"{name}.py",
                  f"{name}/__init__.py"]
    return [c for c in candidates if (tree / c).is_file()]


def test_imported_modules_finds_nested_and_from_imports():
    source = ("import os.path\nfrom gradcheck import x\nfrom . import rel\n"
              "def f():\n    import fresh_process as fp\n")
    assert imported_modules(source) == {"os", "gradcheck", "fresh_process"}


def test_sdist_ships_every_module_the_tests_import(sdist):
    src, _, members = sdist
    needed = set()
    for test_file in sorted((src / "tests").rglob("*.py")):
        for name in imported_modules(test_file.read_text(encoding="utf-8")):
            needed.update(local_module_files(src, name))
    assert PLANTED_HELPER in needed                 # the parse sees a helper added later
    assert {"tests/gradcheck.py", "framework/__init__.py"} <= needed
    missing = sorted(needed - set(members))
    assert not missing, f"the sdist lacks modules that tests/ imports: {missing}"


@pytest.mark.parametrize("folder", SHIPPED_FOLDERS)
def test_sdist_ships_whole_folders(sdist, folder):
    src, _, members = sdist
    files = _files_under(src / folder)
    assert files, f"{folder}/ is empty in the source tree"
    missing = [f for f in files if f not in members]
    assert not missing, f"the sdist lacks files of {folder}/: {missing}"


def test_sdist_ships_conftest_data_license_and_readme(sdist):
    src, archive, members = sdist
    for name in ("tests/conftest.py", "LICENSE", "README.md", "MANIFEST.in", PLANTED_TEST):
        assert name in members, f"{name} is missing from {archive.name}"
    assert any(name.startswith("tests/data/") for name in members)
    with tarfile.open(archive) as tar:
        top = tar.getnames()[0].split("/")[0]
        license_text = tar.extractfile(f"{top}/LICENSE").read().decode("utf-8")
        pkg_info = tar.extractfile(f"{top}/PKG-INFO").read().decode("utf-8")
    assert license_text.startswith("MIT License")
    assert license_text == (src / "LICENSE").read_text(encoding="utf-8")
    assert re.search(r"^License: MIT$", pkg_info, re.M), pkg_info[:800]


def test_sdist_ships_no_trained_weights(sdist):
    _, _, members = sdist
    assert PLANTED_WEIGHTS not in members
    in_weights = sorted(name for name in members
                        if name.startswith("weights/") and name.endswith(".h5"))
    assert not in_weights, f"trained weights in the sdist: {in_weights}"
    too_big = {name: size for name, size in members.items()
               if name.endswith(".h5") and size > MAX_H5_BYTES}
    assert not too_big, f".h5 files over 1 MB in the sdist: {too_big}"


def machine_paths(root, build_copy, home):
    """Regexes for absolute paths of this machine that must not be written into shipped text.

    Folders of this machine's own (the checkout, the build copy, the data) match as whole
    paths; the folders they live in (the workspace, the home folder) only with a name
    after them, so a test listing "/home/" as a marker to look for is not a path.
    """
    folders = {root, build_copy, root.parent / "shared" / "data"}
    if os.environ.get("MINIFRAMEWORK_DATA"):
        folders.add(Path(os.environ["MINIFRAMEWORK_DATA"]).resolve())
    parents = {root.parent, home} - {Path(root.anchor), Path(tempfile.gettempdir())}
    return ([re.compile(re.escape(str(f)) + r"(?![\w.-])") for f in folders]
            + [re.compile(re.escape(str(p)) + r"/[\w.~-]") for p in parents])


def test_machine_paths_are_whole_paths_not_markers():
    paths = machine_paths(Path("/srv/ws/main"), Path("/srv/build/src"), Path("/home/me"))
    lines = ["see /srv/ws/main/README.md", "cd /srv/ws/main", "/srv/ws/other", "/home/me/.cache",
             "/srv/build/src", "data in /srv/ws/shared/data", "main/docs", "~/.cache",
             '("/srv/ws/", "/home/me/")', "/srv/ws/main2"]
    hits = [line for line in lines if any(p.search(line) for p in paths)]
    assert hits == lines[:6] + lines[-1:]


def test_sdist_has_no_machine_paths(sdist):
    src, archive, _ = sdist
    paths = machine_paths(ROOT, src, Path.home())
    found = []
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            try:
                text = tar.extractfile(member).read().decode("utf-8")
            except UnicodeDecodeError:
                continue                           # images, HDF5, npz: not prose
            for n, line in enumerate(text.splitlines(), 1):
                found += [f"{member.name}:{n}: {line.strip()[:120]}"
                          for p in paths if p.search(line)]
    assert not found, "machine paths in shipped files:\n" + "\n".join(found)


def test_unpacked_sdist_collects_its_tests(sdist, tmp_path):
    _, archive, members = sdist
    with tarfile.open(archive) as tar:
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(tmp_path, **safe)           # "data": no links or paths out of tmp_path
    (unpacked,) = tmp_path.iterdir()
    env = dict(os.environ, PYTHONPATH=str(unpacked))
    where = subprocess.run([sys.executable, "-c", "import framework; print(framework.__file__)"],
                           cwd=unpacked, env=env, capture_output=True, text=True, timeout=60)
    assert Path(where.stdout.strip()).is_relative_to(unpacked), where.stdout + where.stderr
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                           "-p", "no:cacheprovider"],
                          cwd=unpacked, env=env, capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]            # 2 on any collection error
    collected = re.search(r"^(\d+) tests? collected", output, re.M)
    assert collected and int(collected.group(1)) > 0, output[-2000:]
    files = {line.split("::")[0] for line in output.splitlines() if "::" in line}
    assert PLANTED_TEST in files                   # a test added later is shipped and runs
    assert files <= set(members)


def quick_start_code(readme_text):
    """The python blocks of the README's "Quick start" section, joined in order."""
    match = re.search(r"^## Quick start\n(.*?)(?=^## )", readme_text, re.M | re.S)
    assert match, "README.md has no '## Quick start' section"
    blocks = re.findall(r"^```python\n(.*?)^```", match.group(1), re.M | re.S)
    assert blocks, "the quick start has no ```python block"
    return "\n".join(blocks)


def test_quick_start_code_takes_only_that_section():
    text = ("# T\n## Quick start\n```python\na = 1\n```\nprose\n```python\nb = a\n```\n"
            "## Other\n```python\nc = 3\n```\n")
    assert quick_start_code(text) == "a = 1\n\nb = a\n"


def _mnist_env():
    """Environment in which the quick start finds MNIST the way a user's shell would, or skip."""
    from datareaders import MnistImageDataReader
    from datareaders.errors import DataFileError
    path = [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(path))
    try:
        MnistImageDataReader().files()
    except DataFileError:
        from reader_files import real_data_dir
        env["MINIFRAMEWORK_DATA"] = str(real_data_dir("mnist").parent)
    return env


def fw_load(path):
    from framework import NeuralNet
    return NeuralNet.load(path)


def test_readme_quick_start(tmp_path):
    code = quick_start_code((ROOT / "README.md").read_text(encoding="utf-8"))
    env = _mnist_env()
    (tmp_path / "quick_start.py").write_text(code, encoding="utf-8")
    done = subprocess.run([sys.executable, "quick_start.py"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert (tmp_path / "history.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from framework import NeuralNet
    net = NeuralNet.load(tmp_path / "mnist.h5")
    assert net.layer_names[0] == "fc1" and net.layer_names[-1] == "softmax"
    assert net.epoch >= 1
    assert "lenet" in done.stdout                  # the CNN block's summary was printed
    # the steering block: two more epochs, a CSV row per checkpoint (ten an epoch), the best
    rows = (tmp_path / "log.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,iteration,lr,loss,accuracy") and len(rows) == 1 + 20
    assert fw_load(tmp_path / "best.h5").epoch in (net.epoch, net.epoch + 1, net.epoch + 2)
    assert "kept the best checkpoint by val_loss" in done.stdout
    assert "'accuracy':" in done.stdout           # evaluate's dict on arrays


# ------------------------------------------------------ the wheel (issue 22)
APP_COMMANDS = {"miniframework-mnist": "apps.mnist_classify", "miniframework-cifar":
                "apps.cifar_classify", "miniframework-house": "apps.house_price",
                "miniframework-curve": "apps.curve_fitting", "miniframework-binary":
                "apps.binary_classify", "miniframework-compare": "apps.compare",
                "miniframework-experiment": "apps.experiments.__main__",
                "miniframework": "apps.__main__"}


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(venv python, bin folder, wheel members): the wheel built from a copy of this
    tree and installed into a fresh virtual environment outside the clone (its
    dependencies from this interpreter's site-packages: the test needs no network)."""
    for module in ("build", "setuptools", "pip"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"`{module}` is not installed (pip install -e \".[dev]\")")
    base = tmp_path_factory.mktemp("wheel")
    src, out, venv = base / "src", base / "dist", base / "venv"
    _copy_tree(src)
    done = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation",
                           "--outdir", str(out), str(src)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (wheel,) = out.glob("*.whl")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages",
                    str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                           "--no-deps", "--no-index", str(wheel)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    import zipfile
    with zipfile.ZipFile(wheel) as archive:
        members = archive.namelist()
        entry_points = next(archive.read(name).decode() for name in members
                            if name.endswith("entry_points.txt"))
    return python, venv / "bin", members, entry_points


def _in(folder, argv, **env):
    """Run ``argv`` in ``folder`` with none of this clone on the import path."""
    from app_runs import app_env
    environment = {**app_env(), **env}
    return subprocess.run([str(a) for a in argv], cwd=folder, env=environment,
                          capture_output=True, text=True, timeout=300)


def test_the_wheel_holds_the_apps_and_their_commands(installed):
    _, _, members, entry_points = installed
    for module in ("apps/__init__.py", "apps/__main__.py", "apps/support/skeleton.py",
                   "apps/experiments/__main__.py", "apps/experiments/optimizer_paths.py",
                   "framework/__init__.py", "datareaders/__init__.py"):
        assert module in members, module
    assert not [m for m in members if m.startswith(("tests/", "bench/", "docs/"))]
    for command, module in APP_COMMANDS.items():
        assert re.search(rf"^{command} = {re.escape(module)}:main$", entry_points, re.M), \
            (command, entry_points)


def test_installed_apps_train_save_and_reload_from_any_folder(installed, tmp_path):
    """The console script and ``python -m`` of the installed package, in an empty
    folder: the library is the wheel's, a net is trained, saved there and reloaded."""
    python, bin_folder, _, _ = installed
    where = _in(tmp_path, [python, "-c", "import framework, apps; "
                                         "print(framework.__file__); print(apps.__file__)"])
    assert where.returncode == 0, where.stderr
    for path in where.stdout.split():
        assert Path(path).is_relative_to(python.parent.parent), path
    trained = _in(tmp_path, [bin_folder / "miniframework-curve", "--dataset", "generated",
                             "--epochs", 3, "--restarts", 1, "--quiet"])
    assert trained.returncode == 0, trained.stderr
    result = json.loads(trained.stdout)
    weights = tmp_path / "weights" / "curve_fitting_generated_seed1.h5"
    assert result["weights"] == str(Path("weights") / weights.name) and weights.is_file()
    assert all((tmp_path / p).is_file() for p in result["plots"])
    again = _in(tmp_path, [python, "-m", "apps.curve_fitting", "--load", weights, "--quiet"])
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["metrics"] == result["metrics"]
    binary = _in(tmp_path, [python, "-m", "apps", "binary_classify", "--arc-points", 40,
                            "--epochs", 2, "--no-plots", "--quiet"])
    assert binary.returncode == 0, binary.stderr
    assert json.loads(binary.stdout)["app"] == "binary_classify"


def test_python_m_apps_lists_the_apps_and_experiments(installed, tmp_path):
    python, bin_folder, _, _ = installed
    listed = _in(tmp_path, [python, "-m", "apps"])
    assert listed.returncode == 0, listed.stderr
    for name, command in (("mnist_classify", "miniframework-mnist"),
                          ("house_price", "miniframework-house"),
                          ("compare", "miniframework-compare")):
        assert re.search(rf"^\s+{name}\s+{command}\s", listed.stdout, re.M), listed.stdout
    experiments = _in(tmp_path, [bin_folder / "miniframework-experiment"])
    assert experiments.returncode == 0 and "optimizer_paths" in experiments.stdout
    unknown = _in(tmp_path, [python, "-m", "apps", "nope"])
    assert unknown.returncode == 2 and "no app 'nope'" in unknown.stderr


@pytest.mark.parametrize("shadow", ["framework.py", "framework/__init__.py"])
def test_a_students_framework_module_is_named_not_imported(shadow, installed, tmp_path):
    """``python -m`` puts the working folder first on the path: a file there named
    framework would be imported instead of the library; the apps say so in one line."""
    python, _, _, _ = installed
    path = tmp_path / shadow
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("raise SystemExit('the student code ran')\n")
    done = _in(tmp_path, [python, "-m", "apps.mnist_classify", "--help"])
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "the student code ran" not in done.stderr
    assert done.stderr.startswith(f"apps: error: 'import framework' finds "
                                  f"{tmp_path / shadow}, not MiniFramework's framework "
                                  "package"), done.stderr
    assert "Rename it" in done.stderr

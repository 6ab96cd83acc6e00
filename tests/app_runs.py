"""What the app tests share: the environment an app subprocess runs in, and
reading an app's ``--help``."""
import os


def app_env():
    """The environment for an app subprocess: one BLAS thread, no window, and none of
    the caller's data folder, progress-bar switch or import path leaking in."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               MKL_NUM_THREADS="1", MPLBACKEND="Agg")
    for name in ("MINIFRAMEWORK_DATA", "TQDM_DISABLE", "PYTHONPATH"):
        env.pop(name, None)
    return env


def option_entries(help_text):
    """{first flag: its help entry, whitespace folded} from an argparse help text."""
    entries, current = {}, None
    for line in help_text.splitlines():
        stripped = line.strip()
        if line.startswith("  -") and not line.startswith("   "):
            current = stripped.split()[0].rstrip(",")
            entries[current] = stripped
        elif current and line.startswith("   ") and stripped:
            entries[current] += " " + stripped
        else:
            current = None
    return {flag: " ".join(text.split()) for flag, text in entries.items()}

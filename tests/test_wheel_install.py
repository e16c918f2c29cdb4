"""A non-editable wheel carries tasks/ and judges/, and a task runs from it."""

import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from misalign_eval.runs.reader import latest_results_file, load_task_results

from conftest import run, sim_judge_env, subject_args

ROOT = Path(__file__).parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(ROOT)],
                   check=True, capture_output=True, text=True, timeout=600)
    (built,) = out.glob("misalign_eval-*.whl")
    return built


@pytest.fixture(scope="module")
def wheel_python(wheel, tmp_path_factory):
    """A fresh venv with only the wheel installed; dependencies are borrowed from this
    environment through a .pth path entry, so no package index is needed."""
    env_dir = tmp_path_factory.mktemp("venv")
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)],
                   check=True, capture_output=True, text=True, timeout=600)
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "borrowed_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python, env_dir


def test_wheel_contains_tasks_probes_and_rubrics(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in ("misalign_eval/tasks/em_core.yaml", "misalign_eval/tasks/probes/em_core.jsonl",
                     "misalign_eval/judges/alignment.yaml", "misalign_eval/judges/coherence.yaml"):
        assert expected in names


def test_task_runs_from_the_installed_wheel(wheel_python, sim, tmp_path):
    python, env_dir = wheel_python
    # Run from elsewhere: in the checkout, "python -c" would import the source tree instead.
    where = subprocess.run([str(python), "-c", "import misalign_eval; print(misalign_eval.__file__)"],
                           check=True, capture_output=True, text=True, cwd=tmp_path).stdout
    assert where.startswith(str(env_dir)), where  # the wheel, not this checkout
    tasks_path = run([str(python), "-m", "misalign_eval", "tasks-path"], env=sim_judge_env(sim),
                     cwd=tmp_path)
    assert tasks_path.stdout.strip().startswith(str(env_dir))
    assert (Path(tasks_path.stdout.strip()) / "em_core.yaml").is_file()
    proc = run([str(python), "-m", "lm_eval", "--include_path", tasks_path.stdout.strip(),
                *subject_args(sim, tmp_path, 3)], env=sim_judge_env(sim), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (result,) = load_task_results(latest_results_file(tmp_path))
    assert result.metrics["n_answers"] == 30

"""Instructions executed per step, counted by valgrind's callgrind: noise-free, unlike time.

For each loop of ``bench/loop_overhead.py`` (hand-written baselines, ``train()`` with a
TrainUnit, ``train()`` with an AutoUnit) it counts a run of 200 and a run of 600 steps, each
after a 50-step warm-up, and reports (count_600 - count_200) / 400: the instructions one step
costs, start-up excluded. Needs valgrind (Debian package ``valgrind``); takes a few minutes.

Run: ``.venv/bin/python bench/instructions.py``.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
LOOPS = {
    "hand-written": "hand_written",
    "train() + TrainUnit": "torchtnt_train_unit",
    "  + progress bar + logger": "torchtnt_bar_and_logger",
    "hand-written (AutoUnit work)": "hand_written_auto_work",
    "train() + AutoUnit": "torchtnt_auto_unit",
}
SIZES = (200, 600)


def run_loop(function: str, steps: int) -> None:
    """Child mode: warm up, then run ``function`` over ``steps`` batches."""
    sys.path.insert(0, HERE)
    import loop_overhead as lo

    torch.set_num_threads(1)
    for n in (50, steps):  # warm-up, then the counted run (the loops check NUM_BATCHES)
        lo.NUM_BATCHES = n
        getattr(lo, function)(lo.make_batches())


def count(function: str, steps: int, out_dir: str) -> int:
    out = os.path.join(out_dir, f"{function}.{steps}")
    # One thread everywhere: idle BLAS / OpenMP workers spinning would add noise to the count.
    # A fixed hash seed: string hashes decide dict layouts, which change the count run to run.
    env = dict(
        os.environ,
        OMP_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        PYTHONHASHSEED="0",
    )
    result = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            sys.executable,
            __file__,
            function,
            str(steps),
        ],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return int(re.search(r"Collected : (\d+)", result.stderr).group(1))


def main() -> None:
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed: apt-get install valgrind")
    per_step = {}
    with tempfile.TemporaryDirectory() as out_dir:
        for name, function in LOOPS.items():
            small, large = (count(function, n, out_dir) for n in SIZES)
            per_step[name] = (large - small) / (SIZES[1] - SIZES[0])
    print(f"{'loop':<30}{'instructions/step':>20}{'over baseline':>16}")
    for name, baseline in (
        ("hand-written", None),
        ("train() + TrainUnit", "hand-written"),
        ("  + progress bar + logger", "train() + TrainUnit"),
        ("hand-written (AutoUnit work)", None),
        ("train() + AutoUnit", "hand-written (AutoUnit work)"),
    ):
        extra = f"{per_step[name] - per_step[baseline]:+16,.0f}" if baseline else ""
        print(f"{name:<30}{per_step[name]:>20,.0f}{extra}")


if __name__ == "__main__":
    if len(sys.argv) == 3:
        run_loop(sys.argv[1], int(sys.argv[2]))
    else:
        main()

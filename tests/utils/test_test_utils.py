import sys
import unittest

import torch

from torchtnt.utils import distributed
from torchtnt.utils.test_utils import (
    captured_output,
    get_pet_launch_config,
    is_asan,
    is_asan_or_tsan,
    is_tsan,
    skip_if_asan,
    skip_if_not_distributed,
    skip_if_not_gpu,
    spawn_multi_process,
)


def test_captured_output_collects_and_restores_streams() -> None:
    old_out, old_err = sys.stdout, sys.stderr
    with captured_output() as (out, err):
        print("to stdout")
        print("to stderr", file=sys.stderr)
    assert out.getvalue() == "to stdout\n"
    assert err.getvalue() == "to stderr\n"
    assert (sys.stdout, sys.stderr) == (old_out, old_err)


def test_captured_output_restores_streams_on_error() -> None:
    old_out = sys.stdout
    try:
        with captured_output():
            raise KeyError("x")
    except KeyError:
        pass
    assert sys.stdout is old_out


def test_get_pet_launch_config() -> None:
    config = get_pet_launch_config(3)
    assert (config.min_nodes, config.max_nodes, config.nproc_per_node) == (1, 1, 3)
    assert (config.rdzv_backend, config.rdzv_endpoint) == ("c10d", "localhost:0")
    assert (config.max_restarts, config.monitor_interval) == (0, 1)
    assert len(config.run_id) == 36
    assert get_pet_launch_config(3).run_id != config.run_id


def test_sanitizer_detection_in_a_normal_build() -> None:
    assert (is_asan(), is_tsan(), is_asan_or_tsan()) == (False, False, False)


def test_skip_if_asan_runs_the_test_normally() -> None:
    calls = []

    @skip_if_asan
    def body(x: int) -> int:
        calls.append(x)
        return x + 1

    assert body(1) == 2 and calls == [1]
    assert body.__name__ == "body"


def _run_case(decorator: object) -> unittest.TestResult:
    class Case(unittest.TestCase):
        @decorator  # type: ignore[misc]
        def test_it(self) -> None:
            pass

    result = unittest.TestResult()
    Case("test_it").run(result)
    return result


def test_skip_decorators_follow_availability() -> None:
    gpu = _run_case(skip_if_not_gpu)
    assert (len(gpu.skipped) == 1) == (not torch.cuda.is_available())
    distributed_result = _run_case(skip_if_not_distributed)
    assert len(distributed_result.skipped) == (0 if torch.distributed.is_available() else 1)
    assert distributed_result.wasSuccessful()


def test_spawn_multi_process_is_re_exported() -> None:
    assert spawn_multi_process is distributed.spawn_multi_process

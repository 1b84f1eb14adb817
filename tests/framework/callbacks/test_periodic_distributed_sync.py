import time
from typing import List, Tuple

import pytest

from torchtnt.framework._test_utils import (
    DummyEvalUnit,
    DummyPredictUnit,
    generate_random_dataloader,
)
from torchtnt.framework.callbacks import periodic_distributed_sync
from torchtnt.framework.callbacks.periodic_distributed_sync import PeriodicDistributedSync
from torchtnt.framework.evaluate import evaluate
from torchtnt.framework.predict import predict
from torchtnt.utils.distributed import spawn_multi_process

# One entry per barrier: (phase, step, clock before the barrier, clock after it).
SyncRecord = Tuple[str, int, float, float]


def _data(num_batches: int):
    return generate_random_dataloader(num_samples=2 * num_batches, input_dim=2, batch_size=2)


def _spy_on_barrier(eval_unit: DummyEvalUnit, predict_unit: DummyPredictUnit) -> List[SyncRecord]:
    """Wrap the module's barrier so each call is recorded with timestamps around it."""
    records: List[SyncRecord] = []
    real_barrier = periodic_distributed_sync.barrier

    def spy() -> None:
        if predict_unit.predict_progress.num_steps_completed:
            phase, step = "predict", predict_unit.predict_progress.num_steps_completed
        else:
            phase, step = "eval", eval_unit.eval_progress.num_steps_completed
        before = time.perf_counter()
        real_barrier()
        records.append((phase, step, before, time.perf_counter()))

    periodic_distributed_sync.barrier = spy
    return records


def _run_eval_and_predict() -> List[SyncRecord]:
    eval_unit, predict_unit = DummyEvalUnit(2), DummyPredictUnit(2)
    records = _spy_on_barrier(eval_unit, predict_unit)
    callback = PeriodicDistributedSync(sync_every_n_steps=2)
    evaluate(eval_unit, _data(5), callbacks=[callback])
    predict(predict_unit, _data(4), callbacks=[callback])
    return records


def test_single_process_syncs_on_schedule_and_barrier_is_a_no_op() -> None:
    original = periodic_distributed_sync.barrier
    try:
        records = _run_eval_and_predict()
    finally:
        periodic_distributed_sync.barrier = original
    assert [(phase, step) for phase, step, _, _ in records] == [
        ("eval", 2),
        ("eval", 4),
        ("predict", 2),
        ("predict", 4),
    ]


def test_default_interval_and_bad_values() -> None:
    assert PeriodicDistributedSync().sync_every_n_steps == 1000
    with pytest.raises(ValueError, match="sync_every_n_steps=0 is invalid"):
        PeriodicDistributedSync(sync_every_n_steps=0)
    with pytest.raises(TypeError, match="sync_every_n_steps='5' is invalid"):
        PeriodicDistributedSync(sync_every_n_steps="5")  # type: ignore[arg-type]


@pytest.mark.distributed
def test_two_gloo_ranks_meet_at_every_sync_point() -> None:
    results: List[List[SyncRecord]] = spawn_multi_process(2, "gloo", _run_eval_and_predict)
    expected = [("eval", 2), ("eval", 4), ("predict", 2), ("predict", 4)]
    for records in results:
        assert [(phase, step) for phase, step, _, _ in records] == expected
    # A real barrier: no rank leaves it before the other has entered (both ranks share the
    # host's monotonic clock, so their readings compare).
    for sync0, sync1 in zip(*results):
        assert sync0[3] >= sync1[2]
        assert sync1[3] >= sync0[2]

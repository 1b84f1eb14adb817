"""AutoUnit / AutoPredictUnit behaviour on one process (CPU).

DDP/FSDP2 checks are in test_auto_unit_distributed.py, CUDA ones in test_auto_unit_gpu.py.
"""

import copy
import logging
import sys
from typing import Any, List, Optional, Tuple

import pytest
import torch

from torchtnt.framework.auto_unit import (
    AutoPredictUnit,
    AutoUnit,
    SWALRParams,
    SWAParams,
    TrainStepResults,
)
from torchtnt.framework.evaluate import evaluate
from torchtnt.framework.fit import fit
from torchtnt.framework.predict import predict
from torchtnt.framework.state import State
from torchtnt.framework.train import train
from torchtnt.utils.prepare_module import TorchCompileParams
from torchtnt.utils.timer import Timer

Batch = Tuple[torch.Tensor, torch.Tensor]
CPU = torch.device("cpu")


def make_batches(num: int, batch_size: int = 4, dim: int = 3, seed: int = 0) -> List[Batch]:
    gen = torch.Generator().manual_seed(seed)
    return [
        (torch.randn(batch_size, dim, generator=gen), torch.randn(batch_size, 1, generator=gen))
        for _ in range(num)
    ]


def make_linear(dim: int = 3, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Linear(dim, 1)


class RegressionUnit(AutoUnit[Batch]):
    """MSE regression with SGD; records what the hooks see."""

    def __init__(self, *, lr: float = 0.1, gamma: Optional[float] = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Set after super().__init__: the metaclass must build the optimizer only now.
        self.lr = lr
        self.gamma = gamma
        self.seen: List[torch.Tensor] = []
        self.results: List[Tuple[int, TrainStepResults]] = []
        self.grads_at_step_end: List[torch.Tensor] = []
        self.eval_steps: List[int] = []
        self.predict_steps: List[int] = []

    def configure_optimizers_and_lr_scheduler(self, module: torch.nn.Module) -> Tuple[Any, Any]:
        optimizer = torch.optim.SGD(module.parameters(), lr=self.lr)
        scheduler = None
        if self.gamma is not None:
            scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=self.gamma)
        return optimizer, scheduler

    def compute_loss(self, state: State, data: Batch) -> Tuple[torch.Tensor, Any]:
        inputs, targets = data
        self.seen.append(inputs)
        outputs = self.module(inputs)
        return torch.nn.functional.mse_loss(outputs.float(), targets), outputs

    def on_train_step_end(
        self, state: State, data: Batch, step: int, results: TrainStepResults
    ) -> None:
        self.results.append((step, results))
        grads = [p.grad for p in self.module.parameters()]
        if all(g is not None for g in grads):
            # full_tensor() gathers FSDP2's sharded gradients (collective, all ranks call it).
            full = [g.full_tensor() if hasattr(g, "full_tensor") else g for g in grads]
            self.grads_at_step_end.append(torch.cat([g.flatten() for g in full]).clone())

    def on_eval_step_end(
        self, state: State, data: Batch, step: int, loss: torch.Tensor, outputs: Any
    ) -> None:
        self.eval_steps.append(step)

    def on_predict_step_end(self, state: State, data: Any, step: int, outputs: Any) -> None:
        self.predict_steps.append(step)


def flat_params(module: torch.nn.Module) -> torch.Tensor:
    params = [p.detach() for p in module.parameters()]
    params = [p.full_tensor() if hasattr(p, "full_tensor") else p for p in params]
    return torch.cat([p.flatten() for p in params])


def reference_sgd(module: torch.nn.Module, batches: List[Batch], lr: float) -> torch.Tensor:
    """Plain SGD on full batches: the expected weights."""
    module = copy.deepcopy(module)
    optimizer = torch.optim.SGD(module.parameters(), lr=lr)
    for inputs, targets in batches:
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(module(inputs), targets).backward()
        optimizer.step()
    return flat_params(module)


# --------------------------------------------------------------------------------------------
# construction and tracking


def test_optimizer_built_after_subclass_init_on_prepared_module() -> None:
    unit = RegressionUnit(module=make_linear(), device=CPU, lr=0.25, gamma=0.5)
    assert unit.optimizer.param_groups[0]["lr"] == 0.25  # value set after super().__init__
    opt_params = unit.optimizer.param_groups[0]["params"]
    assert all(a is b for a, b in zip(opt_params, unit.module.parameters(), strict=True))
    assert list(unit.tracked_modules()) == ["module"]
    assert list(unit.tracked_optimizers()) == ["optimizer"]
    assert list(unit.tracked_lr_schedulers()) == ["lr_scheduler"]
    assert unit.tracked_misc_statefuls() == {}
    assert set(unit.app_state()) == {
        "module",
        "optimizer",
        "lr_scheduler",
        "train_progress",
        "eval_progress",
        "predict_progress",
    }


def test_none_scheduler_and_training_false_are_not_tracked() -> None:
    unit = RegressionUnit(module=make_linear(), device=CPU)
    assert unit.lr_scheduler is None and "lr_scheduler" not in unit.tracked_lr_schedulers()

    frozen = RegressionUnit(
        module=make_linear(), device=CPU, training=False, swa_params=SWAParams(0, 1)
    )
    assert frozen.optimizer is None and frozen.lr_scheduler is None and frozen.swa_model is None
    assert list(frozen.tracked_modules()) == ["module"]
    assert frozen.tracked_optimizers() == {}
    before = flat_params(frozen.module)
    evaluate(frozen, make_batches(3))
    predict(frozen, [b[0] for b in make_batches(2)])
    assert frozen.eval_steps == [0, 1, 2]
    assert frozen.predict_steps == [0, 1]
    assert torch.equal(flat_params(frozen.module), before)


def test_module_reassignment_warns_and_aliasing_logs_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    unit = RegressionUnit(module=make_linear(), device=CPU)
    with caplog.at_level(logging.WARNING, logger="torchtnt.framework.auto_unit"):
        unit.module = make_linear(seed=1)
        assert [r.levelno for r in caplog.records] == [logging.WARNING]
        caplog.clear()
        unit.alias = unit.module
        assert [r.levelno for r in caplog.records] == [logging.ERROR]
        assert "alias" in caplog.records[0].getMessage()
        caplog.clear()
        unit.other = make_linear(seed=2)  # an unrelated module is fine
        assert caplog.records == []


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (
            {"gradient_accumulation_steps": 0},
            ValueError,
            r"^gradient_accumulation_steps must be > 0. Got 0$",
        ),
        (
            {"gradient_accumulation_steps": -2},
            ValueError,
            r"^gradient_accumulation_steps must be > 0. Got -2$",
        ),
        ({"strategy": "horovod"}, ValueError, r"'horovod'.*'ddp', 'fsdp', 'fsdp2', 'noop'"),
        ({"strategy": 3}, ValueError, r"strategy=3 is invalid"),
        ({"precision": "fp8"}, ValueError, r"precision='fp8'.*'fp16', 'bf16', 'fp32'"),
        ({"precision": torch.float64}, ValueError, r"precision=torch.float64 is not supported"),
        ({"precision": 16}, TypeError, r"precision=16 is invalid"),
        (
            {"enable_loss_parallel": True},
            ValueError,
            r"^enable_loss_parallel is only supported with TPStrategy$",
        ),
        (
            {"clip_grad_norm": -0.5},
            ValueError,
            r"clip_grad_norm=-0.5 is invalid: expected a number >= 0 \(0 or None: no clipping\)",
        ),
        ({"clip_grad_value": -1.0}, ValueError, r"clip_grad_value=-1.0 is invalid"),
        ({"clip_grad_norm": float("nan")}, ValueError, r"clip_grad_norm=nan is invalid"),
        ({"clip_grad_norm": "1.0"}, TypeError, r"clip_grad_norm='1.0' is invalid: expected a"),
        (
            {"gradient_accumulation_steps": "2"},
            TypeError,
            r"gradient_accumulation_steps='2' is invalid: expected an int > 0",
        ),
        ({"gradient_accumulation_steps": 2.5}, TypeError, r"gradient_accumulation_steps=2.5"),
        ({"gradient_accumulation_steps": True}, TypeError, r"gradient_accumulation_steps=True"),
        ({"swa_params": {"ema_decay": 0.9}}, TypeError, r"swa_params=.* expected a SWAParams"),
        ({"device": 3.0}, TypeError, r"device=3.0 is invalid: expected a torch.device"),
        (
            {"torch_compile_params": "eager"},
            TypeError,
            r"torch_compile_params='eager' is invalid: expected an instance of TorchCompileParams",
        ),
        (
            {"activation_checkpoint_params": True},
            TypeError,
            r"activation_checkpoint_params=True is invalid: expected an instance of",
        ),
        (
            {"torch_compile_params": TorchCompileParams(recursive_module_types=torch.nn.Linear)},
            TypeError,
            r"recursive_module_types=<class .*Linear'> is invalid: expected a list",
        ),
        ({"device": "gpu"}, ValueError, r"device='gpu' is invalid"),
        ({"step_lr_interval": "batch"}, ValueError, r"step_lr_interval='batch' is invalid"),
        ({"swa_params": SWAParams(0, 0)}, ValueError, r"step_or_epoch_update_freq=0"),
        ({"swa_params": SWAParams(-1, 1)}, ValueError, r"warmup_steps_or_epochs=-1"),
        (
            {"strategy": "ddp"},
            RuntimeError,
            r"DDPStrategy needs an initialized default process group",
        ),
        ({"strategy": "fsdp2"}, RuntimeError, r"FSDP2Strategy needs an initialized"),
        (
            {"torch_compile_params": TorchCompileParams(backend="no_such_backend")},
            ValueError,
            r"backend='no_such_backend' is not a registered torch.compile backend",
        ),
    ],
)
@pytest.mark.filterwarnings("ignore:In CPU autocast")
def test_bad_arguments_fail_at_construction(kwargs: Any, error: type, match: str) -> None:
    module = make_linear()
    before = flat_params(module)
    with pytest.raises(error, match=match):
        RegressionUnit(**{"module": module, "device": CPU, **kwargs})
    assert torch.equal(flat_params(module), before)


@pytest.mark.filterwarnings("ignore:torch.cuda.amp.GradScaler is enabled")
def test_precision_settings_on_cpu() -> None:
    bf16 = RegressionUnit(module=make_linear(), device=CPU, precision="bf16")
    assert bf16.precision == torch.bfloat16 and bf16.grad_scaler is None
    train(bf16, make_batches(1), max_epochs=1)
    assert bf16.results[0][1].outputs.dtype == torch.bfloat16
    assert next(bf16.module.parameters()).dtype == torch.float32

    fp16 = RegressionUnit(module=make_linear(), device=CPU, precision=torch.float16)
    assert isinstance(fp16.grad_scaler, torch.amp.GradScaler)
    assert fp16.tracked_misc_statefuls() == {"grad_scaler": fp16.grad_scaler}

    fp32 = RegressionUnit(module=make_linear(), device=CPU, precision="fp32")
    assert fp32.precision is None and fp32.grad_scaler is None
    train(fp32, make_batches(1), max_epochs=1)
    assert fp32.results[0][1].outputs.dtype == torch.float32


# --------------------------------------------------------------------------------------------
# the train step


def test_training_matches_plain_sgd_and_returns_loss_and_outputs() -> None:
    batches = make_batches(5)
    module = make_linear()
    expected = reference_sgd(module, batches, lr=0.1)
    unit = RegressionUnit(module=module, device=CPU)
    train(unit, batches, max_epochs=1)
    torch.testing.assert_close(flat_params(unit.module), expected)
    assert [step for step, _ in unit.results] == [0, 1, 2, 3, 4]
    assert all(r.total_grad_norm is None for _, r in unit.results)


@pytest.mark.parametrize("enable_prefetch", [True, False])
def test_accumulated_micro_batches_equal_one_large_batch(enable_prefetch: bool) -> None:
    micro = make_batches(8, batch_size=2)
    large = [
        (torch.cat([x for x, _ in micro[i : i + 4]]), torch.cat([y for _, y in micro[i : i + 4]]))
        for i in (0, 4)
    ]
    module = make_linear()
    initial = copy.deepcopy(module)
    expected = reference_sgd(module, large, lr=0.1)
    unit = RegressionUnit(
        module=module,
        device=CPU,
        gradient_accumulation_steps=4,
        clip_grad_norm=1e6,  # large: only used to see on which steps weights were updated
        enable_prefetch=enable_prefetch,
    )
    train(unit, micro, max_epochs=1)
    torch.testing.assert_close(flat_params(unit.module), expected)
    updated = [step for step, r in unit.results if r.total_grad_norm is not None]
    assert updated == [3, 7]
    # The returned and reported loss is already divided by the accumulation steps.
    _, first = unit.results[0]
    with torch.no_grad():
        full_loss = torch.nn.functional.mse_loss(initial(micro[0][0]), micro[0][1])
    torch.testing.assert_close(first.loss, full_loss / 4)


@pytest.mark.parametrize("enable_prefetch, updates", [(True, [3, 5]), (False, [3])])
def test_last_batch_flushes_accumulation_only_with_prefetch(
    enable_prefetch: bool, updates: List[int]
) -> None:
    unit = RegressionUnit(
        module=make_linear(),
        device=CPU,
        gradient_accumulation_steps=4,
        clip_grad_norm=1e6,
        enable_prefetch=enable_prefetch,
    )
    train(unit, make_batches(6), max_epochs=1)
    assert [step for step, r in unit.results if r.total_grad_norm is not None] == updates
    assert unit._is_last_batch is False


def test_clip_grad_norm_bounds_total_norm_and_reports_unclipped_norm() -> None:
    batches = [(torch.full((4, 3), 10.0), torch.full((4, 1), -10.0))]
    module = make_linear()
    reference = copy.deepcopy(module)
    torch.nn.functional.mse_loss(reference(batches[0][0]), batches[0][1]).backward()
    unclipped = torch.linalg.vector_norm(
        torch.cat([p.grad.flatten() for p in reference.parameters()])
    )
    assert unclipped > 10

    unit = RegressionUnit(
        module=module, device=CPU, clip_grad_norm=0.5, zero_grad_at_train_step_start=True
    )
    train(unit, batches, max_epochs=1)
    torch.testing.assert_close(unit.results[0][1].total_grad_norm, unclipped)
    clipped_norm = torch.linalg.vector_norm(unit.grads_at_step_end[0])
    assert clipped_norm <= 0.5 + 1e-5
    assert clipped_norm == pytest.approx(0.5, rel=1e-4)


def test_clip_grad_value_bounds_every_element() -> None:
    batches = [(torch.full((4, 3), 10.0), torch.full((4, 1), -10.0))]
    unit = RegressionUnit(
        module=make_linear(), device=CPU, clip_grad_value=0.3, zero_grad_at_train_step_start=True
    )
    train(unit, batches, max_epochs=1)
    grads = unit.grads_at_step_end[0]
    assert grads.abs().max() == pytest.approx(0.3)
    assert torch.all(grads.abs() <= 0.3)
    assert unit.results[0][1].total_grad_norm is None


def test_zero_grad_at_train_step_start_keeps_grads_until_next_step() -> None:
    seen_at_start: List[bool] = []

    class Probe(RegressionUnit):
        def compute_loss(self, state: State, data: Batch) -> Tuple[torch.Tensor, Any]:
            seen_at_start.append(all(p.grad is None for p in self.module.parameters()))
            return super().compute_loss(state, data)

    kept = Probe(module=make_linear(), device=CPU, zero_grad_at_train_step_start=True)
    train(kept, make_batches(3), max_epochs=1)
    assert len(kept.grads_at_step_end) == 3  # grads still there in on_train_step_end
    assert seen_at_start == [True, True, True]  # ...and zeroed before the next forward

    seen_at_start.clear()
    eager = Probe(module=make_linear(), device=CPU)
    train(eager, make_batches(3), max_epochs=1)
    assert eager.grads_at_step_end == []
    assert seen_at_start == [True, True, True]


class NaNAtStep(RegressionUnit):
    def __init__(self, nan_step: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.nan_step = nan_step

    def compute_loss(self, state: State, data: Batch) -> Tuple[torch.Tensor, Any]:
        loss, outputs = super().compute_loss(state, data)
        if self.train_progress.num_steps_completed == self.nan_step:
            loss = loss * float("nan")
        return loss, outputs


def test_detect_anomaly_raises_on_nan_loss_naming_the_step() -> None:
    unit = NaNAtStep(nan_step=2, module=make_linear(), device=CPU, detect_anomaly=True)
    with pytest.raises(RuntimeError, match=r"non-finite loss \(nan\) in train step 2 \(0-based"):
        train(unit, make_batches(4), max_epochs=1)
    assert unit.train_progress.num_steps_completed == 2

    quiet = NaNAtStep(nan_step=2, module=make_linear(), device=CPU)
    train(quiet, make_batches(4), max_epochs=1)  # without anomaly mode, NaN goes through
    assert quiet.train_progress.num_steps_completed == 4


@pytest.mark.filterwarnings("ignore:Error detected in")
def test_detect_anomaly_reports_nan_gradient_from_backward() -> None:
    class NaNGrad(RegressionUnit):
        def compute_loss(self, state: State, data: Batch) -> Tuple[torch.Tensor, Any]:
            loss, outputs = super().compute_loss(state, data)
            weight = self.module.weight
            # Finite loss whose backward yields 0 * inf = nan through sqrt at 0.
            return loss + (torch.sqrt(weight - weight.detach()) * 0).sum(), outputs

    unit = NaNGrad(module=make_linear(), device=CPU, detect_anomaly=True)
    with pytest.raises(RuntimeError, match=r"backward pass of train step 0 .*SqrtBackward0"):
        train(unit, make_batches(2), max_epochs=1)


def test_detect_anomaly_lets_other_errors_through_unchanged() -> None:
    oom = torch.OutOfMemoryError("out of memory (simulated)")

    class OutOfMemory(RegressionUnit):
        def compute_loss(self, state: State, data: Batch) -> Tuple[torch.Tensor, Any]:
            raise oom

    unit = OutOfMemory(module=make_linear(), device=CPU, detect_anomaly=True)
    with pytest.raises(torch.OutOfMemoryError) as caught:
        train(unit, make_batches(2), max_epochs=1)
    assert caught.value is oom  # the same object: handlers catching OOM still work
    if sys.version_info >= (3, 11):
        assert caught.value.__notes__ == [
            "(raised with detect_anomaly=True in train step 0 (0-based; epoch 0, step 0 in epoch))"
        ]


def test_a_unit_built_without_training_cannot_train_but_can_evaluate() -> None:
    unit = RegressionUnit(module=make_linear(), device=CPU, training=False)
    with pytest.raises(ValueError, match=r"train_unit=.* was built with training=False"):
        train(unit, make_batches(2), max_epochs=1)
    with pytest.raises(ValueError, match=r"unit=.* was built with training=False"):
        fit(unit, make_batches(2), make_batches(1), max_epochs=1)
    assert unit.train_progress.num_steps_completed == 0 and unit.seen == []
    evaluate(unit, make_batches(2))
    assert unit.eval_progress.num_steps_completed == 2


@pytest.mark.parametrize("freq, warmup, warned", [(2, 0, True), (2, 1, False), (1, 0, False)])
def test_warns_when_per_step_averaging_can_never_fire_under_accumulation(
    caplog: pytest.LogCaptureFixture, freq: int, warmup: int, warned: bool
) -> None:
    swa = SWAParams(warmup_steps_or_epochs=warmup, step_or_epoch_update_freq=freq)
    with caplog.at_level(logging.WARNING):
        unit = RegressionUnit(
            module=make_linear(),
            device=CPU,
            gradient_accumulation_steps=2,
            step_lr_interval="step",
            swa_params=swa,
        )
    assert ("swa_model would never be updated" in caplog.text) is warned
    train(unit, make_batches(4), max_epochs=1)  # optimizer steps at 0-based counts 1 and 3
    assert int(unit.swa_model.n_averaged) == (0 if warned else 2)


def test_module_must_be_a_module() -> None:
    with pytest.raises(TypeError, match=r"module=None is invalid: expected a torch.nn.Module"):
        RegressionUnit(module=None, device=CPU)


def test_device_may_be_given_by_name_and_zero_clip_values_mean_no_clipping() -> None:
    unit = RegressionUnit(module=make_linear(), device="cpu", clip_grad_norm=0, clip_grad_value=0)
    assert unit.device == torch.device("cpu")
    train(unit, make_batches(2), max_epochs=1)
    assert [r.total_grad_norm for _, r in unit.results] == [None, None]
    torch.testing.assert_close(
        flat_params(unit.module), reference_sgd(make_linear(), make_batches(2), lr=0.1)
    )


def test_detect_anomaly_is_dropped_with_torch_compile(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="torchtnt.framework.auto_unit"):
        unit = RegressionUnit(
            module=make_linear(),
            device=CPU,
            detect_anomaly=True,
            torch_compile_params=TorchCompileParams(backend="eager"),
        )
    assert unit.detect_anomaly is None
    assert "detect_anomaly" in caplog.text
    batches = make_batches(3)
    expected = reference_sgd(make_linear(), batches, lr=0.1)
    train(unit, batches, max_epochs=1)
    torch.testing.assert_close(flat_params(unit.module), expected)


# --------------------------------------------------------------------------------------------
# LR scheduling and weight averaging


@pytest.mark.parametrize("interval, expected_steps", [("step", 6), ("epoch", 2)])
def test_step_lr_interval(interval: str, expected_steps: int) -> None:
    unit = RegressionUnit(
        module=make_linear(), device=CPU, lr=1.0, gamma=0.5, step_lr_interval=interval
    )
    train(unit, make_batches(3), max_epochs=2)
    assert unit.optimizer.param_groups[0]["lr"] == pytest.approx(0.5**expected_steps)
    assert unit.lr_scheduler.last_epoch == expected_steps


def test_step_lr_interval_steps_only_on_weight_updates() -> None:
    unit = RegressionUnit(
        module=make_linear(),
        device=CPU,
        lr=1.0,
        gamma=0.5,
        step_lr_interval="step",
        gradient_accumulation_steps=2,
    )
    train(unit, make_batches(4), max_epochs=1)
    assert unit.lr_scheduler.last_epoch == 2


def test_swa_averages_weights_after_warmup_every_n_steps() -> None:
    snapshots: List[torch.Tensor] = []

    class Recording(RegressionUnit):
        def on_train_step_end(self, state: State, data: Batch, step: int, results: Any) -> None:
            snapshots.append(flat_params(self.module).clone())

    swa = SWAParams(warmup_steps_or_epochs=2, step_or_epoch_update_freq=2, averaging_method="swa")
    unit = Recording(module=make_linear(), device=CPU, step_lr_interval="step", swa_params=swa)
    assert "swa_model" in unit.tracked_modules()
    train(unit, make_batches(7), max_epochs=1)
    # Updates happen at step indices 2, 4, 6 (count before increment >= 2, every 2).
    expected = torch.stack([snapshots[2], snapshots[4], snapshots[6]]).mean(0)
    torch.testing.assert_close(flat_params(unit.swa_model.module), expected)
    assert int(unit.swa_model.n_averaged) == 3


def test_ema_per_epoch() -> None:
    snapshots: List[torch.Tensor] = []

    class Recording(RegressionUnit):
        def on_train_epoch_end(self, state: State) -> None:
            super().on_train_epoch_end(state)
            snapshots.append(flat_params(self.module).clone())

    ema = SWAParams(warmup_steps_or_epochs=0, step_or_epoch_update_freq=1, ema_decay=0.5)
    unit = Recording(module=make_linear(), device=CPU, swa_params=ema)
    train(unit, make_batches(2), max_epochs=3)
    expected = snapshots[0]
    for snap in snapshots[1:]:
        expected = 0.5 * expected + 0.5 * snap
    torch.testing.assert_close(flat_params(unit.swa_model.module), expected)


def test_swalr_takes_over_from_the_lr_scheduler_after_warmup() -> None:
    swa = SWAParams(
        warmup_steps_or_epochs=2,
        step_or_epoch_update_freq=1,
        swalr_params=SWALRParams(anneal_steps_or_epochs=1, swa_lrs=0.05),
    )
    unit = RegressionUnit(
        module=make_linear(),
        device=CPU,
        lr=1.0,
        gamma=0.5,
        step_lr_interval="step",
        swa_params=swa,
    )
    assert "swa_scheduler" in unit.tracked_lr_schedulers()
    train(unit, make_batches(5), max_epochs=1)
    # Steps 0 and 1 step the ExponentialLR (1.0 -> 0.25); from step 2 on SWALR anneals to 0.05.
    assert unit.lr_scheduler.last_epoch == 2
    assert unit.optimizer.param_groups[0]["lr"] == pytest.approx(0.05)


# --------------------------------------------------------------------------------------------
# evaluate / predict / timing


def test_eval_and_predict_steps() -> None:
    unit = RegressionUnit(module=make_linear(), device=CPU)
    evaluate(unit, make_batches(3))
    assert unit.eval_steps == [0, 1, 2]
    inputs = [torch.randn(2, 3) for _ in range(2)]
    outputs: List[torch.Tensor] = []

    class Collect(RegressionUnit):
        def on_predict_step_end(self, state: State, data: Any, step: int, outs: Any) -> None:
            outputs.append(outs)

    collector = Collect(module=make_linear(), device=CPU)
    predict(collector, inputs)
    with torch.no_grad():
        expected = [collector.module(x) for x in inputs]
    assert all(torch.equal(a, b) for a, b in zip(outputs, expected, strict=True))


def test_auto_predict_unit() -> None:
    steps: List[int] = []
    outputs: List[torch.Tensor] = []

    class Predictor(AutoPredictUnit[torch.Tensor]):
        def on_predict_step_end(self, state: State, data: Any, step: int, outs: Any) -> None:
            steps.append(step)
            outputs.append(outs)

    module = make_linear()
    unit = Predictor(module=module, device=CPU, precision="bf16")
    assert unit._enable_prefetch is False
    inputs = [torch.randn(2, 3) for _ in range(3)]
    predict(unit, inputs)
    assert steps == [0, 1, 2]
    assert [o.dtype for o in outputs] == [torch.bfloat16] * 3
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        expected = [module(x) for x in inputs]
    assert all(torch.equal(a, b) for a, b in zip(outputs, expected, strict=True))
    with pytest.raises(ValueError, match="precision='fp4'"):
        Predictor(module=module, device=CPU, precision="fp4")


def test_timer_records_named_regions() -> None:
    timer = Timer()
    unit = RegressionUnit(
        module=make_linear(), device=CPU, gamma=0.9, step_lr_interval="step", clip_grad_norm=1.0
    )
    train(unit, make_batches(2), max_epochs=1, timer=timer)
    names = set(timer.recorded_durations)
    prefix = "RegressionUnit."
    for region in (
        "train.next(data_iter)",
        "train.move_data_to_device",
        "compute_loss",
        "backward",
        "clip_grad_norm",
        "optimizer_step",
        "optimizer_zero_grad",
        "lr_scheduler_step",
    ):
        assert prefix + region in names
    assert len(timer.recorded_durations[prefix + "backward"]) == 2
    # 2 batches + the StopIteration probe: three next() calls, only completed ones recorded.
    assert len(timer.recorded_durations[prefix + "train.next(data_iter)"]) == 2


def test_no_timing_overhead_without_timer_or_profiler() -> None:
    from torchtnt.framework import auto_unit

    unit = RegressionUnit(module=make_linear(), device=CPU)
    state = State(entry_point=auto_unit.EntryPoint.TRAIN)
    assert auto_unit._region(state, unit, "compute_loss") is auto_unit._NULL


def test_loss_backward_retain_graph_allows_second_backward() -> None:
    class TwiceBackward(RegressionUnit):
        def on_train_step_end(self, state: State, data: Batch, step: int, results: Any) -> None:
            results.loss.backward()  # only possible if the graph was retained

    unit = TwiceBackward(module=make_linear(), device=CPU, loss_backward_retain_graph=True)
    train(unit, make_batches(1), max_epochs=1)
    plain = TwiceBackward(module=make_linear(), device=CPU)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        train(plain, make_batches(1), max_epochs=1)


@pytest.mark.parametrize("autospec", [False, True])
def test_patched_on_train_step_end_is_called_with_the_step_results(autospec: bool) -> None:
    from unittest.mock import patch

    class Plain(AutoUnit[Batch]):
        def compute_loss(self, state: State, data: Batch) -> Tuple[torch.Tensor, Any]:
            inputs, targets = data
            outputs = self.module(inputs)
            return torch.nn.functional.mse_loss(outputs, targets), outputs

        def configure_optimizers_and_lr_scheduler(
            self, module: torch.nn.Module
        ) -> Tuple[torch.optim.Optimizer, None]:
            return torch.optim.SGD(module.parameters(), lr=0.1), None

    with patch.object(AutoUnit, "on_train_step_end", autospec=autospec) as hook:
        unit = Plain(module=make_linear(), device=torch.device("cpu"))
        train(unit, make_batches(3), max_epochs=1)
    assert hook.call_count == 3
    steps = [c.args[-2] for c in hook.call_args_list]
    assert steps == [0, 1, 2]
    assert all(isinstance(c.args[-1], TrainStepResults) for c in hook.call_args_list)

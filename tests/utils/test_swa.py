"""AveragedModel: EMA, SWA and LIT-warm-up averages against hand-computed values."""

import pytest
import torch

from torchtnt.utils.swa import _AVERAGED_MODEL_AVAIL, AveragedModel


def _set_weights(model: torch.nn.Linear, weight: float, bias: float) -> None:
    with torch.no_grad():
        model.weight.fill_(weight)
        model.bias.fill_(bias)


def _values(avg: AveragedModel) -> tuple:
    linear = avg.module
    return (round(linear.weight[0, 0].item(), 6), round(linear.bias[0].item(), 6))


def test_flag() -> None:
    assert _AVERAGED_MODEL_AVAIL is True


def test_ema_average() -> None:
    model = torch.nn.Linear(2, 1)
    avg = AveragedModel(model, ema_decay=0.75)
    _set_weights(model, 4.0, 1.0)
    avg.update_parameters(model)  # the first update copies
    assert _values(avg) == (4.0, 1.0)
    _set_weights(model, 8.0, -3.0)
    avg.update_parameters(model)
    assert _values(avg) == (0.75 * 4 + 0.25 * 8, 0.75 * 1 + 0.25 * -3)
    assert int(avg.n_averaged) == 2
    assert avg.module is not model


def test_swa_average() -> None:
    model = torch.nn.Linear(2, 1)
    avg = AveragedModel(model, averaging_method="swa")
    for weight in (1.0, 2.0, 6.0):
        _set_weights(model, weight, -weight)
        avg.update_parameters(model)
    assert _values(avg) == (3.0, -3.0)


def _lit_expected(ema_decay: float, weights: list) -> float:
    avg = weights[0]
    for n, w in enumerate(weights[1:], start=2):
        decay = min(ema_decay, (1 + n) / (10 + n))
        avg = decay * avg + (1 - decay) * w
    return round(avg, 6)


def test_lit_warm_up_of_the_decay() -> None:
    model = torch.nn.Linear(1, 1)
    avg = AveragedModel(model, ema_decay=0.3, use_lit=True)
    weights = [10.0, 0.0, 2.0, 5.0]
    for weight in weights:
        _set_weights(model, weight, 0.0)
        avg.update_parameters(model)
    # decays: n=2 -> 3/12 = 0.25, n=3 -> min(0.3, 4/13) = 0.3, n=4 -> 0.3
    expected = ((10 * 0.25 + 0) * 0.3 + 0.7 * 2) * 0.3 + 0.7 * 5
    assert _values(avg)[0] == pytest.approx(expected, abs=1e-5)
    assert expected == pytest.approx(_lit_expected(0.3, weights))


def test_lit_update_count_survives_state_dict_round_trip() -> None:
    model = torch.nn.Linear(1, 1)
    original = AveragedModel(model, ema_decay=0.99, use_lit=True)
    for weight in (1.0, 3.0, 7.0):
        _set_weights(model, weight, 0.0)
        original.update_parameters(model)
    restored = AveragedModel(torch.nn.Linear(1, 1), ema_decay=0.99, use_lit=True)
    restored.load_state_dict(original.state_dict())
    _set_weights(model, 20.0, 0.0)
    original.update_parameters(model)
    restored.update_parameters(model)
    assert _values(restored) == _values(original)
    assert _values(restored)[0] == pytest.approx(_lit_expected(0.99, [1, 3, 7, 20]), abs=1e-5)


def test_skip_deepcopy_wraps_the_model_itself() -> None:
    model = torch.nn.Linear(2, 1)
    avg = AveragedModel(model, skip_deepcopy=True)
    assert avg.module is model
    assert int(avg.n_averaged) == 0
    assert "n_averaged" in dict(avg.named_buffers())
    assert [name for name, _ in avg.named_parameters()] == ["module.weight", "module.bias"]


def test_forward_runs_the_averaged_module() -> None:
    model = torch.nn.Linear(2, 1)
    avg = AveragedModel(model)
    _set_weights(model, 2.0, 0.5)
    avg.update_parameters(model)
    x = torch.tensor([[1.0, 3.0]])
    assert avg(x).item() == 2.0 * 4 + 0.5


class _WithBuffer(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(1))
        self.register_buffer("stat", torch.zeros(1))


def test_use_buffers_averages_buffers_too() -> None:
    model = _WithBuffer()
    avg = AveragedModel(model, averaging_method="swa", use_buffers=True)
    for value in (2.0, 4.0):
        model.stat.fill_(value)
        avg.update_parameters(model)
    assert avg.module.stat.item() == 3.0


@pytest.mark.parametrize("decay", [-0.1, 1.5])
def test_bad_decay(decay: float) -> None:
    with pytest.raises(ValueError, match=f"Decay must be between 0 and 1. Got ema_decay={decay}"):
        AveragedModel(torch.nn.Linear(1, 1), ema_decay=decay)


def test_lit_needs_ema() -> None:
    with pytest.raises(ValueError, match="LIT is only supported for EMA"):
        AveragedModel(torch.nn.Linear(1, 1), averaging_method="swa", use_lit=True)


def test_unknown_method() -> None:
    with pytest.raises(ValueError, match="averaging_method='mean', expected one of"):
        AveragedModel(torch.nn.Linear(1, 1), averaging_method="mean")  # type: ignore[arg-type]

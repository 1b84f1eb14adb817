import io
import re
from typing import Iterator, List, Tuple

import pytest
import torch

from torchtnt.framework._test_utils import (
    DummyEvalUnit,
    DummyFitUnit,
    DummyPredictUnit,
    DummyTrainUnit,
    generate_random_dataloader,
)
from torchtnt.framework.callbacks.tqdm_progress_bar import TQDMProgressBar
from torchtnt.framework.evaluate import evaluate
from torchtnt.framework.fit import fit
from torchtnt.framework.predict import predict
from torchtnt.framework.state import EntryPoint, PhaseState, State
from torchtnt.framework.train import train
from torchtnt.utils.progress import Progress

_BAR = re.compile(
    r"^(?P<desc>(?:Train|Eval|Predict) Epoch \d+):\s*(?:(?P<pct>\d+)%)?\|[^|]*\| "
    r"(?P<n>\d+)/(?P<total>\d+|\?) \[(?P<elapsed>\d\d:\d\d)<(?P<eta>\d\d:\d\d|\?), "
    r"(?P<rate>\?|[\d.]+)it/s\]$"
)


def _bars(output: str) -> List[dict]:
    """Parse every drawn bar line of ``output``."""
    lines = [line.strip() for line in re.split(r"[\r\n]", output) if line.strip()]
    parsed = [_BAR.match(line) for line in lines]
    assert all(parsed), f"unexpected lines: {[x for x, p in zip(lines, parsed) if not p]}"
    return [m.groupdict() for m in parsed]  # type: ignore[union-attr]


def _counts(output: str, desc: str) -> List[Tuple[str, str]]:
    """The distinct successive ``(n, total)`` drawn for ``desc`` (tqdm redraws on close)."""
    counts: List[Tuple[str, str]] = []
    for bar in _bars(output):
        if bar["desc"] == desc and (not counts or counts[-1] != (bar["n"], bar["total"])):
            counts.append((bar["n"], bar["total"]))
    return counts


def _dataloader(num_batches: int):
    torch.manual_seed(0)
    return generate_random_dataloader(num_batches * 2, 2, 2)


def _run_train(num_batches: int, **kwargs) -> str:
    out = io.StringIO()
    bar_kwargs = {"refresh_rate": kwargs.pop("refresh_rate", 1)}
    callback = TQDMProgressBar(file=out, mininterval=0, **bar_kwargs)
    train(DummyTrainUnit(2), _dataloader(num_batches), callbacks=[callback], **kwargs)
    return out.getvalue()


def test_train_bar_shows_every_step_with_rate_and_eta() -> None:
    output = _run_train(5, max_epochs=2)
    for epoch in (0, 1):
        assert _counts(output, f"Train Epoch {epoch}") == [(str(n), "5") for n in range(6)]
    bars = _bars(output)
    assert [b["desc"] for b in bars] == ["Train Epoch 0"] * 7 + ["Train Epoch 1"] * 7
    last = bars[-1]
    assert last["pct"] == "100" and last["eta"] == "00:00" and float(last["rate"]) > 0
    assert all(b["eta"] != "?" and float(b["rate"]) > 0 for b in bars if b["n"] != "0")


def test_refresh_rate_draws_every_n_steps_and_completes_at_epoch_end() -> None:
    output = _run_train(5, max_epochs=1, refresh_rate=2)
    assert _counts(output, "Train Epoch 0") == [("0", "5"), ("2", "5"), ("4", "5"), ("5", "5")]


def test_step_limits_size_the_bar() -> None:
    output = _run_train(5, max_epochs=3, max_steps_per_epoch=3, max_steps=7)
    assert _counts(output, "Train Epoch 0")[-1] == ("3", "3")
    assert _counts(output, "Train Epoch 1")[-1] == ("3", "3")
    assert _counts(output, "Train Epoch 2") == [("0", "1"), ("1", "1")]


def test_fit_draws_train_and_eval_bars_in_order() -> None:
    out = io.StringIO()
    fit(
        DummyFitUnit(2),
        _dataloader(3),
        _dataloader(2),
        max_epochs=2,
        callbacks=[TQDMProgressBar(file=out, mininterval=0)],
    )
    output = out.getvalue()
    descs = [b["desc"] for b in _bars(output)]
    order = [d for i, d in enumerate(descs) if i == 0 or descs[i - 1] != d]
    assert order == ["Train Epoch 0", "Eval Epoch 0", "Train Epoch 1", "Eval Epoch 1"]
    assert _counts(output, "Eval Epoch 1") == [("0", "2"), ("1", "2"), ("2", "2")]
    assert _counts(output, "Train Epoch 1") == [(str(n), "3") for n in range(4)]


def test_evaluate_and_predict_bars() -> None:
    out = io.StringIO()
    callback = TQDMProgressBar(file=out, mininterval=0)
    evaluate(DummyEvalUnit(2), _dataloader(3), callbacks=[callback])
    unit = DummyPredictUnit(2)
    predict(unit, _dataloader(2), callbacks=[callback])
    output = out.getvalue()
    assert _counts(output, "Eval Epoch 0") == [(str(n), "3") for n in range(4)]
    assert _counts(output, "Predict Epoch 0") == [("0", "2"), ("1", "2"), ("2", "2")]


def test_unknown_length_shows_count_without_total() -> None:
    def batches() -> Iterator:
        torch.manual_seed(0)
        for _ in range(3):
            yield torch.randn(2, 2), torch.randint(0, 2, (2,))

    class Batches:
        def __iter__(self) -> Iterator:
            return batches()

    out = io.StringIO()
    train(
        DummyTrainUnit(2),
        Batches(),
        max_epochs=1,
        callbacks=[TQDMProgressBar(file=out, mininterval=0)],
    )
    assert _counts(out.getvalue(), "Train Epoch 0") == [(str(n), "?") for n in range(4)]
    assert all(b["pct"] is None for b in _bars(out.getvalue()))


def test_resumed_mid_epoch_bar_starts_at_steps_done() -> None:
    unit = DummyTrainUnit(2)
    unit.train_progress.load_state_dict(
        Progress(
            num_epochs_completed=1, num_steps_completed=7, num_steps_completed_in_epoch=2
        ).state_dict()
    )
    out = io.StringIO()
    train(
        unit,
        _dataloader(5),
        max_epochs=2,
        max_steps_per_epoch=5,
        callbacks=[TQDMProgressBar(file=out, mininterval=0)],
    )
    assert _counts(out.getvalue(), "Train Epoch 1") == [(str(n), "5") for n in range(2, 6)]


def test_epoch_start_uses_in_epoch_progress() -> None:
    state = State(
        entry_point=EntryPoint.TRAIN,
        train_state=PhaseState(dataloader=_dataloader(5), max_epochs=2, max_steps_per_epoch=5),
    )
    unit = DummyTrainUnit(2)
    unit.train_progress.load_state_dict(
        Progress(
            num_epochs_completed=1, num_steps_completed=5, num_steps_completed_in_epoch=2
        ).state_dict()
    )
    callback = TQDMProgressBar(file=io.StringIO())
    callback.on_train_epoch_start(state, unit)
    bar = callback._train_progress_bar
    assert (bar.total, bar.n, bar.desc) == (5, 2, "Train Epoch 1")
    bar.close()


def test_default_file_is_stderr(capsys) -> None:
    train(
        DummyTrainUnit(2),
        _dataloader(2),
        max_epochs=1,
        callbacks=[TQDMProgressBar(mininterval=0)],
    )
    captured = capsys.readouterr()
    assert captured.out == ""
    assert _counts(captured.err, "Train Epoch 0")[-1] == ("2", "2")


def test_no_bar_off_rank_zero(monkeypatch) -> None:
    monkeypatch.setenv("RANK", "1")
    out = io.StringIO()
    callback = TQDMProgressBar(file=out)
    train(DummyTrainUnit(2), _dataloader(3), max_epochs=1, callbacks=[callback])
    assert out.getvalue() == ""
    assert callback._train_progress_bar is None


def test_bar_closed_when_a_step_fails() -> None:
    class FailingUnit(DummyTrainUnit):
        def train_step(self, state, data):
            if self.train_progress.num_steps_completed == 2:
                raise RuntimeError("boom")
            return super().train_step(state, data)

    out = io.StringIO()
    callback = TQDMProgressBar(file=out, mininterval=0)
    with pytest.raises(RuntimeError, match="boom"):
        train(FailingUnit(2), _dataloader(5), max_epochs=1, callbacks=[callback])
    assert callback._train_progress_bar is None
    assert _counts(out.getvalue(), "Train Epoch 0")[-1] == ("2", "5")
    assert out.getvalue().endswith("\n")


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"refresh_rate": 0}, ValueError, "refresh_rate=0 is invalid: expected an int >= 1"),
        ({"refresh_rate": -3}, ValueError, "refresh_rate=-3 is invalid"),
        ({"refresh_rate": 2.0}, TypeError, "refresh_rate=2.0 is invalid"),
        ({"mininterval": -0.5}, ValueError, "mininterval=-0.5 is invalid"),
        ({"mininterval": "fast"}, TypeError, "mininterval='fast' is invalid"),
        ({"file": "stderr"}, TypeError, "file='stderr' is invalid: expected a text stream"),
    ],
)
def test_invalid_arguments(kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        TQDMProgressBar(**kwargs)

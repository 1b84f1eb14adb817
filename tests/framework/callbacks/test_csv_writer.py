import csv
import os
from typing import Any, List

import fsspec
import pytest
import torch

from torchtnt.framework._test_utils import DummyPredictUnit, generate_random_dataloader
from torchtnt.framework.callbacks.base_csv_writer import DEFAULT_FILE_NAME, BaseCSVWriter
from torchtnt.framework.predict import predict
from torchtnt.framework.state import State

HEADER = ["step", "first", "second"]


class PerSampleWriter(BaseCSVWriter):
    """One row per sample: the step number and both predicted logits."""

    def get_step_output_rows(self, state: State, unit: Any, step_output: Any) -> List[List[str]]:
        step = unit.predict_progress.num_steps_completed
        return [[str(step), f"{a:.5f}", f"{b:.5f}"] for a, b in step_output.tolist()]


class PerStepWriter(BaseCSVWriter):
    """One row per step."""

    def get_step_output_rows(self, state: State, unit: Any, step_output: Any) -> List[str]:
        return [str(unit.predict_progress.num_steps_completed), "x", "y"]


class NothingWriter(BaseCSVWriter):
    def get_step_output_rows(self, state: State, unit: Any, step_output: Any) -> List[str]:
        return []


def _dataloader(num_samples: int = 10):
    torch.manual_seed(0)
    return generate_random_dataloader(num_samples, 2, 2)


def _read(path: str, delimiter: str) -> List[List[str]]:
    with open(path, newline="") as f:
        return list(csv.reader(f, delimiter=delimiter))


def test_one_row_per_sample_matches_the_predictions(tmp_path) -> None:
    unit = DummyPredictUnit(2)
    writer = PerSampleWriter(header_row=HEADER, dir_path=str(tmp_path), delimiter=" ")
    predict(unit, _dataloader(), callbacks=[writer])
    assert writer.output_path == os.path.join(str(tmp_path), DEFAULT_FILE_NAME)

    inputs = torch.cat([batch[0] for batch in _dataloader()])
    with torch.no_grad():
        outputs = unit.module(inputs).tolist()
    expected = [HEADER] + [
        [str(i // 2 + 1), f"{a:.5f}", f"{b:.5f}"] for i, (a, b) in enumerate(outputs)
    ]
    assert _read(writer.output_path, " ") == expected


def test_one_row_per_step_default_tab_delimiter(tmp_path) -> None:
    writer = PerStepWriter(header_row=HEADER, dir_path=str(tmp_path), filename="out.tsv")
    predict(DummyPredictUnit(2), _dataloader(6), callbacks=[writer])
    with open(tmp_path / "out.tsv", newline="") as f:
        assert f.read() == "step\tfirst\tsecond\r\n1\tx\ty\r\n2\tx\ty\r\n3\tx\ty\r\n"


def test_empty_rows_write_only_the_header(tmp_path) -> None:
    writer = NothingWriter(header_row=HEADER, dir_path=str(tmp_path), delimiter=",")
    predict(DummyPredictUnit(2), _dataloader(4), callbacks=[writer])
    assert _read(writer.output_path, ",") == [HEADER]


def test_file_is_appended_to_and_directory_created(tmp_path) -> None:
    out_dir = str(tmp_path / "new" / "dir")
    for _ in range(2):
        writer = PerStepWriter(header_row=HEADER, dir_path=out_dir, delimiter=",")
        predict(DummyPredictUnit(2), _dataloader(2), callbacks=[writer])
    assert _read(writer.output_path, ",") == [HEADER, ["1", "x", "y"]] * 2


def test_failed_predict_keeps_rows_written_so_far(tmp_path) -> None:
    class FailingUnit(DummyPredictUnit):
        def predict_step(self, state, data):
            if self.predict_progress.num_steps_completed == 2:
                raise RuntimeError("boom")
            return super().predict_step(state, data)

    writer = PerStepWriter(header_row=HEADER, dir_path=str(tmp_path), delimiter=",")
    with pytest.raises(RuntimeError, match="boom"):
        predict(FailingUnit(2), _dataloader(10), callbacks=[writer])
    assert writer._file.closed
    assert _read(writer.output_path, ",") == [HEADER, ["1", "x", "y"], ["2", "x", "y"]]


def test_fsspec_memory_filesystem() -> None:
    memory = fsspec.filesystem("memory")
    try:
        writer = PerStepWriter(
            header_row=HEADER, dir_path="memory://csv_writer_test", delimiter=","
        )
        predict(DummyPredictUnit(2), _dataloader(4), callbacks=[writer])
        with fsspec.open("memory://csv_writer_test/predictions.csv", "r", newline="") as f:
            assert f.read() == "step,first,second\r\n1,x,y\r\n2,x,y\r\n"
    finally:
        memory.rm("/csv_writer_test", recursive=True)


def test_header_only_on_rank_zero(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("RANK", "1")
    writer = PerStepWriter(header_row=HEADER, dir_path=str(tmp_path), delimiter=",")
    predict(DummyPredictUnit(2), _dataloader(2), callbacks=[writer])
    assert _read(writer.output_path, ",") == [["1", "x", "y"]]


def test_base_class_is_abstract(tmp_path) -> None:
    with pytest.raises(TypeError):
        BaseCSVWriter(header_row=HEADER, dir_path=str(tmp_path), delimiter=" ")
    assert not os.path.exists(tmp_path / DEFAULT_FILE_NAME)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"delimiter": "::"}, ValueError, "delimiter='::' is invalid: expected a single character"),
        ({"header_row": "a,b"}, TypeError, "header_row='a,b' is invalid"),
        ({"filename": ""}, TypeError, "filename='' is invalid"),
    ],
)
def test_invalid_arguments(tmp_path, kwargs, error, match) -> None:
    args = {"header_row": HEADER, "dir_path": str(tmp_path), **kwargs}
    with pytest.raises(error, match=match):
        PerStepWriter(**args)

"""Write the HTML run report (see :mod:`torchtnt.report`) when a run ends."""

import logging
import os
from typing import List, Optional, Union

from torchtnt.framework.callback import Callback
from torchtnt.framework.state import EntryPoint, State
from torchtnt.framework.unit import TEvalUnit, TPredictUnit, TTrainUnit
from torchtnt.utils.distributed import get_global_rank
from torchtnt.utils.loggers.logger import MetricLogger

__all__ = ["RunReport"]

logger: logging.Logger = logging.getLogger(__name__)


def _check_path(value: object, arg_name: str) -> None:
    if not isinstance(value, str):
        raise TypeError(
            f"{arg_name}={value!r} is invalid: expected a str path, got {type(value).__name__}"
        )
    if not value:
        raise ValueError(f"{arg_name}='' is invalid: expected a non-empty path")


class RunReport(Callback):
    """At the end of a run, write one self-contained HTML page plotting every scalar that
    the run's CSVLogger, JSONLogger and TensorBoardLogger logs under ``logdir`` hold.

    The report is written on global rank 0 at ``on_train_end`` (for ``train`` and ``fit``),
    at ``on_eval_end`` of an ``evaluate`` run and at ``on_predict_end``. The evaluations
    inside ``fit`` do not write it. If no log is found, a warning is logged instead, and a
    report that cannot be written is logged as an error: the run is not failed for a report.

    Loggers buffer rows, so pass them as ``loggers`` to have them flushed before the logs
    are read; otherwise the report shows what they had written to disk by then.

    Args:
        logdir: directory (searched recursively) the run's loggers write to. It need not
            exist yet.
        output_path: HTML file to write; defaults to ``logdir/report.html``.
        loggers: a logger or a list of loggers whose ``flush()`` is called before reading
            (those without one are skipped).

    Raises:
        TypeError: ``logdir`` or ``output_path`` is not a str, or an item of ``loggers`` is
            not a MetricLogger.
        ValueError: ``logdir`` or ``output_path`` is empty, or ``output_path`` is an existing
            directory.
    """

    def __init__(
        self,
        logdir: str,
        output_path: Optional[str] = None,
        *,
        loggers: Optional[Union[MetricLogger, List[MetricLogger]]] = None,
    ) -> None:
        _check_path(logdir, "logdir")
        if loggers is not None and not isinstance(loggers, (list, tuple)):
            loggers = [loggers]
        if output_path is not None:
            _check_path(output_path, "output_path")
            if os.path.isdir(output_path):
                raise ValueError(
                    f"output_path={output_path!r} is a directory: expected an HTML file path, "
                    f"e.g. {os.path.join(output_path, 'report.html')!r}"
                )
        for i, item in enumerate(loggers or []):
            if not isinstance(item, MetricLogger):
                raise TypeError(f"loggers[{i}]={item!r} is invalid: expected a MetricLogger")
        self._logdir = logdir
        self._output_path = output_path
        self._loggers = list(loggers or [])
        self._report_path: Optional[str] = None

    @property
    def report_path(self) -> Optional[str]:
        """The report this callback last wrote on this rank; None before that."""
        return self._report_path

    def _write(self) -> None:
        if get_global_rank() != 0:
            return
        # Imported here so that importing the callback does not pull in the report code.
        from torchtnt.report import write_report

        for metric_logger in self._loggers:
            flush = getattr(metric_logger, "flush", None)
            if callable(flush):
                flush()
        try:
            self._report_path = write_report(self._logdir, self._output_path)
        except (FileNotFoundError, NotADirectoryError, ValueError) as e:
            logger.warning(f"RunReport wrote no report: {e}")
            return
        except Exception:
            # The run itself is done: a report that cannot be drawn must not fail it.
            logger.exception("RunReport could not write the report")
            return
        logger.info(f"Run report written to {self._report_path}")

    def on_train_end(self, state: State, unit: TTrainUnit) -> None:
        """Write the report after ``train`` or ``fit``."""
        self._write()

    def on_eval_end(self, state: State, unit: TEvalUnit) -> None:
        """Write the report after an ``evaluate`` run (not after evaluations inside ``fit``)."""
        if state.entry_point == EntryPoint.EVALUATE:
            self._write()

    def on_predict_end(self, state: State, unit: TPredictUnit) -> None:
        """Write the report after a ``predict`` run."""
        self._write()

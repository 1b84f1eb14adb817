"""Argument checks and logger plumbing shared by the built-in callbacks."""

import sys
from typing import Any, Callable, List, Sequence, Union

from torchtnt.framework.state import EntryPoint, State
from torchtnt.utils.loggers.logger import MetricLogger

ScalarWriter = Callable[[str, float, int], Any]


def check_int(name: str, value: object, minimum: int, *, allow_none: bool = False) -> None:
    """Require an int (not a bool) of at least ``minimum`` (or None when ``allow_none``).

    Raises:
        TypeError: if ``value`` is not an int.
        ValueError: if ``value`` is below ``minimum``.
    """
    if value is None and allow_none:
        return
    expected = f"an int >= {minimum}" + (" or None" if allow_none else "")
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}={value!r} is invalid: expected {expected}")
    if value < minimum:
        raise ValueError(f"{name}={value!r} is invalid: expected {expected}")


def check_step_cadence(log_every_n_steps: int, warmup_steps: int) -> None:
    """Validate the two step-cadence arguments shared by the timing loggers."""
    check_int("log_every_n_steps", log_every_n_steps, 1)
    check_int("warmup_steps", warmup_steps, 0)


def check_choice(name: str, value: object, accepted: Sequence[object]) -> None:
    """Require ``value`` to be one of ``accepted``.

    Raises:
        ValueError: naming the argument, the value and the accepted values.
    """
    if value not in accepted:
        raise ValueError(f"{name}={value!r} is invalid: expected one of {list(accepted)}")


def is_summary_writer(obj: object) -> bool:
    """True if ``obj`` is a TensorBoard ``SummaryWriter``.

    Looks the class up in ``sys.modules`` instead of importing it: if TensorBoard's writer
    module was never imported, no SummaryWriter can exist, and importing it just to check
    would cost a second of start-up.
    """
    writer_module = sys.modules.get("torch.utils.tensorboard.writer")
    return writer_module is not None and isinstance(obj, writer_module.SummaryWriter)


def _has_methods(obj: object, names: Sequence[str]) -> bool:
    return all(callable(getattr(obj, name, None)) for name in names)


def _describe_methods(names: Sequence[str]) -> str:
    calls = {"log": "log(name, value, step)", "log_dict": "log_dict(payload, step)"}
    return " and ".join(calls.get(name, name) for name in names)


def scalar_writer(logger: object, arg_name: str = "logger") -> ScalarWriter:
    """Return the ``(name, value, step)`` function that records one scalar on ``logger``.

    Only ``log`` is needed: a minimal custom logger works as it does with TorchTNT.

    Raises:
        TypeError: if ``logger`` is neither a SummaryWriter nor has a ``log`` method.
    """
    if is_summary_writer(logger):
        return logger.add_scalar  # type: ignore[attr-defined]
    if _has_methods(logger, ("log",)):
        return logger.log  # type: ignore[attr-defined]
    raise TypeError(
        f"{arg_name}={logger!r} is invalid: expected a MetricLogger (an object with a "
        "log(name, value, step) method, e.g. TensorBoardLogger or CSVLogger) or a "
        "torch.utils.tensorboard.SummaryWriter"
    )


def as_logger_list(
    loggers: Union[MetricLogger, List[MetricLogger]],
    arg_name: str = "loggers",
    needs: Sequence[str] = ("log",),
) -> List[MetricLogger]:
    """Return ``loggers`` as a list, checking each has the methods the callback calls.

    Args:
        loggers: one logger or a list of them.
        arg_name: the argument's name, for the error message.
        needs: the logger methods the callback calls.

    Raises:
        TypeError: if ``loggers`` or one of its items lacks one of ``needs``.
    """
    is_sequence = isinstance(loggers, (list, tuple))
    items = list(loggers) if is_sequence else [loggers]
    for i, item in enumerate(items):
        if not _has_methods(item, needs):
            where = f"{arg_name}[{i}]" if is_sequence else arg_name
            raise TypeError(
                f"{where}={item!r} is invalid: expected a MetricLogger (an object with "
                f"{_describe_methods(needs)} methods, e.g. TensorBoardLogger or CSVLogger) or "
                "a list of them"
            )
    return items


def shared_step_count(state: State, unit: Any, progress_attr: str, other_attr: str) -> int:
    """Steps completed by the phase whose progress is ``unit.<progress_attr>``, plus, in
    ``fit``, those of ``unit.<other_attr>``: train and eval steps share one schedule there.

    The other progress is read only in ``fit``, so a train-only unit needs none.
    """
    total = getattr(unit, progress_attr).num_steps_completed
    if state.entry_point == EntryPoint.FIT:
        total += getattr(unit, other_attr).num_steps_completed
    return total

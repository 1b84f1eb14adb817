"""Logging helpers that only emit on global rank 0, so multi-process runs do not repeat lines."""

import logging
import sys
from typing import Any, Dict, Optional

__all__ = [
    "rank_zero_print",
    "rank_zero_debug",
    "rank_zero_info",
    "rank_zero_warn",
    "rank_zero_error",
    "rank_zero_critical",
]

_LOGGER: logging.Logger = logging.getLogger(__name__)


def _supports_stacklevel() -> bool:
    """Return True when ``logging`` accepts ``stacklevel`` (Python 3.8 and newer)."""
    return sys.version_info >= (3, 8)


def _is_rank_zero() -> bool:
    from torchtnt.utils.distributed import get_global_rank

    return get_global_rank() == 0


def rank_zero_print(*args: Any, **kwargs: Any) -> None:
    """``print`` on global rank 0 only."""
    if _is_rank_zero():
        print(*args, **kwargs)


def _target_logger(
    logger: Optional[logging.Logger], kwargs: Dict[str, Any]
) -> Optional[logging.Logger]:
    """Return the logger to use on rank 0 (None elsewhere), adding ``stacklevel`` to kwargs.

    The public wrappers call the logger themselves, so ``stacklevel=2`` attributes each record
    to whoever called the wrapper rather than to this module.
    """
    if not _is_rank_zero():
        return None
    if _supports_stacklevel():
        kwargs["stacklevel"] = 2
    return logger or _LOGGER


def rank_zero_debug(*args: Any, logger: Optional[logging.Logger] = None, **kwargs: Any) -> None:
    """Log at DEBUG level on global rank 0 only (to ``logger`` or this module's logger)."""
    target = _target_logger(logger, kwargs)
    if target is not None:
        target.debug(*args, **kwargs)


def rank_zero_info(*args: Any, logger: Optional[logging.Logger] = None, **kwargs: Any) -> None:
    """Log at INFO level on global rank 0 only."""
    target = _target_logger(logger, kwargs)
    if target is not None:
        target.info(*args, **kwargs)


def rank_zero_warn(*args: Any, logger: Optional[logging.Logger] = None, **kwargs: Any) -> None:
    """Log at WARNING level on global rank 0 only."""
    target = _target_logger(logger, kwargs)
    if target is not None:
        target.warning(*args, **kwargs)


def rank_zero_error(*args: Any, logger: Optional[logging.Logger] = None, **kwargs: Any) -> None:
    """Log at ERROR level on global rank 0 only."""
    target = _target_logger(logger, kwargs)
    if target is not None:
        target.error(*args, **kwargs)


def rank_zero_critical(*args: Any, logger: Optional[logging.Logger] = None, **kwargs: Any) -> None:
    """Log at CRITICAL level on global rank 0 only."""
    target = _target_logger(logger, kwargs)
    if target is not None:
        target.critical(*args, **kwargs)

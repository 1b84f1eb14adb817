"""The Callback base class: every hook the loops fire, all no-ops by default."""

from typing import Union

from torchtnt.framework.state import State
from torchtnt.framework.unit import TEvalUnit, TPredictUnit, TTrainUnit

__all__ = ["Callback"]


class Callback:
    """Base class of callbacks; override the hooks you need.

    The loops call only the hooks a subclass overrides, so an unused hook costs nothing.
    Hooks receive the run's :class:`~torchtnt.framework.state.State` and the unit; ask the
    run to stop with ``state.stop()``. Hook order is documented on
    :func:`torchtnt.framework.train.train`.
    """

    @property
    def name(self) -> str:
        """The qualified name of the callback's class, which names the callback."""
        return self.__class__.__qualname__

    def on_exception(
        self,
        state: State,
        unit: Union[TTrainUnit, TEvalUnit, TPredictUnit],
        exc: BaseException,
    ) -> None:
        """Called when the run raises, after the unit's ``on_exception``; then it re-raises."""

    def on_train_start(self, state: State, unit: TTrainUnit) -> None:
        """Called when the train phase starts, after the unit's own hook."""

    def on_train_epoch_start(self, state: State, unit: TTrainUnit) -> None:
        """Called at the start of each train epoch (skipped when resuming mid-epoch)."""

    def on_train_dataloader_iter_creation_start(self, state: State, unit: TTrainUnit) -> None:
        """Called just before ``iter(dataloader)`` is called for an epoch."""

    def on_train_dataloader_iter_creation_end(self, state: State, unit: TTrainUnit) -> None:
        """Called just after the epoch's data iterator was created."""

    def on_train_get_next_batch_start(self, state: State, unit: TTrainUnit) -> None:
        """Called before the next batch is fetched (also before the fetch that ends the epoch)."""

    def on_train_get_next_batch_end(self, state: State, unit: TTrainUnit) -> None:
        """Called after a batch was fetched."""

    def on_train_step_start(self, state: State, unit: TTrainUnit) -> None:
        """Called before the unit's ``train_step``."""

    def on_train_step_end(self, state: State, unit: TTrainUnit) -> None:
        """Called after the step, once progress counts it; ``state.train_state.step_output`` holds the step's result."""

    def on_train_epoch_end(self, state: State, unit: TTrainUnit) -> None:
        """Called after each train epoch, once progress counts it."""

    def on_train_end(self, state: State, unit: TTrainUnit) -> None:
        """Called when the train phase ends, after the unit's own hook."""

    def on_eval_start(self, state: State, unit: TEvalUnit) -> None:
        """Called when the eval phase starts, after the unit's own hook."""

    def on_eval_epoch_start(self, state: State, unit: TEvalUnit) -> None:
        """Called at the start of each eval epoch (skipped when resuming mid-epoch)."""

    def on_eval_dataloader_iter_creation_start(self, state: State, unit: TEvalUnit) -> None:
        """Called just before ``iter(dataloader)`` is called for an epoch."""

    def on_eval_dataloader_iter_creation_end(self, state: State, unit: TEvalUnit) -> None:
        """Called just after the epoch's data iterator was created."""

    def on_eval_get_next_batch_start(self, state: State, unit: TEvalUnit) -> None:
        """Called before the next batch is fetched (also before the fetch that ends the epoch)."""

    def on_eval_get_next_batch_end(self, state: State, unit: TEvalUnit) -> None:
        """Called after a batch was fetched."""

    def on_eval_step_start(self, state: State, unit: TEvalUnit) -> None:
        """Called before the unit's ``eval_step``."""

    def on_eval_step_end(self, state: State, unit: TEvalUnit) -> None:
        """Called after the step, once progress counts it; ``state.eval_state.step_output`` holds the step's result."""

    def on_eval_epoch_end(self, state: State, unit: TEvalUnit) -> None:
        """Called after each eval epoch, once progress counts it."""

    def on_eval_end(self, state: State, unit: TEvalUnit) -> None:
        """Called when the eval phase ends, after the unit's own hook."""

    def on_predict_start(self, state: State, unit: TPredictUnit) -> None:
        """Called when the predict phase starts, after the unit's own hook."""

    def on_predict_epoch_start(self, state: State, unit: TPredictUnit) -> None:
        """Called at the start of each predict epoch (skipped when resuming mid-epoch)."""

    def on_predict_dataloader_iter_creation_start(self, state: State, unit: TPredictUnit) -> None:
        """Called just before ``iter(dataloader)`` is called for an epoch."""

    def on_predict_dataloader_iter_creation_end(self, state: State, unit: TPredictUnit) -> None:
        """Called just after the epoch's data iterator was created."""

    def on_predict_get_next_batch_start(self, state: State, unit: TPredictUnit) -> None:
        """Called before the next batch is fetched (also before the fetch that ends the epoch)."""

    def on_predict_get_next_batch_end(self, state: State, unit: TPredictUnit) -> None:
        """Called after a batch was fetched."""

    def on_predict_step_start(self, state: State, unit: TPredictUnit) -> None:
        """Called before the unit's ``predict_step``."""

    def on_predict_step_end(self, state: State, unit: TPredictUnit) -> None:
        """Called after the step, once progress counts it; ``state.predict_state.step_output`` holds the step's result."""

    def on_predict_epoch_end(self, state: State, unit: TPredictUnit) -> None:
        """Called after each predict epoch, once progress counts it."""

    def on_predict_end(self, state: State, unit: TPredictUnit) -> None:
        """Called when the predict phase ends, after the unit's own hook."""

"""The progress bar of ``fit`` under ``steps_per_execution``."""

import keras


class BatchProgbarLogger(keras.callbacks.ProgbarLogger):
    """Keras' progress bar of ``fit``, counting the training batches truly run.

    Under ``steps_per_execution=S`` Keras calls ``on_train_batch_end(batch)``
    once per S steps with ``batch`` the last step index that call *could*
    reach, ``begin + S - 1``; the last call of an epoch runs out of data
    sooner, so Keras' bar overshoots (a 469-batch epoch with S = 32 reads
    ``480/469``, and an epoch of unknown length ends with that count as its
    total). This bar counts the optimizer's steps since the epoch began
    instead: the batches trained on. ``VAE.fit`` uses it unless ``callbacks``
    holds a progress bar of the user's.

    Example:
      >>> model.fit(train, epochs=3)          # a vaezoo model: this bar by default
      >>> keras_model.fit(train, epochs=3, callbacks=[BatchProgbarLogger()])
    """

    def _steps(self):
        return int(self.model.optimizer.iterations.numpy())

    def on_epoch_begin(self, epoch, logs=None):
        super().on_epoch_begin(epoch, logs)
        self._first_step = self._steps()

    def on_train_batch_end(self, batch, logs=None):
        done = min(self._steps() - self._first_step, batch + 1)
        self._update_progbar(done - 1, logs)


def with_progress_bar(callbacks):
    """``callbacks`` plus a ``BatchProgbarLogger`` unless they hold a progress bar already."""
    callbacks = list(callbacks or [])
    if not any(isinstance(c, keras.callbacks.ProgbarLogger) for c in callbacks):
        callbacks.append(BatchProgbarLogger())
    return callbacks

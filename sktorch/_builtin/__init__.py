"""The built-in model (``module=None``): its training recipe and its data statistics.

A net with ``module=None`` builds :class:`~sktorch.toy.DefaultMLP` from the data.
That model has its own training recipe, which replaces each training parameter
that nobody wrote: the constructor defaults of ``optimizer``, ``lr``,
``max_epochs`` and ``batch_size`` are markers (:mod:`sktorch._defaults`) equal to
skorch's values, and a value the user writes (constructor, ``set_params``, a
search's grid) is a plain one, honoured exactly, even when it equals skorch's
default. A user's own module always gets skorch's defaults unchanged.

==========================================  ==========================================
parameter left untouched                    the built-in model trains with
==========================================  ==========================================
``optimizer`` and ``lr`` (and no            ``Adam``, learning rate ``LR``
``optimizer__*``)                           (``LR_ONE_BATCH`` when the training rows
                                            of this fit fit in one batch), L2 weight
                                            decay ``WEIGHT_DECAY``; its step runs on
                                            one flat buffer (:mod:`.flat_adam`)
``max_epochs``                              up to ``MAX_EPOCHS`` epochs, stopping when
                                            the loss has not improved by ``TOL`` for
                                            ``PATIENCE`` epochs in a row, counted as
                                            scikit-learn's MLP counts (callback
                                            ``stop_on_plateau``)
``batch_size``                              ``min(MAX_BATCH_SIZE, n_samples)``
==========================================  ==========================================

The plateau is the validation loss's when there is a validation split (the
default ``train_split``), the training loss's otherwise; the weights of the
best epoch are restored at the end. The markers survive ``get_params``, ``clone``,
``set_params`` and pickling, so the recipe is resolved anew at every fit.

The built-in regressor's loss is in standardized target units, whatever the
optimizer (:func:`target_statistics`). Where each rule is applied: the optimizer in
``NeuralNet.initialize_optimizer``, the batch size in ``get_iterator``, the
statistics and the epoch budget in :func:`setup_training`. The sequential fit and
the fused search engine both call these, so a fused member is set up as its
sequential fit.
"""

from sktorch._builtin.recipe import (
    LR,
    LR_ONE_BATCH,
    MAX_BATCH_SIZE,
    MAX_EPOCHS,
    PATIENCE,
    PLATEAU_NAME,
    TOL,
    WEIGHT_DECAY,
    PlateauStop,
    batch_size,
    max_epochs,
    optimizer_and_lr,
    plateau_stop_changed,
    recipe_callbacks,
    recipe_optimizer_kwargs,
    setup_training,
    stops_on_plateau,
    uses_recipe,
    uses_recipe_optimizer,
)
from sktorch._builtin.statistics import (
    check_2d,
    fit_statistics,
    float64_forward,
    rebuild_module,
    target_statistics,
    to_loss_units,
)

__all__ = [
    "LR",
    "LR_ONE_BATCH",
    "MAX_BATCH_SIZE",
    "MAX_EPOCHS",
    "PATIENCE",
    "PLATEAU_NAME",
    "TOL",
    "WEIGHT_DECAY",
    "PlateauStop",
    "batch_size",
    "check_2d",
    "fit_statistics",
    "float64_forward",
    "max_epochs",
    "optimizer_and_lr",
    "plateau_stop_changed",
    "rebuild_module",
    "recipe_callbacks",
    "recipe_optimizer_kwargs",
    "setup_training",
    "stops_on_plateau",
    "target_statistics",
    "to_loss_units",
    "uses_recipe",
    "uses_recipe_optimizer",
]

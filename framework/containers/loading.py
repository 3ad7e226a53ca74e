"""`load_model`: a saved model, rebuilt as the container it was."""

import os

from framework.containers.base import Container
from framework.core.errors import FormatError
from framework.saving import read_model, read_training
from framework.training.state import compile_from_state


def load_model(path: str | os.PathLike[str], *, compile: bool = True) -> Container:
    """Rebuild the model saved at `path`, weights and all. Custom layers must be registered
    (`@register_layer`) before loading. A model saved compiled comes back compiled as it was, its
    optimizer's state and its last fit's progress with it, so that `fit(..., initial_epoch=...)`
    goes on where it stopped (`compile=False`: uncompiled, as in Keras)."""
    model = read_model(path)
    if not isinstance(model, Container):
        raise FormatError(f"{path}: the architecture is a {type(model).__name__}, not a model (a Sequential or a Model)")
    if compile:
        training, tensors = read_training(path)
        if training is not None:
            compile_from_state(model, training, tensors, str(path))
    return model

"""`load_model`: a saved model, rebuilt as the container it was."""

import os

from framework.containers.base import Container
from framework.core.errors import FormatError
from framework.saving import read_model


def load_model(path: str | os.PathLike[str]) -> Container:
    """Rebuild the model saved at `path`, weights and all. Custom layers must be registered
    (`@register_layer`) before loading."""
    model = read_model(path)
    if not isinstance(model, Container):
        raise FormatError(f"{path}: the architecture is a {type(model).__name__}, not a model (a Sequential or a Model)")
    return model

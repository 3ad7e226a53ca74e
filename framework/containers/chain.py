"""`Chain`: the layers of a `Sequential`, each call checked by their guards until an input has passed,
then run as the math alone, as Keras' `__call__` checks once, not once a batch.

Each layer's guard (`framework.core.guard`) checks its calls: the input before a forward, the call
order and the gradient before a backward. In a chain of the framework's own layers run by the model,
once a forward has passed those checks, they hold by construction for any later input of the same
shape and dtype, with no parameter's value replaced since (`Replacements`): each layer then gets the
input it accepted last time, the output of the layer before it, and each backward gets what the
backward above it returned. So a later forward and backward call each layer's own methods, without
its guard (its wrapper alone is about a ufunc's cost on a small array); what still holds:

- the model's input is checked (its shape, dtype and the replacements: else the guarded path);
- the gradient the caller gives backward is checked, and a backward with no forward to take (or
  after one that raised) is refused, layer by layer, with the guard's own errors;
- a floating-point error or a broadcast error names the layer and the method, as its guard does.

A chain that holds a layer of yours, or one that checks each input's values (`Embedding`'s
indices), or a layer whose methods were replaced on the instance, is run guarded at every call."""

import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from framework.core.arrays import Array
from framework.core.errors import BadGradient
from framework.core.guard import raise_named, start_backward
from framework.core.layer import Layer, is_builtin
from framework.core.parameter import Replacements
from framework.containers.nested import held_by

Method = Callable[..., Any]
_GUARDED = ("forward", "backward", "backward_params")


class Chain:
    """The layers of a model in order, and how to run them (`forward`, `backward`): guarded, or as
    their math alone once an input has passed every layer's checks (see the module)."""

    def __init__(self, layers: Sequence[Layer]) -> None:
        self.layers = list(layers)
        self._methods: list[tuple[Method, Method, Method]] | None = None
        """Each layer's forward, backward and backward_params without their guards; None for a chain
        run guarded at every call."""
        if all(_runs_unguarded(layer) for layer in self.layers):
            self._methods = [tuple(getattr(type(layer), name).__wrapped__ for name in _GUARDED)
                             for layer in self.layers]
        self._accepted: object = None
        """The shape and dtype of the last input whose forward passed every layer's checks, and
        `Replacements.count` then."""

    def __reduce__(self) -> tuple[type["Chain"], tuple[list[Layer]]]:
        """Pickled as its layers (a model pickled after it ran): the guardless methods are found again,
        and the next input is checked again."""
        return Chain, (self.layers,)

    def holds(self, layers: Sequence[Layer]) -> bool:
        """Whether these are the layers the chain was made of, in the same order (the same objects)."""
        return len(layers) == len(self.layers) and all(map(operator.is_, layers, self.layers))

    def forward(self, x: Array) -> Array:
        """The last layer's output for `x`: the layers' math alone for an input like the last one accepted,
        else through their guards (accepted if every layer passed)."""
        methods = self._methods
        if methods is not None and (x.shape, x.dtype, Replacements.count) == self._accepted:
            layer, h = self.layers[0], x
            try:
                for layer, (forward, _, _) in zip(self.layers, methods):
                    h = forward(layer, h)
                    layer._output_dtype, layer._grad_shape = h.dtype, h.shape  # as the guard records them
            except Exception as e:
                layer._output_dtype = None  # a forward that raised: its backward is refused
                raise_named(layer, "forward", e)
            return h
        h = x
        for layer in self.layers:
            h = layer.forward(h)
        if methods is not None:
            self._accepted = (x.shape, x.dtype, Replacements.count)  # after: building the layers replaces values
        return h

    def backward(self, grad: Array, input_grad: bool, stop: int | None = None) -> Array | None:
        """dL/dx (with `input_grad`, else None) for dL/d(output) `grad`, every parameter's grad set. A
        layer may write into the gradient the layer above returned (`Layer.grad_is_scratch`). With
        `stop`, `grad` is dL/d(the input of layer `stop`): the caller took the backward of the layers
        from `stop` on, whose forwards this takes (a CallOrderError if none awaits)."""
        layers, methods, given = self.layers, self._methods, grad
        stop = len(layers) if stop is None else stop
        for layer in layers[stop:]:
            start_backward(layer, ())
            layer._in_backward = False
        k = stop - 1
        try:
            for k in range(stop - 1, -1, -1):
                layer, which = layers[k], 1 if k or input_grad else 2  # _GUARDED[2]: the first one's parameters only
                layer.grad_is_scratch = grad is not given and type(grad) is np.ndarray and grad.base is None  # one of ours
                out: Array | None
                if methods is None:
                    out = getattr(layer, _GUARDED[which])(grad)
                else:
                    if grad is given or layer._grad_shape is None or layer._output_dtype is None:
                        start_backward(layer, (grad,) if grad is given else ())  # the caller's gradient; a call-order error
                    else:
                        layer._grad_shape, layer._in_backward = None, True  # as start_backward takes the forward
                    try:
                        out = methods[k][which](layer, grad)
                    except Exception as e:
                        raise_named(layer, _GUARDED[which], e)
                    finally:
                        layer._in_backward = False
                layer.grad_is_scratch = False
                if which == 2:
                    return None
                grad = out  # a layer of yours may return anything: the guard of the one below checks it
            return grad
        except BadGradient as e:  # free until raised: name the layer whose backward returned the bad gradient
            if k + 1 < stop:  # else it is the caller's
                e.args = (f"{e}: it is what the backward of layer {k + 1} {layers[k + 1]!r} returned; the mistake is "
                          "there",)
            raise
        finally:
            layers[k].grad_is_scratch = False


def _runs_unguarded(layer: Layer) -> bool:
    """Whether the guard's checks of `layer` hold by construction once an input of a shape has passed
    them: one of the framework's own (and all a model inside it holds), whose check of an input is the
    base's (once a shape), with its guarded methods as its class has them."""
    return (all(is_builtin(held) for held in held_by(layer))
            and type(layer).check_input is Layer.check_input
            and not any(name in vars(layer) for name in _GUARDED)
            and all(hasattr(getattr(type(layer), name), "__wrapped__") for name in _GUARDED))

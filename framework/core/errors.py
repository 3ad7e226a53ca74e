"""One error base for the whole framework; each error also subclasses the built-in it refines."""


class FrameworkError(Exception):
    """Base of every error the framework raises on purpose."""


class ShapeError(FrameworkError, ValueError):
    """An array has the wrong rank or size."""


class ValueRangeError(FrameworkError, ValueError):
    """Values outside the range accepted, such as labels outside [0, 1] for BCELoss."""


class NonFiniteError(FrameworkError, ValueError):
    """NaN or inf where a finite number is needed."""


class DTypeError(FrameworkError, TypeError):
    """An array or parameter has a dtype the layer cannot use."""


class CallOrderError(FrameworkError, RuntimeError):
    """Methods called in the wrong order, such as backward before forward."""


class NondeterministicError(FrameworkError, RuntimeError):
    """A gradient check met a forward that gives two outputs at one point (random draws without replay)."""


class StackingError(FrameworkError, RuntimeError):
    """A gradient check's probes, stacked, gave another derivative than one alone: a layer after the
    moved tensor declares `independent_samples` but mixes its samples, or its own `forward_stack` or
    `forward_shared` is not its forward probe by probe."""


class BadGradient(FrameworkError):
    """A backward was given a gradient of the wrong shape or dtype: the mistake is in what produced it
    (in a model, the backward of the layer after it), which `Sequential.backward` names."""


class GradientShapeError(BadGradient, ShapeError):
    """A gradient of another shape than the output it belongs to."""


class GradientDTypeError(BadGradient, DTypeError):
    """A gradient of another dtype than the output it belongs to, or not an array (a missing return)."""


class FormatError(FrameworkError, ValueError):
    """A saved model or configuration that is malformed, truncated or does not match its architecture."""


class MissingFileError(FormatError, FileNotFoundError):
    """A model file that does not exist: also a `FileNotFoundError`."""


REBUILD_ERRORS = (FrameworkError, TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError)
"""What a constructor may raise on arguments read from a file (a string where it wants an int, 10**400)."""


class DatasetError(FrameworkError, ValueError):
    """A dataset folder the loader cannot use: missing, with fewer than two classes, with an empty
    class, or holding a file that is not an image."""


class ConfigError(FrameworkError, TypeError):
    """An object of the wrong kind where another is expected (`compile(loss="bce")`, a layer twice in a
    Sequential), or whose configuration cannot be saved, such as a schedule that is a plain function."""

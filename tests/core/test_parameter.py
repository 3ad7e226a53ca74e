"""Parameter: a value must be float32 or float64 (or complex, as the checker's probes are)."""

import numpy as np
import pytest

from framework import DTypeError, Parameter


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, np.bool_, np.float16])
def test_a_parameter_refuses_a_value_that_is_not_float(dtype: type[np.generic]) -> None:
    name = np.dtype(dtype).name
    message = rf"Parameter 's' has dtype {name}: a parameter must be float32 or float64 .*pass a float32 or float64 array"
    with pytest.raises(DTypeError, match=message):
        Parameter(np.ones(3, dtype=dtype), name="s")
    p = Parameter(np.ones(3), name="s")
    with pytest.raises(DTypeError, match=message):  # checked when the value is replaced, too
        p.value = np.ones(3, dtype=dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex128])
def test_a_parameter_takes_a_float_or_complex_value(dtype: type[np.generic]) -> None:
    assert Parameter(np.ones(3, dtype=dtype)).grad.dtype == dtype

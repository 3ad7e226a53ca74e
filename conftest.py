"""pytest's doctests of framework/ (`--doctest-modules`) import every module: the export modules
whose optional package (onnx, torch) is not installed are left out, as their tests skip."""

import importlib.util

collect_ignore = [f"framework/export/{name}.py" for name in ("onnx", "torch") if importlib.util.find_spec(name) is None]

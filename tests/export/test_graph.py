"""The walk both exports share (`framework.export.graph`), and the promise that neither onnx nor
torch is imported until an export is called."""

import subprocess
import sys

from framework.export.graph import program
from tests.helpers.export import random_model


def test_a_nested_model_is_inlined_under_its_name_and_a_shared_layer_called_twice() -> None:
    model, _ = random_model("nested", 0)
    prog = program(model)
    assert prog.inputs == (("input", (None, 4)),)
    assert [call.name for call in prog.calls] == [
        "0.nested.0", "0.nested.1", "0.nested.2", "0.dense", "0.add", "1", "2.0", "2.1", "3"]
    assert [p.rsplit(".", 1)[0] for p, _ in model.named_parameters()][::2] == ["0.nested.0", "0.nested.2", "0.dense", "2.0", "3"]
    add = prog.calls[4]
    assert add.inputs == ("0.nested.2", "0.dense") and add.output_shape == (None, 6)
    assert prog.outputs == ("3",)

    graph, _ = random_model("graph", 0)
    calls = program(graph).calls
    shared = [call for call in calls if call.name == "dense_1"]
    assert [call.output for call in shared] == ["dense_1", "dense_1_1"] and shared[0].layer is shared[1].layer
    assert len(program(graph).layers()) == len(graph.named_layers())


def test_nothing_imports_onnx_or_torch_until_an_export_is_called() -> None:
    code = ("import sys, numpy as np, framework, framework.export.graph\n"
            "from framework import Dense, Input, Sequential\n"
            "model = Sequential([Input(3), Dense(2)])\n"
            "model.predict(np.ones((2, 3))); model.summary(print_fn=lambda s: None)\n"
            "print(sorted({'torch', 'onnx', 'onnxruntime'} & set(sys.modules)))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"

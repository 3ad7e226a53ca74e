"""Export of a model to other engines: `onnx.py` writes an ONNX file (onnxruntime runs it on servers,
GPUs and phones), `torch.py` builds a `torch.nn.Module` with the same weights; `graph.py` is the walk
of a model's layers they share. Neither onnx nor torch is imported until its export is called."""

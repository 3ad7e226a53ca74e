"""The core every other part builds on: array types, errors and validation, parameters, the module and
layer base classes, graph nodes, the floating-point guard and the layer registry. It imports nothing
else of the framework."""

"""Containers: models made of layers. `Container` (naming, weights, summary, saving, nesting), `Sequential`
(a chain), `Model` (a graph of `Input` nodes and layer calls), `Nested` (a model used as a layer)."""

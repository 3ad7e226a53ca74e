"""Training: optimizers and their schedules, metrics, callbacks, and the `Trainer` that compiles and fits
a model (what `Sequential` and `Model` inherit it from)."""

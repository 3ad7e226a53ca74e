"""Command line: train, check, summarise and use models. `python -m framework COMMAND --help`.

A user's mistake (a bad option value, a missing or unreadable file, a dataset folder the loader
cannot use, a module that does not import) ends with one line `framework COMMAND: error: ...` on
stderr and exit code 2, as argparse ends on an unknown option; a failed gradient check ends with
exit code 1. The models it builds start with a Normalization layer adapted on the training data,
so that a saved model takes raw data."""

import argparse
import importlib
import importlib.util
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np

from framework.core.arrays import Array
from framework.training.callbacks import EarlyStopping
from framework.datasets import ClassSplit, Split, image_folder, load_digits_binary
from framework.core.errors import FrameworkError
from framework.core.validation import sample_shape_hint
from framework.gradcheck import check_gradients
from framework.gradcheck.numeric import Mode
from framework.layers import Normalization, Sigmoid, Softmax
from framework.losses import BUILT_IN_LOSSES, BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, Loss
from framework.containers.model import Model
from framework.containers.sequential import Sequential
from framework.training.optimizers import SGD, Adam, Optimizer, RMSprop
from framework.containers.loading import load_model
from framework.saving import saved_loss
from framework.containers.base import Container

if TYPE_CHECKING:
    import models

OPTIMIZERS: dict[str, type[Optimizer]] = {"adam": Adam, "sgd": SGD, "rmsprop": RMSprop}
FULL_CHECK_PARAMETERS = 10_000
"""`train --check-mode auto` checks every entry of a model up to this many parameters, and samples
entries of a bigger one: central differences of every entry of a 12288-4-3-1 model, layer by
layer, take 100 s on 18 images."""
FULL_CENTRAL_SECONDS = 2.0
"""...and checks every entry by central differences, too, when the complex step took at most this
long: they cost about six times as much (no linear shortcuts, two forwards an entry), and the
complex step has already checked every entry exactly (the digits' convnet: 9 s, then 59 s)."""


def check_mode(requested: str, parameters: int, complex_seconds: float | None = None) -> Mode:
    """The gradient-check mode `train` uses: `requested`, or for "auto" full up to
    `FULL_CHECK_PARAMETERS` parameters and sampled above; for central differences (after a complex
    step that took `complex_seconds`) sampled also when the complex step took over `FULL_CENTRAL_SECONDS`."""
    if requested != "auto":
        return cast(Mode, requested)
    slow = complex_seconds is not None and complex_seconds > FULL_CENTRAL_SECONDS
    return "full" if parameters <= FULL_CHECK_PARAMETERS and not slow else "sampled"


class UsageError(Exception):
    """A mistake of the command line's user that no library error names, such as an input file
    that cannot be read: `main` reports it in one line, with exit code 2."""


def _integer(least: int) -> Callable[[str], int]:
    """An argparse type: an integer of at least `least`, refused at once when parsing the options."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"must be at least {least}, got {value}")
        return value

    return parse


def _shape(text: str) -> tuple[int, ...]:
    """A sample's shape, "64" or "8,8,1" (or "8x8x1"): sizes of at least 1."""
    try:
        sizes = tuple(int(part) for part in text.replace("x", ",").split(","))
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"expected sizes of at least 1 separated by commas, such as 64 or 8,8,1; "
                                         f"got {text!r}")
    return sizes


def _positive_float(text: str) -> float:
    """An argparse type: a finite number above 0, such as a learning rate."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, got {text}")
    return value


def _printer(verbose: int) -> Callable[[str], object]:
    """`print`, or at verbose 0 a function that prints nothing."""
    return print if verbose else (lambda text: None)


def _note(args: argparse.Namespace, text: str) -> None:
    """One line on stderr, `framework COMMAND: note: ...`, saying what the command chose or left out
    on the user's behalf; `train --verbose 0` prints none."""
    if getattr(args, "verbose", 1):
        print(f"framework {args.command}: note: {text}", file=sys.stderr)


def _dataset(args: argparse.Namespace, images: bool) -> Split | ClassSplit:
    """The digits (raw pixels, odd vs even), or a folder of class folders split 3:1, stratified: flat
    rows of pixels, or (H, W, C) images for a convnet."""
    if args.dataset == "digits":
        return load_digits_binary(seed=args.seed, standardize=False, flatten=not images)
    folder = image_folder(args.dataset, flatten=not images)
    if folder.skipped:
        more = len(folder.skipped) - 3
        shown = ", ".join(folder.skipped[:3]) + (f" and {more} more" if more > 0 else "")
        _note(args, f"skipped {len(folder.skipped)} file(s) that are not images by their extension: {shown}")
    from sklearn.model_selection import train_test_split

    x_train, x_test, y_train, y_test = train_test_split(
        folder.x, folder.y, test_size=0.25, stratify=folder.y, random_state=args.seed
    )
    description = f"{args.dataset}: {', '.join(folder.class_names)}"
    if len(folder.class_names) == 2:
        return Split(x_train, y_train, x_test, y_test, description)
    return ClassSplit(x_train, y_train, x_test, y_test, description)


def _recipe(args: argparse.Namespace) -> "models.Recipe":
    import models

    if args.model not in models.MODELS:
        raise UsageError(f"unknown model {args.model!r}; models/ has {', '.join(models.MODELS)}")
    return models.MODELS[args.model]


def _sample_shape(model: Container) -> tuple[int, ...] | None:
    """The shape of one sample a loaded model takes, by the input shape it was saved with (None when
    it was saved without one)."""
    shape = model.input_shape if isinstance(model, Sequential) else (
        model.inputs[0].shape if isinstance(model, Model) and len(model.inputs) == 1 else None)
    return None if shape is None or None in shape[1:] else cast(tuple[int, ...], shape[1:])


def _takes_images(model: Container) -> bool:
    """Whether a loaded model takes (batch, H, W, C) images."""
    shape = _sample_shape(model)
    return shape is not None and len(shape) == 3


def _loaded_or_recipe(args: argparse.Namespace) -> tuple[Container | None, bool]:
    """The model `--load` names (None for `--model`), and whether the model takes images."""
    if args.load:
        model = load_model(args.load)
        return model, _takes_images(model)
    return None, _recipe(args).images


def _classes(data: Split | ClassSplit) -> int:
    return 2 if isinstance(data, Split) else int(data.y_train.max()) + 1


def _built(args: argparse.Namespace, input_shape: tuple[int, ...], classes: int = 2,
           x_train: Array | None = None) -> Sequential:
    """The `--model` builder's model for samples of `input_shape`, starting with a Normalization layer
    (per feature, or per channel of images) adapted on `x_train` (left unadapted without it, for
    `summary`)."""
    normalization = Normalization(features=input_shape[-1])
    if x_train is not None:
        normalization.adapt(x_train)
    return _recipe(args).build(input_shape, classes=classes, normalization=normalization)


def _model(args: argparse.Namespace, loaded: Container | None, data: Split | ClassSplit) -> tuple[Container, Loss]:
    """The model to train or check, and its loss: `--loss`, else for `--load` the loss its file
    names or its last layer implies, for `--model` the builder's (BCELoss on the sigmoid output of
    two classes, CrossEntropyLoss on the logits of more)."""
    chosen = BUILT_IN_LOSSES[args.loss]() if args.loss else None
    if loaded is None:
        classes = _classes(data)
        built = _built(args, data.x_train.shape[1:], classes, data.x_train)
        if chosen is None:
            chosen = BCELoss() if classes == 2 else CrossEntropyLoss()
        return built, chosen
    model = loaded
    loss = chosen if chosen is not None else implied_loss(model, saved_loss(args.load))
    last = model.layers[-1]
    if isinstance(loss, BCEWithLogitsLoss | CrossEntropyLoss) and isinstance(last, Sigmoid | Softmax):
        raise UsageError(f"--loss {type(loss).__name__} takes logits, but the model ends with {last!r}, whose outputs "
                         "are probabilities: it would apply a second sigmoid or softmax; pass --loss BCELoss for a "
                         "Sigmoid output")
    if loss is not None:
        return model, loss
    if isinstance(last, Softmax):
        raise UsageError(
            "the model ends with Softmax: end it with its logits, which CrossEntropyLoss takes, to check it"
        )
    raise UsageError(
        f"the model ends with {last!r}, not Sigmoid, and its file names no loss, so its outputs may be logits or a "
        "regression's: pass --loss (BCEWithLogitsLoss for the logit of two classes, CrossEntropyLoss for several, "
        "MSELoss for a regression)"
    )


def train(args: argparse.Namespace) -> int:
    from framework.plots import plot_gradcheck, plot_history

    say = _printer(args.verbose)
    loaded, images = _loaded_or_recipe(args)
    data = _dataset(args, images)
    say(data.description)
    model, loss = _model(args, loaded, data)
    model.summary(print_fn=say)

    x_check, y_check = data.x_train[: args.check_batch], data.y_train[: args.check_batch]
    parameters = sum(p.size for p in model.parameters())
    reports = {}
    took: float | None = None
    for method in ("complex", "central"):
        start = time.perf_counter()
        mode = check_mode(args.check_mode, parameters, took)
        reports[method] = report = check_gradients(model, loss, x_check, y_check, method=method, mode=mode,
                                                   samples=args.check_samples)
        took = time.perf_counter() - start
        say(f"\n{report}\n({took:.2f} s on a batch of {len(x_check)})")
        if not report.passed:
            if not args.verbose:
                print(report, file=sys.stderr)
            return 1

    lr = args.lr if args.lr is not None else 0.02 if args.load else _recipe(args).lr
    optimizer = OPTIMIZERS[args.optimizer](lr=lr)
    model.compile(loss=loss, optimizer=optimizer, metrics=["accuracy"])
    say(f"\nTraining with {type(optimizer).__name__}(lr={lr}), batch size {args.batch_size}, "
          f"early stopping on val_loss with patience {args.patience}")
    stopper = EarlyStopping("val_loss", patience=args.patience, restore_best_weights=True)
    history = model.fit(
        data.x_train, data.y_train, epochs=args.epochs, batch_size=args.batch_size, validation_split=0.2,
        callbacks=[stopper], seed=args.seed, verbose=args.verbose,
    )
    out = Path(args.out)
    try:
        saved = model.save(out / "model.safetensors")
        curves = plot_history(history.history, out / "history.png")
        errors = plot_gradcheck(reports["complex"], out / "gradcheck.png")
    except OSError as e:
        raise UsageError(f"cannot write to {out}: {e.strerror or e}") from e
    say(f"\nbest epoch {stopper.best_epoch + 1} of {len(history.epoch)}; weights restored from it")
    say(f"saved {saved}, {curves}, {errors}")
    results = model.evaluate(data.x_test, data.y_test)
    say(f"train accuracy {model.evaluate(data.x_train, data.y_train)['accuracy']:.4f}")
    say(f"test accuracy  {results['accuracy']:.4f}")
    if args.dataset == "digits":
        ten_classes(args, images, say)
    return 0


def ten_classes(args: argparse.Namespace, images: bool = False, say: Callable[[str], object] = print) -> None:
    """The same digits, all ten classes, softmax cross-entropy, Adam(lr=0.005): for a model of flat
    rows, Normalization -> Dense(64 -> 32) -> ReLU -> Dense(32 -> 10); for a convnet, `digits_cnn`."""
    import models
    from framework.datasets import load_digits

    data = load_digits(seed=args.seed, standardize=False, flatten=not images)
    normalization = Normalization()
    normalization.adapt(data.x_train)
    model = (models.digits_cnn(classes=10, seed=args.seed, normalization=normalization) if images else
             models.mlp_classifier(64, (32,), classes=10, seed=args.seed, normalization=normalization))
    loss = CrossEntropyLoss()
    report = check_gradients(model, loss, data.x_train[: args.check_batch], data.y_train[: args.check_batch])
    say(f"\n{data.description}\n{report.subject}: complex-step check {'PASSED' if report.passed else 'FAILED'}, "
          f"worst relative error {report.worst_relative_error:.1e}")
    model.compile(loss=loss, optimizer=Adam(lr=0.005), metrics=["accuracy"])
    model.fit(data.x_train, data.y_train, epochs=min(args.epochs, 40), batch_size=args.batch_size,
              validation_split=0.2, seed=args.seed, verbose=0,
              callbacks=[EarlyStopping("val_loss", patience=5, restore_best_weights=True)])
    say(f"10-class test accuracy {model.evaluate(data.x_test, data.y_test)['accuracy']:.4f}")


def implied_loss(model: Container, saved: Loss | None) -> Loss | None:
    """The loss that a model's file or its last layer states, never guessed: `saved` (the loss its
    file names, which it was compiled with), else BCELoss after a Sigmoid; None otherwise: after a
    Softmax (CrossEntropyLoss takes the logits before it), and for outputs that may be logits or a
    regression's."""
    if saved is not None:
        return saved
    return BCELoss() if isinstance(model.layers[-1], Sigmoid) else None


def gradcheck(args: argparse.Namespace) -> int:
    loaded, images = _loaded_or_recipe(args)
    data = _dataset(args, images)
    model, loss = _model(args, loaded, data)
    x, y = data.x_train[: args.batch], data.y_train[: args.batch]
    if isinstance(loss, CrossEntropyLoss):
        y = y.ravel().astype(np.int64)  # binary labels of shape (m, 1) as class indices
    start = time.perf_counter()
    report = check_gradients(model, loss, x, y, method=args.method, mode=args.mode, samples=args.samples)
    print(f"{report}\n({time.perf_counter() - start:.2f} s on a batch of {len(x)})")
    return 0 if report.passed else 1


def summary(args: argparse.Namespace) -> int:
    if args.load:
        load_model(args.load).summary()
        return 0
    shape = args.input_shape or ((8, 8, 1) if _recipe(args).images else (64,))
    _built(args, shape).summary()
    return 0


def predict(args: argparse.Namespace) -> int:
    model = load_model(args.load)
    x = _read_input(Path(args.input))
    x = _samples_of(x, _sample_shape(model), Path(args.input).name)
    params = model.parameters()
    if x.dtype.kind == "f" and params and x.dtype != params[0].value.dtype:
        x = x.astype(params[0].value.dtype)  # the library refuses mixed floats; a file's user cannot cast
    out = model.predict(x, batch_size=1024)
    printed, note = printed_outputs(model, saved_loss(args.load), out, args.raw, args.probabilities)
    if note:
        _note(args, note)
    # numpy's shortest repr of each value, which reads back to the same float of the model's dtype
    text = "".join(",".join(str(p) for p in row) + "\n" for row in printed)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    try:
        Path(args.output).write_text(text)
    except OSError as e:
        raise UsageError(f"cannot write {args.output}: {e.strerror or e}") from e
    return 0


PREDICT_RULE = """\
predict prints probabilities when the model ends with Sigmoid or Softmax, when its file names a loss
that takes logits (BCEWithLogitsLoss: their sigmoid; CrossEntropyLoss: their softmax), and with
--probabilities (the sigmoid of one column, the softmax of several). Otherwise, and with --raw, it
prints the model's raw outputs; when it cannot tell what they are (no Sigmoid or Softmax, no loss in
the file: logits, or a regression's outputs?) it says so in a note on stderr."""


def printed_outputs(
    model: Container, saved: Loss | None, out: Array, raw: bool = False, probabilities: bool = False
) -> tuple[Array, str | None]:
    """What `predict` prints for the model's outputs `out`, by `PREDICT_RULE`, and the note for
    stderr when it prints raw outputs it cannot name (None otherwise)."""
    last = model.layers[-1]
    if raw or isinstance(last, Sigmoid | Softmax) or isinstance(saved, BCELoss):
        return out, None
    logits = saved if isinstance(saved, BCEWithLogitsLoss | CrossEntropyLoss) else None
    if logits is None and probabilities:
        logits = BCEWithLogitsLoss() if out.shape[1] == 1 else CrossEntropyLoss()
    if logits is not None:
        return logits.probabilities(out), None
    if saved is not None:  # MSELoss: a regression's outputs
        return out, None
    return out, (f"printed raw outputs: the model ends with {last!r}, not Sigmoid or Softmax, and its file names no "
                 "loss; --probabilities prints their sigmoid (softmax for several columns), --raw prints them "
                 "without this note")


def _samples_of(x: Array, shape: tuple[int, ...] | None, name: str) -> Array:
    """`x` as a batch of the samples the model was saved for (`shape`, None when unknown): a CSV row
    of an image's H·W·C pixels (in C order) becomes the image; another shape is a UsageError with
    the fix where there is one."""
    if shape is None or x.shape[1:] == shape:
        return x
    if len(shape) > 1 and x.ndim == 2 and x.shape[1] == math.prod(shape):
        return x.reshape(len(x), *shape)
    flat = f" (or rows of {math.prod(shape)} numbers, an image's pixels in C order)" if len(shape) > 1 else ""
    raise UsageError(f"{name} holds an array of shape {x.shape}, but the model takes samples of shape {shape}: "
                     f"(samples, {', '.join(map(str, shape))}){flat}{sample_shape_hint(x.shape, shape)}")


def _read_input(path: Path) -> Array:
    """The samples in a .npy file, or in a CSV file of numbers (one sample a row, no header)."""
    try:
        if path.suffix == ".npy":
            x: Array = np.load(path, allow_pickle=False)
            return x
        return np.loadtxt(path, delimiter=",", ndmin=2)
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror or e}") from e
    except ValueError as e:
        expected = "a .npy file of numbers" if path.suffix == ".npy" else "comma-separated numbers, no header row"
        raise UsageError(f"cannot read {path}: {str(e).rstrip('.')} (expected {expected})") from e


def _import(spec: str) -> None:
    """Import a module by name, or a .py file by path, so that the layers it registers with
    @register_layer are known; whatever it raises is a UsageError."""
    if not spec.endswith(".py"):
        try:
            importlib.import_module(spec)
        except Exception as e:  # whatever the module's code raises: the user's to fix, in one line
            raise UsageError(f"cannot import {spec}: {type(e).__name__}: {e}") from e
        return
    path = Path(spec).resolve()
    if not path.is_file():
        raise UsageError(f"cannot import {spec}: no such file")
    known = sys.modules.get(path.stem)
    if known is not None:
        if Path(getattr(known, "__file__", None) or "").resolve() == path:
            return
        raise UsageError(f"cannot import {spec}: a module named {path.stem!r} is imported already "
                         f"({getattr(known, '__file__', None) or 'built in'}): rename the file")
    module_spec = importlib.util.spec_from_file_location(path.stem, path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[path.stem] = module  # as an import would, before running it (dataclasses look it up)
    try:
        module_spec.loader.exec_module(module)
    except Exception as e:
        del sys.modules[path.stem]
        raise UsageError(f"cannot import {spec}: {type(e).__name__}: {e}") from e


def _import_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--import", dest="imports", metavar="MODULE", action="append", default=[],
                   help="a module name or a path to a .py file, imported first so that the layers it registers "
                        "(@register_layer) can be loaded; repeatable")


def _model_options(p: argparse.ArgumentParser) -> None:
    which = p.add_mutually_exclusive_group()
    import models

    which.add_argument("--model", default="four_three_one",
                       help=f"a builder from models/: {', '.join(models.MODELS)} (default four_three_one)")
    which.add_argument("--load", metavar="PATH", help="a model saved with model.save")
    _import_option(p)


def _loss_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--loss", choices=sorted(BUILT_IN_LOSSES),
                   help="default: for --model, BCELoss for two classes (a sigmoid output) and CrossEntropyLoss "
                        "for more (logits); for --load, the loss the file names, else BCELoss after a Sigmoid, "
                        "else none: pass it")


def main(argv: Sequence[str] | None = None) -> int:
    """Run `python -m framework COMMAND ...`; 2 (the error on stderr) when the framework refuses."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        for spec in args.imports:
            _import(spec)
        result: int = args.run(args)
    except (FrameworkError, UsageError) as e:
        print(f"{parser.prog} {args.command}: error: {e}", file=sys.stderr)
        return 2
    return result


def _parser() -> argparse.ArgumentParser:
    """The command line: one sub-command for each of train, gradcheck, summary and predict."""
    parser = argparse.ArgumentParser(prog="framework", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    _train_command(commands.add_parser(
        "train", help="check a model's gradients, train it, save it and its plots (the main job)"))
    _gradcheck_command(commands.add_parser("gradcheck", help="check a model's gradients on a batch of the dataset"))
    _summary_command(commands.add_parser("summary", help="print a model's layers, output shapes and parameter counts"))
    _predict_command(commands.add_parser(
        "predict", help="print or write the probabilities (or raw outputs) a saved model gives",
        description=PREDICT_RULE, formatter_class=argparse.RawDescriptionHelpFormatter))
    return parser


def _train_command(p: argparse.ArgumentParser) -> None:
    """The options of `train`."""
    _model_options(p)
    _loss_option(p)
    p.add_argument("--dataset", default="digits",
                   help="'digits' (odd vs even, bundled) or a folder of class folders (two: a sigmoid output, more: "
                        "softmax of logits)")
    p.add_argument("--epochs", type=_integer(1), default=300, help="at most this many epochs (default 300)")
    p.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="adam", help="default adam")
    p.add_argument("--lr", type=_positive_float,
                   help="learning rate (default: the model's, 0.02 for the MLPs and a --load, 0.005 for the convnets)")
    p.add_argument("--batch-size", type=_integer(1), default=64, help="default 64")
    p.add_argument("--patience", type=_integer(0), default=30, help="epochs without a better val_loss before stopping")
    p.add_argument("--out", default="runs/digits", help="folder for model.safetensors and the plots")
    p.add_argument("--seed", type=_integer(0), default=0, help="seed of the split, the weights and the shuffling")
    p.add_argument("--check-batch", type=_integer(1), default=64, help="samples the gradient check uses (default 64)")
    p.add_argument("--check-mode", choices=("auto", "full", "sampled", "directional"), default="auto",
                   help=f"the gradient check's mode; auto: full up to {FULL_CHECK_PARAMETERS:,} parameters, else sampled; "
                        f"central differences sampled also when the complex step took over {FULL_CENTRAL_SECONDS:g} s")
    p.add_argument("--check-samples", type=_integer(1), default=16,
                   help="entries or directions a tensor, in sampled and directional mode (default 16)")
    p.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1, help="0 silent (errors only), 1 progress bar, 2 a line an epoch")
    p.set_defaults(run=train)


def _gradcheck_command(p: argparse.ArgumentParser) -> None:
    """The options of `gradcheck`."""
    _model_options(p)
    _loss_option(p)
    p.add_argument("--dataset", default="digits", help="'digits' or a folder of class folders")
    p.add_argument("--method", choices=("complex", "central"), default="complex")
    p.add_argument("--mode", choices=("full", "sampled", "directional"), default="full")
    p.add_argument("--samples", type=_integer(1), default=16, help="entries or directions a tensor (sampled, directional)")
    p.add_argument("--batch", type=_integer(1), default=64, help="samples in the batch (default 64)")
    p.add_argument("--seed", type=_integer(0), default=0)
    p.set_defaults(run=gradcheck)


def _summary_command(p: argparse.ArgumentParser) -> None:
    """The options of `summary`."""
    _model_options(p)
    p.add_argument("--input-shape", "--features", type=_shape, metavar="SHAPE",
                   help="a sample's shape, for --model: features (64) or an image's H,W,C (8,8,1); default the "
                        "digits' (64, or 8,8,1 for a convnet)")
    p.set_defaults(run=summary)


def _predict_command(p: argparse.ArgumentParser) -> None:
    """The options of `predict`."""
    p.add_argument("--load", metavar="PATH", required=True, help="a model saved with model.save")
    p.add_argument("--input", required=True,
                   help="a .npy file of shape (samples, ...) as the model takes them (features, or images H, W, C), "
                        "or a .csv file of one sample a row (an image's pixels in C order)")
    p.add_argument("--output", help="a .csv file to write (default: standard output)")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--raw", action="store_true", help="print the model's raw outputs")
    what.add_argument("--probabilities", action="store_true",
                      help="print probabilities: the outputs of a Sigmoid or Softmax, else the sigmoid of one column "
                           "of outputs, the softmax of several")
    _import_option(p)
    p.set_defaults(run=predict)

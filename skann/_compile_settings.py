"""Keras compile settings from an estimator's parameters: optimizers from names, classes or
instances; loss and metric names checked early (Keras would fail mid-fit) and spelt out."""

from __future__ import annotations

import functools
import numbers

import keras

__all__ = ["class_of_name", "history_key", "loss_name", "make_optimizer", "optimizer_class", "resolve_names"]


def make_optimizer(optimizer, arguments: dict) -> keras.optimizers.Optimizer:
    """A fresh optimizer from a name, class or instance, with ``arguments`` applied."""
    cls = optimizer_class(optimizer)
    rate = arguments.get("learning_rate")
    if isinstance(rate, numbers.Integral) and not isinstance(rate, bool):
        arguments = {**arguments, "learning_rate": float(rate)}  # Keras fails on an int (CLI: -p learning_rate=1)
    if isinstance(optimizer, keras.optimizers.Optimizer):
        # Never reuse the instance: its slots belong to one model, and clones must not share it.
        return cls.from_config(optimizer.get_config() | arguments)
    return cls(**arguments)


def optimizer_class(optimizer) -> type:
    if isinstance(optimizer, str):
        return _optimizer_class_of_name(optimizer)
    if isinstance(optimizer, type) and issubclass(optimizer, keras.optimizers.Optimizer):
        return optimizer
    if isinstance(optimizer, keras.optimizers.Optimizer):
        return type(optimizer)
    raise ValueError(
        f"optimizer must be a name, a keras.optimizers.Optimizer class or instance; got {optimizer!r}."
    )


@functools.lru_cache(maxsize=64)
def _optimizer_class_of_name(name: str) -> type:
    # Keras finds a name's class only by making an instance (and its variables): once per name.
    try:
        return type(keras.optimizers.get(name))
    except ValueError:
        raise ValueError(
            f"Could not interpret optimizer {name!r}; use a Keras optimizer name such as "
            "'sgd', 'adam', 'rmsprop', 'nadam', 'adamw', or a keras.optimizers.Optimizer."
        ) from None


def history_key(key: str) -> str:
    """A Keras history key with metric shorthands spelt out (``mae`` -> ``mean_absolute_error``)."""
    prefix = "val_" if key.startswith("val_") else ""
    name = key[len(prefix) :]
    if name == "loss":
        return key
    try:
        metric = keras.metrics.get(name)
    except (ValueError, TypeError):
        return key  # a custom or composite name (output_loss, custom_metric ...)
    full = metric.name if isinstance(metric, keras.metrics.Metric) else getattr(metric, "__name__", name)
    return prefix + full


def loss_name(loss) -> str | None:
    """snake_case name of a loss given as a name, function, class or instance (None: unknown)."""
    if isinstance(loss, type):
        loss = loss()
    if isinstance(loss, str):
        try:
            loss = keras.losses.get(loss)
        except ValueError:
            return loss
    fn = getattr(loss, "fn", None) if type(loss).__name__ == "LossFunctionWrapper" else None
    if fn is not None:
        return fn.__name__
    if isinstance(loss, keras.losses.Loss):
        name = type(loss).__name__
        return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
    return getattr(loss, "__name__", None)


def resolve_names(items, kind: str):
    """Check loss/metric names early (Keras would fail mid-fit) in ``items`` (a name, or nested
    lists, tuples and dicts of them, with other objects left as they are)."""
    getter = keras.losses.get if kind == "loss" else keras.metrics.get

    def checked(name):
        if not isinstance(name, str) or (kind == "metric" and name in ("acc", "accuracy", "ce", "crossentropy")):
            return name  # (those four: Keras picks the variant that fits the loss)
        try:
            getter(name)
        except ValueError:
            raise ValueError(
                f"Could not interpret {kind} identifier {name!r}: use a Keras {kind} name "
                f"(e.g. {'binary_crossentropy' if kind == 'loss' else 'accuracy'}), class, "
                "instance or function."
            ) from None
        return name

    return keras.tree.map_structure(checked, items)


def class_of_name(items, module):
    """Replace names of classes in ``module`` (``"BinaryCrossentropy"``, ``"binary_crossentropy"``)
    by the classes, in ``items`` (a name, or nested lists, tuples and dicts of them)."""

    def named_class(name):
        if not isinstance(name, str):
            return name
        candidate = getattr(module, name, None)
        if candidate is None:
            candidate = getattr(module, "".join(part.capitalize() for part in name.split("_")), None)
        return candidate if isinstance(candidate, type) else name

    return keras.tree.map_structure(named_class, items)

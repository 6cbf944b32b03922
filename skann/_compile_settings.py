"""Keras compile settings from an estimator's parameters: optimizers from names, classes or
instances; loss and metric names checked early (Keras would fail mid-fit) and spelt out."""

from __future__ import annotations

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
        try:
            return type(keras.optimizers.get(optimizer))
        except ValueError:
            raise ValueError(
                f"Could not interpret optimizer {optimizer!r}; use a Keras optimizer name such as "
                "'sgd', 'adam', 'rmsprop', 'nadam', 'adamw', or a keras.optimizers.Optimizer."
            ) from None
    if isinstance(optimizer, type) and issubclass(optimizer, keras.optimizers.Optimizer):
        return optimizer
    if isinstance(optimizer, keras.optimizers.Optimizer):
        return type(optimizer)
    raise ValueError(
        f"optimizer must be a name, a keras.optimizers.Optimizer class or instance; got {optimizer!r}."
    )



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
    """Check loss/metric names early (Keras would fail mid-fit) and turn the names of classes
    into classes when routed parameters must build them."""
    getter = keras.losses.get if kind == "loss" else keras.metrics.get
    if isinstance(items, str):
        if kind == "metric" and items in ("acc", "accuracy", "ce", "crossentropy"):
            return items  # Keras picks the variant that fits the loss
        try:
            getter(items)
        except ValueError:
            raise ValueError(
                f"Could not interpret {kind} identifier {items!r}: use a Keras {kind} name "
                f"(e.g. {'binary_crossentropy' if kind == 'loss' else 'accuracy'}), class, "
                "instance or function."
            ) from None
        return items
    if isinstance(items, (list, tuple)):
        return type(items)(resolve_names(v, kind) for v in items)
    if isinstance(items, dict):
        return {k: resolve_names(v, kind) for k, v in items.items()}
    return items


def class_of_name(items, module):
    """Replace names of classes in ``module`` (``"BinaryCrossentropy"``) by the classes."""
    if isinstance(items, str):
        candidate = getattr(module, items, None)
        if candidate is None:
            camel = "".join(part.capitalize() for part in items.split("_"))
            candidate = getattr(module, camel, None)
        return candidate if isinstance(candidate, type) else items
    if isinstance(items, (list, tuple)):
        return type(items)(class_of_name(v, module) for v in items)
    if isinstance(items, dict):
        return {k: class_of_name(v, module) for k, v in items.items()}
    return items

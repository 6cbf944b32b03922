"""Every use of scikit-learn's private internals in skann, in one place (scikit-learn 1.9).

scikit-learn keeps these names private, so a release may move or change them: when one does,
this module is the one place to adapt. The public names here are what skann's modules import.
"""

from __future__ import annotations

# Parameter constraints, as scikit-learn's own estimators declare them.
from sklearn.utils._param_validation import HasMethods, Interval, Options, StrOptions
# Sample-weight validation with scikit-learn's messages (non-negative, one per sample).
from sklearn.utils.validation import _check_sample_weight as check_sample_weight
# What HyperbandSearchCV shares with scikit-learn's searches: the base class (its
# _get_scorers, _format_results and _select_best_index are used as a subclass does) and the
# helpers its evaluate_candidates uses, which HyperbandSearchCV's own loop calls the same way.
from sklearn.model_selection._search import BaseSearchCV
from sklearn.model_selection._validation import (
    _insert_error_scores as insert_error_scores,
    _score as score,
    _warn_or_raise_about_fit_failures as warn_or_raise_about_fit_failures,
)
from sklearn.utils.metaestimators import _safe_split as safe_split
from sklearn.utils.validation import _check_method_params as check_method_params



def validate_params(estimator) -> None:
    """Check ``estimator``'s parameters against its declared constraints, as ``fit`` does
    (nothing to check for a class that declares none)."""
    if hasattr(estimator, "_parameter_constraints"):
        estimator._validate_params()


__all__ = [
    "BaseSearchCV", "HasMethods", "Interval", "Options", "StrOptions", "check_method_params", "check_sample_weight",
    "insert_error_scores", "safe_split", "score", "validate_params", "warn_or_raise_about_fit_failures",
]

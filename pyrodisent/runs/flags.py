"""Values of hyperparameters, checked as they are read: one validator per kind of value, in one place.

Each validator turns the text of a flag into a value or raises :class:`argparse.ArgumentTypeError`
saying what is allowed, so that ``argparse`` reports ``argument --lr: expected a finite number > 0,
got 'nan'`` and exits with status 2 — before any file is written. The same functions check values
that arrive by other routes (a config file, a sweep): call them on the text or the number.
"""
from __future__ import annotations

import argparse
import math
from typing import Callable, Optional, Union

#: the largest seed every generator accepts (numpy's legacy seeding takes 32-bit seeds)
MAX_SEED = 2**32 - 1

Number = Union[int, float]


def number(kind: type = float, *, above: Optional[Number] = None, at_least: Optional[Number] = None,
           below: Optional[Number] = None, at_most: Optional[Number] = None, odd: bool = False,
           name: Optional[str] = None) -> Callable[[Union[str, Number]], Number]:
    """A validator of finite numbers of ``kind`` (int or float) within the given bounds.

    :param above: / :param at_least: the lower bound, excluded / included.
    :param below: / :param at_most: the upper bound, excluded / included.
    :param odd: integers only: the value must be odd.
    :param name: the validator's name (argparse shows it for values that are not numbers at all).
    """
    conditions = []
    if above is not None:
        conditions.append(f"> {above}")
    if at_least is not None:
        conditions.append(f"≥ {at_least}")
    if below is not None:
        conditions.append(f"< {below}")
    if at_most is not None:
        conditions.append(f"≤ {at_most}")
    noun = ("an odd integer" if odd else "an integer") if kind is int else "a finite number"
    allowed = noun + (" " + " and ".join(conditions) if conditions else "")

    def validate(text: Union[str, Number]) -> Number:
        try:
            value = kind(text) if kind is float or not isinstance(text, str) else int(text, 10)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"expected {allowed}, got {text!r}") from None
        if kind is int and isinstance(text, float) and value != text:
            raise argparse.ArgumentTypeError(f"expected {allowed}, got {text!r}")
        if kind is float and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected {allowed}, got {text!r}")
        if ((above is not None and not value > above) or (at_least is not None and not value >= at_least)
                or (below is not None and not value < below) or (at_most is not None and not value <= at_most)
                or (odd and value % 2 == 0)):
            raise argparse.ArgumentTypeError(f"expected {allowed}, got {text!r}")
        return value

    validate.__name__ = name or f"{kind.__name__}_value"
    return validate


#: an integer ≥ 1 (sizes, counts, epochs)
positive_int = number(int, at_least=1, name="positive_int")
#: an integer ≥ 0 (warm-up lengths)
nonnegative_int = number(int, at_least=0, name="nonnegative_int")
#: a finite number > 0 (learning rates, scales, β)
positive_float = number(float, above=0, name="positive_float")
#: a finite number ≥ 0 (penalty weights, where 0 switches the term off)
nonnegative_float = number(float, at_least=0, name="nonnegative_float")
#: a probability that leaves something: [0, 1)
probability_below_one = number(float, at_least=0, below=1, name="probability")
#: a seed every generator accepts: 0 … 2³² − 1
seed = number(int, at_least=0, at_most=MAX_SEED, name="seed")


def int_at_least(minimum: int, why: str = "") -> Callable[[Union[str, Number]], int]:
    """An integer ≥ ``minimum``; ``why`` (e.g. "PSIS fits its Pareto tail to ≥ 5 weights") ends the message."""
    check = number(int, at_least=minimum, name=f"int_at_least_{minimum}")
    if not why:
        return check

    def validate(text):
        try:
            return check(text)
        except argparse.ArgumentTypeError as error:
            raise argparse.ArgumentTypeError(f"{error} ({why})") from None

    validate.__name__ = check.__name__
    return validate

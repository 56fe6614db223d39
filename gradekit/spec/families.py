"""The families of problems a spec can ask for (`family = "mlp"`, the default), and what the
reader needs of each: how to read its own fields into its model, the default sampling domain
of each base name of its given values, and how a [sampling] key names them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from gradekit.model.problem import Domain
from gradekit.spec import circuit, cnn, lstm, mlp, optimizer, rnn
from gradekit.spec.fields import Fields


@dataclass(frozen=True)
class Family:
    name: str
    parse: Callable[[Fields], Any]  # the family's own fields of a problem spec -> its model
    defaults: Mapping[str, Domain]  # the sampling domain of each base name of its given values
    domain_words: str  # what a [sampling] key may be, in words (for the error that refuses one)
    index_limit: Callable[[Any], int]  # the largest number a [sampling] key may carry (W2: 2)
    index_error: str  # why a number is refused: .format(index=..., limit=...)
    accepts: Callable[[Any, str], bool] | None = None  # a family whose [sampling] keys are its own names
    # Checks of the given values the family's model makes (fields, model, domains, pinned), or None.
    check: Callable[[Fields, Any, dict, dict], None] | None = None


FAMILIES: dict[str, Family] = {
    "mlp": Family("mlp", mlp.architecture, mlp.DEFAULT_DOMAINS,
                  "X, Y, W, b, gamma, beta, M, or one of them with a layer number", lambda arch: arch.depth,
                  "layer {index} does not exist (the network has {limit})", check=mlp.check_given),
    "circuit": Family("circuit", circuit.circuit, circuit.DEFAULT_DOMAINS, "one of the circuit's variables",
                      lambda model: 0, "", circuit.accepts),
    "rnn": Family("rnn", rnn.rnn, rnn.DEFAULT_DOMAINS, rnn.DOMAIN_WORDS, lambda model: 0,
                  "a [sampling] key of a recurrent network takes no number (write h for h0)"),
    "lstm": Family("lstm", lstm.lstm, lstm.DEFAULT_DOMAINS, lstm.DOMAIN_WORDS, lambda model: 0,
                   "a [sampling] key of an LSTM cell takes no number (h, c and f cover h0, dh1, c0, dc2, f2)"),
    "cnn": Family("cnn", cnn.cnn, cnn.DEFAULT_DOMAINS, cnn.DOMAIN_WORDS, lambda model: 1,
                  "layer {index} does not exist (the exercise has {limit})"),
    "optimizer": Family("optimizer", optimizer.optimizer, optimizer.DEFAULT_DOMAINS, optimizer.DOMAIN_WORDS,
                        lambda model: model.steps, "step {index} does not exist (the exercise has {limit})"),
}

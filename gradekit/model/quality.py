"""The quality rules of a variant, by name, and the quantities a network's structure makes 0.

A rule says what makes a poor exercise; the sampler (gradekit.sampling.sampler) rejects a candidate that
breaks a rule and draws again, and `gradekit stress` (gradekit.sampling.stress) counts, over a pool of
variants, how often each rule rejected and whether any accepted variant still breaks one.
A spec switches a rule off in its `[quality]` table (`dead_unit = false`) when an instructor
wants the case, e.g. for a textbook example pinned as it is. README.md ("Quality rules")
documents each rule; this table is the one list of them.
"""

from __future__ import annotations

from dataclasses import dataclass

@dataclass(frozen=True)
class Rule:
    name: str
    summary: str  # one line, as README's table and `gradekit stress` show it
    switchable: bool = True


# In the order the sampler checks them: a rejected candidate counts against the first rule it breaks.
RULES: tuple[Rule, ...] = (
    Rule("finite", "every value is a finite number", switchable=False),
    Rule("two_classes", "a classification problem with several samples has labels of at least two classes"),
    Rule("identical_units", "no two units of a hidden layer have the same incoming weights and bias "
                            "(or, after batch norm, the same normalized input)"),
    Rule("kink", "no ReLU or leaky ReLU input is within 0.05 of 0, the margin included"),
    Rule("tie", "no tie at a max or min gate of a computational graph: its inputs differ by more than 0.25"),
    Rule("domain", "no log gate takes a number at or below 0.1, no 1/x gate a number within 0.25 of 0"),
    Rule("saturation", "no sigmoid input beyond ±4, no tanh input beyond ±2.5 (gradients vanish)"),
    Rule("batch_variance", "a batch-norm input varies across the batch (variance above 0.01)"),
    Rule("layer_variance", "a layer-norm input varies across the units of each sample (variance above 0.01)"),
    Rule("probability_floor", "no softmax probability at or below 0.01; a sigmoid output of binary "
                              "cross-entropy within 0.02..0.98"),
    Rule("clear_prediction", "the two most likely classes of every sample differ by more than 0.02 "
                             "(a sigmoid output by more than 0.02 from 1/2)"),
    Rule("dropout_mask", "a dropout mask drops some entries and keeps some"),
    Rule("magnitude", "no asked value is larger than 1000"),
    Rule("dead_unit", "every unit gets a backward signal from some sample: no dead ReLU unit, no hidden "
                      "unit with equal weights into every softmax class, no batch-norm unit with zero gradient"),
    Rule("unique_max", "every max-pool window has one maximum, ahead of the next entry by at least 0.2"),
    Rule("zero_quantity", "no asked quantity is 0 in every entry"),
    Rule("prints_as_zero", "no asked entry that is not 0 prints as 0 at the sheet's decimals"),
    Rule("visible_update", "an asked update moves some entry by at least twice the grading tolerance"),
    Rule("visible_penalty", "an asked gradient's weight-decay term, and an asked loss's penalty, reach at least 5 "
                            "units of the last decimal shown (a forgotten penalty must not print as the right answer)"),
    Rule("small_root", "no optimizer step divides by a root (√s, √v̂) below 0.01 (ε would decide the step)"),
    Rule("loss_decreases", "when loss_new is asked, the step lowers the loss by at least one unit of the "
                           "last decimal shown"),
    Rule("distinct_mistakes", "no catalogued mistake in an asked quantity comes within the grading margin of the "
                              "right answer while printing differently at the sheet's decimals (the grader could "
                              "not tell it from rounding)"),
    Rule("structural_zero", "no asked quantity is 0 in every variant by the network's structure, unless the "
                            "spec marks it a concept question (checked when the spec is read)"),
)
RULE_NAMES: tuple[str, ...] = tuple(r.name for r in RULES)
SWITCHABLE: tuple[str, ...] = tuple(r.name for r in RULES if r.switchable)


def rule(name: str) -> Rule:
    return next(r for r in RULES if r.name == name)


@dataclass(frozen=True)
class Quality:
    """Which rules a problem's variants obey: all of them, less those its spec switches off."""

    off: frozenset[str] = frozenset()

    def on(self, name: str) -> bool:
        return name not in self.off

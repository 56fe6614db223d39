"""Grading convolution and pooling: follow-through across the maps, and the mistakes named."""

from __future__ import annotations

import numpy as np
import pytest

from gradekit.grading.grade import grade_submission
from gradekit.ops.conv import d_input, flip
from gradekit.ops.pool import route
from grading_helpers import key_for, student_values, submission, with_answers


def statuses(report, pid):
    return {q.name: q for p in report.problems if p.id == pid for q in p.quantities}


def grade(pid, changes, seed=0):
    key = key_for(pid, seed)
    values = student_values(key, pid, changes)
    return statuses(grade_submission(submission(with_answers(key, pid, values)), key), pid)


def test_a_slip_in_the_conv_output_earns_follow_through_through_relu_and_pool():
    pid = "cnn-conv-relu-pool"

    def z_with_slip(v):
        from gradekit.ops.conv import correlate
        z = correlate(v["X1"], v["K1"], 1) + v["b1"]
        z = z.copy()
        z[np.unravel_index(np.argmax(z), z.shape)] += 1.0  # the largest entry: it reaches P1
        return z

    s = grade(pid, {"Z1": z_with_slip})
    assert s["Z1"].status == "incorrect"
    for later in ("A1", "P1", "loss", "dP1"):
        assert s[later].status == "follow-through", later
    assert s["dK1"].status in ("follow-through", "correct")


def test_max_pool_gradient_to_every_cell_is_named():
    pid = "max-pool"
    s = grade(pid, {"dX1": lambda v: route(v["X1"], v["dP1"], 2, 2, "max", every_cell=True)})
    assert s["dX1"].status == "incorrect" and "max_pool_gradient_everywhere" in s["dX1"].mistake_ids
    assert s["dP1"].status == "correct"


@pytest.mark.parametrize("mistake, undo", [("conv_stride_not_spread", {"spread_it": False}),
                                           ("conv_padding_not_cropped", {"crop": False}),
                                           ("conv_dx_kernel_not_flipped", {"flip_it": False})])
def test_dx_mistakes_of_stride_padding_and_flip_are_named(mistake, undo):
    pid = "conv-stride-padding"  # true convolution, stride 2, padding 1
    s = grade(pid, {"dX1": lambda v: d_input(v["dZ1"], flip(v["K1"]), 2, 1, (5, 5), **undo)})
    assert s["dX1"].status == "incorrect" and mistake in s["dX1"].mistake_ids, s["dX1"].mistake_ids


def test_the_kernel_flipped_against_the_convention_is_named():
    from gradekit.ops.conv import correlate
    pid = "conv-correlation"
    s = grade(pid, {"Z1": lambda v: correlate(v["X1"], flip(v["K1"]), 1) + v["b1"]})
    assert s["Z1"].status == "incorrect" and "conv_kernel_flip" in s["Z1"].mistake_ids
    assert s["dZ1"].status == "follow-through"

"""Exports into the tools courses already use: Jupyter worksheets, Moodle, Canvas (QTI), Gradescope.

One module per target. Every export starts from the same answer keys as `gradekit generate`
(common.variant_keys), so a worksheet, a quiz and a paper sheet of one variant hold the same
numbers, and every answer they accept is one `gradekit grade` would accept.
"""

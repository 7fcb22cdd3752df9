"""Pure statistics for evalsite's analysis: NumPy/SciPy on arrays, no ORM.

Import from the modules themselves (``from apps.analysis.stats.agreement import
krippendorff_alpha``); this package deliberately re-exports nothing, so that the
modules can be written and changed independently.

* ``agreement`` — Krippendorff's α (with a vectorised bootstrap), percent
  agreement, Fleiss' κ, Cohen's κ, Kendall's W.
* ``kappa`` — Cohen's κ of two raters and of every pair of raters at once
  (re-exported by ``agreement``).
* ``icc`` — Shrout & Fleiss intraclass correlations on a complete block.
* ``raters`` — per-rater diagnostics and flags.
* ``profiles``, ``comparisons``, ``pairwise`` — per-model profiles, tests
  across models, pairwise judgments.

Conventions shared by all modules: a *reliability matrix* is a float array of
shape ``(n_raters, n_units)`` with ``np.nan`` for a missing rating, and a value
that is undefined is returned as ``None``, never ``NaN``.
"""

"""The analysis figures (notebook 07), one module per figure family. Each builder returns a
:class:`FigureResult` (or ``None`` when the runs hold nothing to draw) whose title and caption
say which run, models and item counts it shows.

Shared pieces live in the lowest stage that draws them: the captioned-figure type, the panel
and caption helpers and the instruction-length figure (notebook 05) in
:mod:`fipo_utils.inference.figures`, the accuracy panels (notebook 06) in
:mod:`fipo_utils.evaluation.summary_figures`, the training-curve and IPL-round panels
(notebooks 03, 04) in :mod:`fipo_utils.training.plots`. The builders here lay the runs of an
analysis out with them. Figure rules: see :mod:`fipo_utils.inference.figures`.
"""

from fipo_utils.analysis.figures.audit import CHEATING_NOTE_PUBLISHED_BOUND, cheating_note_figure
from fipo_utils.analysis.figures.data_mix import case_type_counts, type_mix_figure
from fipo_utils.analysis.figures.study import GAIN_PANELS, study_gain_figure
from fipo_utils.analysis.figures.table2 import accuracy_figure
from fipo_utils.analysis.figures.table6 import strategy_figure
from fipo_utils.analysis.figures.table8 import table8_figure
from fipo_utils.analysis.figures.training_runs import ipl_rounds_figure, training_curves_figure
from fipo_utils.inference.figures import FigureResult, prompt_length_figure

__all__ = [
    "CHEATING_NOTE_PUBLISHED_BOUND",
    "GAIN_PANELS",
    "FigureResult",
    "accuracy_figure",
    "case_type_counts",
    "cheating_note_figure",
    "ipl_rounds_figure",
    "prompt_length_figure",
    "strategy_figure",
    "study_gain_figure",
    "table8_figure",
    "training_curves_figure",
    "type_mix_figure",
]

"""heed.attention_html: where a model looked, as one self-contained HTML page."""

from __future__ import annotations

import os
from typing import Iterable, Mapping, Optional, Sequence, Union

import numpy as np

from . import _heed
from .generation import TranslationResult
from .vision import CaptionResult, VqaResult

Result = Union[TranslationResult, CaptionResult, VqaResult]


def attention_html(
    results: Union[Iterable[Result], Mapping[str, object]],
    path: Optional[Union[str, os.PathLike]] = None,
    *,
    title: str = "Where the model looked",
    target_tokens: Sequence[str] = (),
    source_tokens: Sequence[str] = (),
) -> str:
    """The page of heatmaps (PNG images inlined) for `results`, also written to `path` when given.

    results: translations (heatmaps with the pieces on the axes), captions and VQA answers
    (each word's or glimpse's weights over the picture), all made with return_attention=True
    (VQA always has them); or captured weights by name, as a model loaded with
    capture_attention=True outputs them ({"attention/<node>": [T, S], [B, T, S] or [B, H, T, S]}),
    with target_tokens/source_tokens to label their axes.
    """
    figures = []
    if isinstance(results, Mapping):
        for name, weights in results.items():
            figures += _heed.attention_figures(name, np.ascontiguousarray(weights, dtype=np.float32),
                                               list(target_tokens), list(source_tokens))
    else:
        for r in results:
            figures.append(_figure(r))
    html = _heed.attention_html(title, figures)
    if path is not None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(html)
    return html


def _figure(r: Result) -> _heed.AttentionFigure:
    f = _heed.AttentionFigure()
    if isinstance(r, TranslationResult):
        weights = _first_map(r.attention, f"translation of {r.source!r}")
        f.title = f"{r.source}  ->  {r.hypotheses[0]}"
        f.row_labels, f.col_labels = r.tokens[0], r.source_tokens
    elif isinstance(r, CaptionResult):
        weights = _first_map(r.attention, f"caption of {r.image or 'features'}")
        if r.image is None:
            raise _heed.Error("a caption of features has no picture to draw its attention on")
        f.title = f"{r.image}: {r.hypotheses[0]}"
        f.row_labels = r.words[0]
        f.image, f.grid_height, f.grid_width = r.image, r.grid_height, r.grid_width
    elif isinstance(r, VqaResult):
        weights = r.attention
        if r.image is None:
            raise _heed.Error("an answer from features has no picture to draw its attention on")
        best = r.answers[0] if r.answers else None
        f.title = f"{r.image}: {r.question} -> {best.text} ({best.probability:.3f})" if best else r.question
        f.row_labels = [f"glimpse {g + 1}" for g in range(weights.shape[0])]
        f.image, f.grid_height, f.grid_width = r.image, weights.shape[1], weights.shape[2]
    else:
        raise _heed.Error(f"attention_html: a {type(r).__name__} has no attention to draw")
    weights = np.ascontiguousarray(weights, dtype=np.float32).reshape(weights.shape[0], -1)
    f.rows, f.cols = weights.shape
    f.weights = weights.ravel().tolist()
    return f


def _first_map(maps: Sequence[np.ndarray], what: str) -> np.ndarray:
    if not maps:
        raise _heed.Error(f"the {what} has no attention: generate it with return_attention=True")
    return maps[0]

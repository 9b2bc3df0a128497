"""What the applications share: the constructor, and generation keyword arguments
(CTranslate2's names) -> heed's GenerationOptions."""

from __future__ import annotations

import os
from typing import Callable, Optional, TypedDict, Union

from . import _heed


def generation_options(
    defaults: _heed.GenerationOptions,
    *,
    beam_size: Optional[int] = None,
    num_hypotheses: int = 1,
    max_length: Optional[int] = None,
    max_decoding_length: Optional[int] = None,
    min_length: Optional[int] = None,
    min_decoding_length: Optional[int] = None,
    length_penalty: Optional[float] = None,
    repetition_penalty: Optional[float] = None,
    no_repeat_ngram_size: Optional[int] = None,
    return_attention: bool = False,
) -> _heed.GenerationOptions:
    """`defaults` (the model's generation config) with the arguments given applied.

    max_length/max_decoding_length: tokens generated after the start token, EOS
    included (heed's max_new_tokens); min_length/min_decoding_length: EOS is
    held back before this many.
    """
    o = defaults
    if max_length is not None and max_decoding_length is not None:
        raise _heed.Error("give max_length or max_decoding_length, not both")
    if min_length is not None and min_decoding_length is not None:
        raise _heed.Error("give min_length or min_decoding_length, not both")
    if beam_size is not None:
        o.beam_size = _positive("beam_size", beam_size)
    if _positive("num_hypotheses", num_hypotheses) > o.beam_size:
        raise _heed.Error(f"num_hypotheses {num_hypotheses} is more than the beam size {o.beam_size}")
    o.num_hypotheses = num_hypotheses
    longest = max_length if max_length is not None else max_decoding_length
    if longest is not None:
        o.max_new_tokens = _positive("max_length", longest)
    shortest = min_length if min_length is not None else min_decoding_length
    if shortest is not None:
        if shortest < 0:
            raise _heed.Error(f"min_length must be >= 0, got {shortest}")
        o.min_new_tokens = shortest
    if length_penalty is not None:
        o.length_penalty = float(length_penalty)
    if repetition_penalty is not None:
        if repetition_penalty <= 0:
            raise _heed.Error(f"repetition_penalty must be > 0, got {repetition_penalty}")
        o.repetition_penalty = float(repetition_penalty)
    if no_repeat_ngram_size is not None:
        if no_repeat_ngram_size < 0:
            raise _heed.Error(f"no_repeat_ngram_size must be >= 0, got {no_repeat_ngram_size}")
        o.no_repeat_ngram_size = no_repeat_ngram_size
    o.return_attention = bool(return_attention)
    return o


def _positive(name: str, value: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise _heed.Error(f"{name} must be a positive int, got {value!r}")
    return value


class GenerationKwargs(TypedDict, total=False):
    """The generation keyword arguments every generating call takes.

    beam_size: 1 is greedy (default: the model's generation config, else 1).
    num_hypotheses: the n best to return (at most beam_size).
    max_length (or max_decoding_length): tokens generated, EOS included.
    min_length (or min_decoding_length): EOS is held back before this many.
    length_penalty: beam scores are sum(log p) / length**length_penalty.
    repetition_penalty: > 1 lowers the scores of tokens already generated.
    no_repeat_ngram_size: > 0, no n-gram of this size appears twice.
    return_attention: also return where the model looked for each token.
    """

    beam_size: int
    num_hypotheses: int
    max_length: int
    max_decoding_length: int
    min_length: int
    min_decoding_length: int
    length_penalty: float
    repetition_penalty: float
    no_repeat_ngram_size: int
    return_attention: bool


class Application:
    """The constructor of Translator, Captioner and QuestionAnswerer.

    model_dir: the model directory. model: a heed.Model already loaded from it, to share
    between several applications. device: "cpu" or "cuda". threads: 0 for all cores.
    precision: "f32", "bf16" or "int8" (None: as the model stores its weights).
    max_batch_size: items run together (default: the application's). profile: collect
    per-node timings, read with profile(). progress: called as progress(done, total)
    after each batch.
    """

    _native: type

    def __init__(
        self,
        model_dir: Union[str, os.PathLike],
        *,
        model: Optional[_heed.Model] = None,
        device: str = "cpu",
        threads: int = 0,
        precision: Optional[str] = None,
        max_batch_size: Optional[int] = None,
        profile: bool = False,
        progress: Optional[Callable[[int, int], None]] = None,
    ) -> None:
        batch = {} if max_batch_size is None else {"batch_size": _positive("max_batch_size", max_batch_size)}
        self._app = self._native(model_dir, model=model, threads=threads, profile=profile, device=device,
                                 precision=precision, progress=progress, **batch)

    def profile(self) -> _heed.Profile:
        """Per-node timings of the model's graph runs (with profile=True)."""
        return self._app.profile()

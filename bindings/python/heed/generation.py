"""heed.Translator (text in, text out) and heed.Generator (token ids in and out)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, List, Mapping, Optional, Sequence, Union

import numpy as np

from . import _heed
from ._common import Application, GenerationKwargs, generation_options

if TYPE_CHECKING:
    from typing_extensions import Unpack

@dataclass
class TranslationResult:
    """The hypotheses for one source line, best first (as CTranslate2's TranslationResult)."""

    source: str
    hypotheses: List[str]  # detokenized text
    scores: List[float]  # sum of log-probabilities (beam search: / length**length_penalty)
    tokens: List[List[str]]  # each hypothesis' SentencePiece pieces, </s> included
    source_tokens: List[str]  # the source as the model read it, </s> included
    truncated: bool = False  # the source was cut to the model's positions
    # With return_attention: per hypothesis, a float32 array [len(tokens[i]), len(source_tokens)].
    attention: List[np.ndarray] = field(default_factory=list)

    def __str__(self) -> str:
        return self.hypotheses[0] if self.hypotheses else ""


@dataclass
class GenerationResult:
    """The hypotheses for one source, best first."""

    sequences_ids: List[List[int]]  # generated ids, start token left out, EOS included
    scores: List[float]
    # With return_attention: per hypothesis, a float32 array [tokens, source positions].
    attention: List[np.ndarray] = field(default_factory=list)


def _attention(rows: List[List[float]], cols: int) -> np.ndarray:
    return np.asarray(rows, dtype=np.float32).reshape(len(rows), cols)


class Translator(Application):
    """Translates text with a model directory: Hugging Face Marian or heed's LSTM seq2seq,
    with its tokenizer files (source.spm, target.spm, vocab.json).

    Constructor arguments: heed.Application; max_batch_size defaults to 32 sentences,
    sorted by length.
    """

    _native = _heed.Translator

    def translate_batch(self, source: Sequence[str], **options: Unpack[GenerationKwargs]) -> List[TranslationResult]:
        """One TranslationResult per line of `source` (an empty line gives an empty translation).

        Options (heed.GenerationKwargs) default to the model's generation_config.json.
        """
        lines = _lines(source)
        o = generation_options(self._app.default_options(), **options)
        results = self._app.translate_n_best(lines, o)
        return [_translation_result(line, r) for line, r in zip(lines, results)]

    def translate(self, text: str, **options: Unpack[GenerationKwargs]) -> str:
        """The best translation of one line."""
        return str(self.translate_batch([text], **options)[0])

    def encode(self, text: str) -> List[int]:
        """Token ids of a line (</s> appended), as the model reads it."""
        return self._app.encode(text)

    def decode(self, ids: Sequence[int]) -> str:
        return self._app.decode(list(ids))


def _lines(source: Sequence[str]) -> List[str]:
    if isinstance(source, str):
        raise _heed.Error("translate_batch takes a list of lines; for one line use translate(text)")
    lines = list(source)
    for i, line in enumerate(lines):
        if not isinstance(line, str):
            raise _heed.Error(f"source[{i}] is {type(line).__name__}, not str (heed tokenizes the text itself)")
    return lines


def _translation_result(line: str, hypotheses: List[_heed.Translation]) -> TranslationResult:
    if not hypotheses:  # an empty line: one empty translation, as heed::Translator::translate gives
        return TranslationResult(source=line, hypotheses=[""], scores=[0.0], tokens=[[]], source_tokens=[])
    first = hypotheses[0]
    source_tokens = list(first.source_pieces)
    return TranslationResult(
        source=line,
        hypotheses=[h.text for h in hypotheses],
        scores=[h.score for h in hypotheses],
        tokens=[list(h.target_pieces) for h in hypotheses],
        source_tokens=source_tokens,
        truncated=first.truncated,
        attention=[_attention(h.attention, len(source_tokens)) for h in hypotheses if h.attention],
    )


class Generator:
    """Greedy and beam search on token ids with an encoder-decoder model (Marian, LSTM
    seq2seq, Show-Attend-Tell), batched over sources of different lengths.
    """

    def __init__(self, model: _heed.Model, *, threads: int = 0, profile: bool = False) -> None:
        self._generator = _heed.Generator(model, threads=threads, profile=profile)

    def generate_batch(
        self,
        sources: Union[Sequence[Sequence[int]], Mapping[str, object]],
        *,
        max_batch_size: int = 32,
        **options: Unpack[GenerationKwargs],
    ) -> List[GenerationResult]:
        """One GenerationResult per source: token id lists (EOS included as the tokenizer adds it),
        or encoder inputs by name for a model whose encoder reads tensors ({"image": [N, 3, H, W]}).
        """
        o = generation_options(self._generator.default_options(), **options)
        if isinstance(sources, Mapping):
            results = self._generator.generate_n_best_from_tensors(dict(sources), o)
        else:
            ids = [[int(t) for t in s] for s in sources]
            results = self._generator.generate_n_best(ids, o, max_batch_size)
        return [_generation_result(r) for r in results]

    def profile(self) -> _heed.Profile:
        return self._generator.profile()


def _generation_result(hypotheses: List[_heed.Generation]) -> GenerationResult:
    return GenerationResult(
        sequences_ids=[list(h.tokens) for h in hypotheses],
        scores=[h.score for h in hypotheses],
        attention=[_attention(h.attention, len(h.attention[0])) for h in hypotheses if h.attention],
    )

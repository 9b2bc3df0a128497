"""heed.Captioner (Show, Attend and Tell) and heed.QuestionAnswerer (pytorch-vqa)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np

from . import _heed
from ._common import Application, GenerationKwargs, generation_options

if TYPE_CHECKING:
    from typing_extensions import Unpack

PathLike = Union[str, os.PathLike]


@dataclass
class CaptionResult:
    """The captions for one image, best first."""

    image: Optional[str]  # the picture's path (None for features)
    hypotheses: List[str]  # the words of each caption, <start>/<end>/<pad> dropped
    scores: List[float]
    words: List[List[str]]  # every generated word, <end> included when generated
    grid_height: int = 0
    grid_width: int = 0
    # With return_attention: per hypothesis, float32 [len(words[i]), grid_height, grid_width].
    attention: List[np.ndarray] = field(default_factory=list)

    def __str__(self) -> str:
        return self.hypotheses[0] if self.hypotheses else ""


class Answer(NamedTuple):
    text: str
    probability: float  # softmax over all answers


@dataclass
class VqaResult:
    """The top answers to one question, most probable first."""

    image: Optional[str]
    question: str
    answers: List[Answer]
    tokens: List[str]  # the question as the model read it
    unknown_words: List[str]  # tokens not in the vocabulary (read as id 0, as pytorch-vqa)
    attention: np.ndarray  # float32 [glimpses, grid_height, grid_width]

    @property
    def answer(self) -> str:
        return self.answers[0].text if self.answers else ""


class Captioner(Application):
    """Captions pictures with a Show, Attend and Tell model directory (config.json,
    model.safetensors, word_map.json). Images are read as torchvision does.

    Constructor arguments: heed.Application; max_batch_size defaults to 8 images.
    """

    _native = _heed.Captioner

    def caption_batch(self, images: Sequence[PathLike], **options: Unpack[GenerationKwargs]) -> List[CaptionResult]:
        """One CaptionResult per PNG or JPEG file (max_length is capped at the model's max_caption_length)."""
        if isinstance(images, (str, os.PathLike)):
            raise _heed.Error("caption_batch takes a list of image paths; for one image use caption(path)")
        paths = [os.fspath(p) for p in images]
        o = generation_options(_captioning_defaults(), **options)
        return [_caption_result(p, r) for p, r in zip(paths, self._app.caption_n_best(paths, o))]

    def caption(self, image: PathLike, **options: Unpack[GenerationKwargs]) -> str:
        """The best caption of one picture."""
        return str(self.caption_batch([image], **options)[0])

    def caption_features(self, features: object, **options: Unpack[GenerationKwargs]) -> List[CaptionResult]:
        """Captions for encoder features instead of pictures: f32 [N, grid, grid, encoder_dim] or
        [N, grid * grid, encoder_dim], one result per row."""
        o = generation_options(_captioning_defaults(), **options)
        return [_caption_result(None, r) for r in self._app.caption_features_n_best(features, o)]

    def image_tensor(self, image: PathLike) -> np.ndarray:
        """The [3, H, W] float32 tensor the encoder reads for a picture (resized, cropped, normalized)."""
        return self._app.image_tensor(os.fspath(image))

    @property
    def max_caption_length(self) -> int:
        return self._app.max_caption_length


def _captioning_defaults() -> _heed.GenerationOptions:
    return _heed.GenerationOptions()


def _caption_result(image: Optional[str], hypotheses: List[_heed.Caption]) -> CaptionResult:
    gh = hypotheses[0].grid_height if hypotheses else 0
    gw = hypotheses[0].grid_width if hypotheses else 0
    return CaptionResult(
        image=image,
        hypotheses=[h.text for h in hypotheses],
        scores=[h.score for h in hypotheses],
        words=[list(h.words) for h in hypotheses],
        grid_height=gh,
        grid_width=gw,
        attention=[np.asarray(h.attention, dtype=np.float32).reshape(len(h.attention), gh, gw)
                   for h in hypotheses if h.attention],
    )


class QuestionAnswerer(Application):
    """Answers questions about pictures with a pytorch-vqa model directory (config.json,
    model.safetensors, vocab.json).

    Constructor arguments: heed.Application; max_batch_size defaults to 32 questions.
    """

    _native = _heed.QuestionAnswerer

    def answer(self, image: PathLike, question: str, *, top_k: int = 5) -> VqaResult:
        """The top_k answers to one question about one picture."""
        return self.answer_batch([(image, question)], top_k=top_k)[0]

    def answer_batch(self, questions: Sequence[Tuple[PathLike, str]], *, top_k: int = 5) -> List[VqaResult]:
        """One VqaResult per (image path, question) pair, answered in batches."""
        pairs = [(os.fspath(image), text) for image, text in questions]
        results = self._app.answer(pairs, _top_k(top_k))
        return [_vqa_result(image, text, r) for (image, text), r in zip(pairs, results)]

    def answer_features(self, features: object, questions: Sequence[str], *, top_k: int = 5) -> List[VqaResult]:
        """Answers from image features given directly: f32 [N, vision_features, h, w], question i about row i."""
        results = self._app.answer_features(features, list(questions), _top_k(top_k))
        return [_vqa_result(None, text, r) for text, r in zip(questions, results)]

    def encode(self, question: str) -> Tuple[List[int], List[str], List[str]]:
        """(ids, tokens, unknown words) of a question as the model reads it."""
        return self._app.encode(question)

    def image_tensor(self, image: PathLike) -> np.ndarray:
        return self._app.image_tensor(os.fspath(image))


def _top_k(k: int) -> int:
    if not isinstance(k, int) or k < 1:
        raise _heed.Error(f"top_k must be a positive int, got {k!r}")
    return k


def _vqa_result(image: Optional[str], question: str, r: _heed.VqaResult) -> VqaResult:
    return VqaResult(
        image=image,
        question=question,
        answers=[Answer(a.text, a.probability) for a in r.answers],
        tokens=list(r.tokens),
        unknown_words=list(r.unknown_words),
        attention=np.asarray(r.attention, dtype=np.float32).reshape(len(r.attention), r.grid_height, r.grid_width),
    )

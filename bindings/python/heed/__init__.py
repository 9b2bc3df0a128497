"""heed: a compiled inference engine for attention models, from Python.

Load a model (a graph JSON, a heed .safetensors file, an .onnx file or a
checkpoint directory), make a session, run it on NumPy arrays or PyTorch
tensors::

    import heed
    model = heed.Model("examples/mlp/mlp.json")
    session = model.session()
    outputs = session.run({"x": x})          # {"y": numpy.ndarray}

Applications on model directories, with CTranslate2's argument names where
they mean the same::

    heed.Translator("examples/dates-marian").translate_batch(["3rd of March 2021"])
    heed.Captioner("examples/shapes-caption").caption_batch(["picture.png"])
    heed.QuestionAnswerer("examples/shapes-vqa").answer("picture.png", "what color is the circle?")

Errors are raised as heed.Error (a RuntimeError) with heed's one-line message.
See docs/python.md.
"""

from ._heed import Error, Model, Profile, ProfileRow, Session, ValueInfo
from ._heed import version as __version__
from ._common import Application, GenerationKwargs
from .attention import attention_html
from .generation import GenerationResult, Generator, TranslationResult, Translator
from .vision import Answer, Captioner, CaptionResult, QuestionAnswerer, VqaResult

__all__ = [
    "Answer",
    "Application",
    "CaptionResult",
    "Captioner",
    "Error",
    "GenerationKwargs",
    "GenerationResult",
    "Generator",
    "Model",
    "Profile",
    "ProfileRow",
    "QuestionAnswerer",
    "Session",
    "TranslationResult",
    "Translator",
    "ValueInfo",
    "VqaResult",
    "attention_html",
    "__version__",
]

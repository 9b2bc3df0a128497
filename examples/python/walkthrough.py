# %% [markdown]
# # heed from Python: a walkthrough
#
# Cells (`# %%`) run one by one in VS Code, Jupyter (jupytext) or Spyder, or all
# at once: `python examples/python/walkthrough.py` from the repository root.
# It loads a model, runs it on NumPy and PyTorch inputs, profiles it, and draws
# where a translation model and a captioning model looked.

# %%
import os
import tempfile

import numpy as np

import heed

OUT = os.environ.get("WALKTHROUGH_OUT", tempfile.mkdtemp(prefix="heed-walkthrough-"))

# %% [markdown]
# ## A model and a session
# `print(model)` is what `heed inspect` prints: every node with its inferred shapes.

# %%
model = heed.Model("examples/mlp/mlp.json")
print(model)
print(model.inputs, model.outputs)
session = model.session(profile=True)
x = np.random.default_rng(0).standard_normal((32, 16), dtype=np.float32)
out = session.run({"x": x})
print(out["probs"].shape, out["label"][:8])

# %% [markdown]
# PyTorch tensors go in without a copy, and results go back through DLPack.

# %%
try:
    import torch

    probs = torch.from_dlpack(session.run({"x": torch.from_numpy(x)})["probs"])
    print("from PyTorch:", probs.shape, probs.dtype)
except ImportError:
    print("PyTorch is not installed: skipping that cell")

# %% [markdown]
# ## Where the time goes
# Run a few more times, then read the per-node profile: as rows, as the tool's
# table, and as a Chrome trace to open in https://ui.perfetto.dev.

# %%
for _ in range(100):
    session.run({"x": x})
profile = session.profile()
slowest = max(profile.rows, key=lambda row: row.total_us)
print(f"{profile.runs} runs; slowest node {slowest.node} ({slowest.op}): {slowest.mean_us:.1f} us a call")
print(profile.table())
profile.to_chrome_trace(os.path.join(OUT, "mlp_trace.json"))

# %% [markdown]
# ## Where the model looks
# A translation with its cross-attention, one row per generated piece.

# %%
translator = heed.Translator("examples/dates-marian", profile=True)
[result] = translator.translate_batch(["the 14th of July, 1989"], beam_size=4, return_attention=True)
print(result.hypotheses[0], result.tokens[0])
attention = result.attention[0]  # [target pieces, source pieces]
for piece, row in zip(result.tokens[0], attention):
    print(f"{piece:>6} looked at {result.source_tokens[int(row.argmax())]!r}")
heed.attention_html([result], os.path.join(OUT, "translation_attention.html"))
print(translator.profile().table().splitlines()[0])

# %% [markdown]
# A caption, each word's attention drawn over the picture.

# %%
captioner = heed.Captioner("examples/shapes-caption")
[caption] = captioner.caption_batch(["examples/shapes-test/000.png"], return_attention=True)
print(caption.hypotheses[0], caption.attention[0].shape)
heed.attention_html([caption], os.path.join(OUT, "caption_attention.html"))
print("pages and trace written to", OUT)

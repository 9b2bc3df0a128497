#!/usr/bin/env python3
"""A Marian at opus-mt's size (d_model 512, 6+6 layers, 8 heads, FFN 2048,
vocabulary 58,101: 74M parameters, 300 MB) whose weights the tests rebuild bit
for bit from a manifest (tests/reference/seeded.py, tests/seeded_weights.cc),
and what transformers computes with it in fp32: fed a source and the start
token followed by random target tokens, the decoder's logits at every step.

  tests/fixtures/marian_opus/config.json        the MarianConfig (no weights)
  tests/fixtures/marian_opus.manifest.json      every tensor save_pretrained writes: name, shape, range
  tests/fixtures/marian_opus_io.safetensors     src, src_mask, decoder_input_ids, step_logits [1, T, V]

Run: python3 tests/reference/gen_marian_opus_size.py   (needs torch, transformers)
"""
import json
import math
import os
import sys
import tempfile

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from transformers import MarianConfig, MarianMTModel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seeded import uniform  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")
VOCAB, STEPS = 58101, 6


def value_range(name, shape):
    """PyTorch's initialisation scales: Linear weights +-1/sqrt(fan_in), embeddings
    small, layer norms near 1, biases small."""
    if name.endswith("layer_norm.weight"):
        return 0.8, 1.2
    if name == "final_logits_bias":
        return -0.5, 0.5
    if name.endswith("shared.weight"):
        return -0.1, 0.1
    if len(shape) == 2:
        bound = 1.0 / math.sqrt(shape[1])
        return -bound, bound
    return -0.05, 0.05


def main():
    torch.manual_seed(0)
    cfg = MarianConfig(vocab_size=VOCAB, decoder_vocab_size=VOCAB, d_model=512, encoder_layers=6, decoder_layers=6,
                       encoder_attention_heads=8, decoder_attention_heads=8, encoder_ffn_dim=2048,
                       decoder_ffn_dim=2048, max_position_embeddings=512, pad_token_id=VOCAB - 1, eos_token_id=0,
                       decoder_start_token_id=VOCAB - 1, forced_eos_token_id=0, scale_embedding=True,
                       activation_function="swish")
    model = MarianMTModel(cfg).eval()
    with tempfile.TemporaryDirectory() as tmp:  # the tensors save_pretrained writes, in its names
        model.save_pretrained(tmp)
        with safe_open(os.path.join(tmp, "model.safetensors"), "pt") as f:
            names = {k: list(f.get_slice(k).get_shape()) for k in f.keys()}
    manifest, params = [], dict(model.named_parameters())
    params.update(dict(model.named_buffers()))
    with torch.no_grad():
        for name, shape in sorted(names.items()):
            low, high = value_range(name, shape)
            manifest.append({"name": name, "shape": shape, "low": low, "high": high})
            key = name if name in params else name.removeprefix("model.")
            params[key].copy_(uniform(name, shape, low, high))
    out = os.path.join(ROOT, "marian_opus")
    os.makedirs(out, exist_ok=True)
    cfg.to_json_file(os.path.join(out, "config.json"))
    with open(os.path.join(ROOT, "marian_opus.manifest.json"), "w") as f:
        json.dump(manifest, f)

    g = torch.Generator().manual_seed(1)
    src = torch.randint(2, VOCAB - 1, (1, 12), generator=g)
    src[0, -1] = 0  # EOS
    mask = torch.ones_like(src)
    dec = torch.cat([torch.tensor([[VOCAB - 1]]), torch.randint(2, VOCAB - 1, (1, STEPS - 1), generator=g)], dim=1)
    with torch.no_grad():
        logits = model(input_ids=src, attention_mask=mask, decoder_input_ids=dec).logits
    save_file({"src": src, "src_mask": mask, "decoder_input_ids": dec.contiguous(), "step_logits": logits.contiguous()},
              os.path.join(ROOT, "marian_opus_io.safetensors"),
              metadata={"generator": "tests/reference/gen_marian_opus_size.py", "torch": torch.__version__})
    print(f"{out}: {len(manifest)} tensors in the manifest, {sum(math.prod(m['shape']) for m in manifest)} values; "
          f"decoder inputs {dec.tolist()}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""A small Marian checkpoint whose generation_config.json sets what converted
opus-mt checkpoints set (bad_words_ids [[pad]], num_beams, max_length) and the
other processors heed honours (min_length, length_penalty, repetition_penalty,
no_repeat_ngram_size), and what transformers' generate() makes of it.
The pad token's final_logits_bias is raised so that <pad> has the top logit:
without bad_words_ids a search would emit it (the script checks that).
  tests/fixtures/marian_gencfg/            config.json, generation_config.json, model.safetensors
  tests/fixtures/marian_gencfg_io.safetensors
Run: python3 tests/reference/gen_generation_config_fixtures.py   (needs torch, transformers)
"""
import os
import shutil

import torch
from safetensors.torch import save_file
from transformers import GenerationConfig, MarianConfig, MarianMTModel

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")
VOCAB, PAD = 48, 47


def main():
    torch.manual_seed(15)
    cfg = MarianConfig(vocab_size=VOCAB, d_model=16, encoder_layers=1, decoder_layers=2, encoder_attention_heads=2,
                       decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=32,
                       pad_token_id=PAD, eos_token_id=0, decoder_start_token_id=PAD, forced_eos_token_id=0,
                       init_std=0.3)
    model = MarianMTModel(cfg).eval()
    with torch.no_grad():
        model.final_logits_bias.normal_(0, 0.1)
        model.final_logits_bias[0, PAD] = 4.0
    gen = GenerationConfig(decoder_start_token_id=PAD, pad_token_id=PAD, eos_token_id=0, forced_eos_token_id=0,
                           bad_words_ids=[[PAD]], num_beams=3, max_length=12, min_length=5, length_penalty=0.8,
                           repetition_penalty=1.4, no_repeat_ngram_size=2)
    model.generation_config = gen
    out_dir = os.path.join(ROOT, "marian_gencfg")
    shutil.rmtree(out_dir, ignore_errors=True)
    model.save_pretrained(out_dir)
    g = torch.Generator().manual_seed(4)
    lengths = [6, 4, 7]
    src = torch.full((3, max(lengths)), PAD, dtype=torch.long)
    mask = torch.zeros(3, max(lengths), dtype=torch.long)
    for b, n in enumerate(lengths):
        src[b, :n - 1] = torch.randint(1, VOCAB - 1, (n - 1,), generator=g)
        src[b, n - 1] = 0
        mask[b, :n] = 1
    reloaded = MarianMTModel.from_pretrained(out_dir).eval()  # generate() as a user's, from the saved files
    with torch.no_grad():
        beam = reloaded.generate(input_ids=src, attention_mask=mask, do_sample=False)
        greedy = reloaded.generate(input_ids=src, attention_mask=mask, do_sample=False, num_beams=1)
        unbanned = reloaded.generate(input_ids=src, attention_mask=mask, do_sample=False, num_beams=1, bad_words_ids=None,
                                     repetition_penalty=1.0, no_repeat_ngram_size=0)
    assert (unbanned[:, 1:] == PAD).any(), "without bad_words_ids <pad> should be generated"
    # transformers pads finished sequences with <pad> (PAD): cut each after its EOS.
    def strip(seqs):
        out = torch.full_like(seqs[:, 1:], -1)
        for b, s in enumerate(seqs[:, 1:].tolist()):
            n = s.index(0) + 1 if 0 in s else len(s)
            out[b, :n] = torch.tensor(s[:n])
        return out
    save_file({"src": src, "src_mask": mask, "beam": strip(beam), "greedy": strip(greedy), "unbanned_greedy": strip(unbanned)},
              os.path.join(ROOT, "marian_gencfg_io.safetensors"))
    print("beam", strip(beam).tolist())
    print("greedy", strip(greedy).tolist())
    print("unbanned", strip(unbanned).tolist())


if __name__ == "__main__":
    main()

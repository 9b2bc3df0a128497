#!/usr/bin/env python3
"""LSTM seq2seq models with Luong attention (python/heed_lstm.py, random init)
and what PyTorch computes with them: encoder outputs, teacher-forced logits and
attention at every step, greedy generations with log-probability sums, beam
search n-best lists with scores.

  tests/fixtures/lstm_<name>/             config.json, model.safetensors
  tests/fixtures/lstm_<name>_io.safetensors

First checks that python/heed_lstm.py's greedy and beam search give exactly what
transformers' generate() gives on the Marian fixture model, so the reference
search is transformers' algorithm.

Run: python3 tests/reference/gen_lstm_fixtures.py   (needs torch, transformers)
"""
import json
import os
import shutil
import sys

import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "fixtures")
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))
import heed_lstm  # noqa: E402

CONFIGS = {
    "dot": dict(vocab_size=40, embed_size=16, hidden_size=24, attention="dot", forced_eos_token_id=0),
    "general_bi": dict(vocab_size=50, embed_size=12, hidden_size=20, encoder_layers=2, decoder_layers=2,
                       bidirectional_encoder=True, attention="general"),
    "concat": dict(vocab_size=36, embed_size=10, hidden_size=16, attention="concat", input_feeding=False,
                   forced_eos_token_id=0),
    "localp": dict(vocab_size=44, embed_size=14, hidden_size=18, bidirectional_encoder=True, attention="local-p",
                   local_score="general", local_window=2),
}
# This one is saved under other names, which its config's rename map undoes.
# (saved names, the config's rename map: pattern -> replacement, applied in order)
RENAMED = {"general_bi": ([["^encoder\\.", "enc."], ["^decoder\\.attention\\.", "dec.attn."]],
                          [["^enc\\.", "encoder."], ["^dec\\.attn\\.", "decoder.attention."]])}


def sources(vocab, eos, pad, lengths, seed):
    g = torch.Generator().manual_seed(seed)
    src = torch.full((len(lengths), max(lengths)), pad, dtype=torch.long)
    for b, n in enumerate(lengths):
        src[b, :n - 1] = torch.randint(1, vocab - 1, (n - 1,), generator=g)
        src[b, n - 1] = eos
    return src, torch.tensor(lengths)


def check_search_against_transformers():
    from transformers import MarianMTModel
    model = MarianMTModel.from_pretrained(os.path.join(ROOT, "marian_tiny")).eval()
    cfg = model.config
    src, lengths = sources(cfg.vocab_size, 0, cfg.pad_token_id, [7, 3, 5], 11)
    mask = (torch.arange(src.shape[1])[None] < lengths[:, None]).long()

    def next_logits(rows, prefixes):
        return model(input_ids=src[rows], attention_mask=mask[rows], decoder_input_ids=prefixes).logits[:, -1]
    with torch.no_grad():
        for k, lp in ((1, 1.0), (3, 1.0), (4, 0.6)):
            hf = model.generate(input_ids=src, attention_mask=mask, num_beams=k, num_return_sequences=k,
                                length_penalty=lp, do_sample=False, max_new_tokens=12, output_scores=True,
                                return_dict_in_generate=True)
            if k == 1:
                ours = [[tokens] for tokens, _ in heed_lstm.greedy(next_logits, 3, cfg.decoder_start_token_id, 0, 12,
                                                                   forced_eos=0)]
            else:
                ours = [[tokens for tokens, _ in n] for n in heed_lstm.beam_search(
                    next_logits, 3, cfg.decoder_start_token_id, 0, cfg.pad_token_id, 12, k, lp, forced_eos=0)]
            for b in range(3):
                for i in range(k):
                    want = hf.sequences[b * k + i, 1:].tolist()
                    want = want[:want.index(0) + 1] if 0 in want else want
                    assert ours[b][i] == want, (k, b, i, ours[b][i], want)
                    if k > 1:
                        got = heed_lstm.beam_search(next_logits, 3, cfg.decoder_start_token_id, 0, cfg.pad_token_id,
                                                    12, k, lp, forced_eos=0)[b][i][1]
                        assert abs(got - float(hf.sequences_scores[b * k + i])) < 1e-5
    print("heed_lstm greedy and beam search equal transformers' generate() on marian_tiny")


def write_model(model, name):
    out = os.path.join(ROOT, f"lstm_{name}")
    shutil.rmtree(out, ignore_errors=True)
    heed_lstm.save(model, out)
    if name in RENAMED:  # rewrite under other names, with the map that undoes it
        import re
        from safetensors.torch import load_file
        state = load_file(os.path.join(out, "model.safetensors"))
        rules, undo = RENAMED[name]
        renamed = {}
        for k, v in state.items():
            for pattern, other in rules:
                k = re.sub(pattern, other, k)
            renamed[k] = v
        save_file(renamed, os.path.join(out, "model.safetensors"))
        cfg = dict(model.config)
        cfg["rename"] = undo
        with open(os.path.join(out, "config.json"), "w") as f:
            json.dump(cfg, f, indent=1)


def main():
    check_search_against_transformers()
    for name, kw in CONFIGS.items():
        torch.manual_seed(7)
        vocab = kw["vocab_size"]
        model = heed_lstm.Seq2Seq(dict(pad_token_id=vocab - 1, eos_token_id=0, decoder_start_token_id=vocab - 1, **kw))
        with torch.no_grad():  # larger weights than the default init: peaked, input-dependent outputs
            for p in model.parameters():
                p.mul_(3.0)
        model.eval()
        write_model(model, name)
        c = model.config
        src, lengths = sources(vocab, 0, vocab - 1, [7, 3, 5], 11)
        steps, fe = 12, c["forced_eos_token_id"]
        with torch.no_grad():
            memory, (h, cell, _) = model.encode(src, lengths)
            nl = model.next_logits_fn(src, lengths)
            greedy = heed_lstm.greedy(nl, 3, c["decoder_start_token_id"], 0, steps, forced_eos=fe)
            G = max(len(t) for t, _ in greedy)
            generated = torch.full((3, G), vocab - 1, dtype=torch.long)
            for b, (t, _) in enumerate(greedy):
                generated[b, :len(t)] = torch.tensor(t)
            dec_in = torch.cat([torch.full((3, 1), c["decoder_start_token_id"]), generated[:, :-1]], 1)
            step_logits, step_attention = model(src, lengths, dec_in)
            io = {"src": src, "lengths": lengths, "memory": memory.contiguous(), "h": h.contiguous(),
                  "c": cell.contiguous(), "generated": generated, "decoder_input_ids": dec_in,
                  "step_logits": step_logits.contiguous(), "step_attention": step_attention.contiguous(),
                  "scores": torch.tensor([s for _, s in greedy]), "max_new_tokens": torch.tensor([steps])}
            min_greedy = heed_lstm.greedy(nl, 3, c["decoder_start_token_id"], 0, steps, min_new=6, forced_eos=fe)
            for b, (t, s) in enumerate(min_greedy):
                io[f"min6.{b}"] = torch.tensor(t)
            for k, lp in ((3, 1.0), (4, 0.6)):
                nbest = heed_lstm.beam_search(nl, 3, c["decoder_start_token_id"], 0, vocab - 1, steps, k, lp,
                                              forced_eos=fe)
                io[f"beam{k}.length_penalty"] = torch.tensor([lp])
                for b in range(3):
                    for i, (t, s) in enumerate(nbest[b]):
                        io[f"beam{k}.{b}.{i}"] = torch.tensor(t)
                        io[f"beam{k}.{b}.{i}.score"] = torch.tensor([s])
        save_file(io, os.path.join(ROOT, f"lstm_{name}_io.safetensors"))
        print(name, "greedy", [t for t, _ in greedy])


if __name__ == "__main__":
    main()

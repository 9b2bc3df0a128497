#!/usr/bin/env python3
"""Trains heed's bundled LSTM demo model: python/heed_lstm.py (bidirectional LSTM
encoder, LSTM decoder with Luong general attention and input feeding) rewriting
human-written dates as ISO dates (scripts/dates.py), with the Marian demo's
SentencePiece tokenizer (source.spm, target.spm, vocab.json copied from
examples/dates-marian). CPU, a few minutes.

  python3 scripts/train_lstm_dates.py [--out examples/dates-lstm] [--steps 3000]

Writes the model directory (config.json, model.safetensors, tokenizer files),
test.src / test.tgt (the same held-out dates as the Marian demo), test.pytorch
(PyTorch's greedy outputs) and metrics.json with PyTorch's exact-match accuracy.
"""
import argparse
import json
import os
import shutil
import sys
import time

import torch
from transformers import MarianTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "python"))
import heed_lstm  # noqa: E402
from dates import dataset  # noqa: E402
from training import evaluate, optimizer_step  # noqa: E402

TOKENIZER_FILES = ("source.spm", "target.spm", "vocab.json")


def batch_ids(tok, texts, pad):
    """Marian tokenization (pieces + </s>), padded: ids [B, S], lengths [B]."""
    ids = [tok(t)["input_ids"] for t in texts]
    out = torch.full((len(ids), max(map(len, ids))), pad, dtype=torch.long)
    for b, s in enumerate(ids):
        out[b, :len(s)] = torch.tensor(s)
    return out, torch.tensor([len(s) for s in ids])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", default=os.path.join(HERE, "..", "examples", "dates-lstm"))
    p.add_argument("--tokenizer", default=os.path.join(HERE, "..", "examples", "dates-marian"))
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    a = p.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    shutil.rmtree(a.out, ignore_errors=True)
    os.makedirs(a.out)
    for f in TOKENIZER_FILES:
        shutil.copy(os.path.join(a.tokenizer, f), os.path.join(a.out, f))
    tok = MarianTokenizer(*(os.path.join(a.out, f) for f in TOKENIZER_FILES))
    vocab = json.load(open(os.path.join(a.out, "vocab.json")))
    V, pad, eos = len(vocab), vocab["<pad>"], vocab["</s>"]
    model = heed_lstm.Seq2Seq(dict(vocab_size=V, embed_size=64, hidden_size=128, encoder_layers=1, decoder_layers=1,
                                   bidirectional_encoder=True, attention="general", input_feeding=True,
                                   pad_token_id=pad, eos_token_id=eos, decoder_start_token_id=pad))
    train, test = dataset(60000, seed=1), dataset(1000, seed=2)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=a.steps, pct_start=0.1)
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=pad)
    batch, t0 = 64, time.time()
    model.train()
    for step in range(a.steps):
        chunk = [train[(step * batch + i) % len(train)] for i in range(batch)]
        src, lengths = batch_ids(tok, [s for s, _ in chunk], pad)
        tgt, _ = batch_ids(tok, [t for _, t in chunk], pad)
        dec_in = torch.cat([torch.full((batch, 1), pad), tgt[:, :-1]], 1)
        logits, _ = model(src, lengths, dec_in)
        loss = loss_fn(logits.reshape(-1, V), tgt.reshape(-1))
        optimizer_step(model, opt, sched, loss, step, t0)
    model.eval()

    def translate(texts):
        src, lengths = batch_ids(tok, texts, pad)
        gen = heed_lstm.greedy(model.next_logits_fn(src, lengths), len(texts), pad, eos, 24)
        return [tok.decode(tokens, skip_special_tokens=True) for tokens, _ in gen]
    heed_lstm.save(model, a.out)
    evaluate(a.out, test, translate, a.steps)


if __name__ == "__main__":
    main()

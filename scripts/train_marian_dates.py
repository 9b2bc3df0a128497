#!/usr/bin/env python3
"""Trains heed's bundled demo model: a small Marian-format Transformer (saved as
transformers' save_pretrained writes it, with a SentencePiece tokenizer) that
rewrites human-written dates as ISO dates (scripts/dates.py). CPU, a few minutes.

  python3 scripts/train_marian_dates.py [--out examples/dates-marian] [--steps 2500]

Writes the model directory, test.src / test.tgt (held-out data), and
metrics.json with PyTorch's exact-match accuracy (greedy) on the held-out set.
"""
import argparse
import json
import os
import shutil
import sys
import time

import sentencepiece as spm
import torch
from transformers import MarianConfig, MarianMTModel, MarianTokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dates import dataset  # noqa: E402
from training import evaluate, optimizer_step  # noqa: E402


def build_tokenizer(out, texts):
    corpus = os.path.join(out, "corpus.txt")
    with open(corpus, "w") as f:
        f.write("\n".join(texts) + "\n")
    spm.SentencePieceTrainer.train(input=corpus, model_prefix=os.path.join(out, "sp"), vocab_size=90,
                                   model_type="unigram", character_coverage=1.0, bos_id=-1, eos_id=-1, unk_id=0,
                                   split_digits=True, minloglevel=2)
    sp = spm.SentencePieceProcessor(model_file=os.path.join(out, "sp.model"))
    vocab = {"</s>": 0, "<unk>": 1}
    for i in range(sp.get_piece_size()):
        if sp.id_to_piece(i) != "<unk>":
            vocab[sp.id_to_piece(i)] = len(vocab)
    vocab["<pad>"] = len(vocab)
    for side in ("source", "target"):
        shutil.copy(os.path.join(out, "sp.model"), os.path.join(out, f"{side}.spm"))
    for f in ("sp.model", "sp.vocab", "corpus.txt"):
        os.remove(os.path.join(out, f))
    with open(os.path.join(out, "vocab.json"), "w") as f:
        json.dump(vocab, f, ensure_ascii=False)
    return MarianTokenizer(os.path.join(out, "source.spm"), os.path.join(out, "target.spm"),
                           os.path.join(out, "vocab.json")), len(vocab)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "examples", "dates-marian"))
    p.add_argument("--steps", type=int, default=2500)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    a = p.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    shutil.rmtree(a.out, ignore_errors=True)
    os.makedirs(a.out)
    train, test = dataset(60000, seed=1), dataset(1000, seed=2)
    tok, vocab_size = build_tokenizer(a.out, [s for s, _ in train[:20000]] + [t for _, t in train[:20000]])
    cfg = MarianConfig(vocab_size=vocab_size, decoder_vocab_size=vocab_size, d_model=128, encoder_layers=2,
                       decoder_layers=2, encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=256,
                       decoder_ffn_dim=256, max_position_embeddings=64, pad_token_id=vocab_size - 1,
                       eos_token_id=0, decoder_start_token_id=vocab_size - 1, forced_eos_token_id=0,
                       scale_embedding=True, dropout=0.0, attention_dropout=0.0, activation_dropout=0.0)
    model = MarianMTModel(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-3, total_steps=a.steps, pct_start=0.1)
    batch, t0 = 64, time.time()
    model.train()
    for step in range(a.steps):
        chunk = [train[(step * batch + i) % len(train)] for i in range(batch)]
        enc = tok([s for s, _ in chunk], text_target=[t for _, t in chunk], padding=True, return_tensors="pt")
        labels = enc["labels"].masked_fill(enc["labels"] == cfg.pad_token_id, -100)
        loss = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], labels=labels).loss
        optimizer_step(model, opt, sched, loss, step, t0)
    model.eval()

    def translate(texts):
        enc = tok(texts, padding=True, return_tensors="pt")
        gen = model.generate(**enc, num_beams=1, do_sample=False, max_new_tokens=24)
        return [tok.decode(g, skip_special_tokens=True) for g in gen]
    model.save_pretrained(a.out)
    evaluate(a.out, test, translate, a.steps)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""A small Marian checkpoint with share_encoder_decoder_embeddings = false, as
some opus-mt pairs have: separate encoder and decoder embeddings of different
sizes, and a tokenizer with separate vocabularies (vocab.json for the source,
target_vocab.json for the target, two SentencePiece models). Writes what
transformers makes of some sentences: token ids, greedy generations, decoded text.
  tests/fixtures/marian_separate/         config.json, model.safetensors, source.spm, target.spm, vocab.json, target_vocab.json
  tests/fixtures/marian_separate_io.json
Run: python3 tests/reference/gen_marian_separate_vocabs.py   (needs torch, transformers, sentencepiece)
"""
import json
import os
import shutil

import sentencepiece as spm
import torch
from transformers import MarianConfig, MarianMTModel, MarianTokenizer

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")
TEXTS = ["the 3rd of march 2021", "July 14, 1989", "zyxw unknown", "a b c"]


def train(out_dir, name, lines, size):
    # Trained from inside out_dir with relative names: the model records its
    # training file's path, which must not be this machine's.
    here = os.getcwd()
    os.chdir(out_dir)
    with open(f"{name}.txt", "w") as f:
        f.write("\n".join(lines) + "\n")
    spm.SentencePieceTrainer.train(input=f"{name}.txt", model_prefix=name, vocab_size=size,
                                   model_type="unigram", character_coverage=1.0, bos_id=-1, eos_id=-1, unk_id=0,
                                   minloglevel=2)
    os.remove(f"{name}.txt")
    os.chdir(here)
    sp = spm.SentencePieceProcessor(model_file=os.path.join(out_dir, f"{name}.model"))
    vocab = {"</s>": 0, "<unk>": 1}
    for i in range(sp.get_piece_size()):
        if sp.id_to_piece(i) != "<unk>":
            vocab[sp.id_to_piece(i)] = len(vocab)
    vocab["<pad>"] = len(vocab)
    shutil.move(os.path.join(out_dir, f"{name}.model"), os.path.join(out_dir, f"{name}.spm"))
    os.remove(os.path.join(out_dir, f"{name}.vocab"))
    return vocab


def main():
    out_dir = os.path.join(ROOT, "marian_separate")
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir)
    months = "january february march april may june july august september october november december".split()
    src_lines = [f"the {i % 28 + 1}th of {months[i % 12]} {1950 + i % 70}" for i in range(300)]
    tgt_lines = [f"{1950 + i % 70}-{i % 12 + 1:02d}-{i % 28 + 1:02d} le {i % 28 + 1} {months[i % 12][:3]}" for i in range(300)]
    src_vocab = train(out_dir, "source", src_lines, 48)
    tgt_vocab = train(out_dir, "target", tgt_lines, 40)
    # <pad> must be one id on both sides (the model has one pad_token_id): the
    # source's is moved to the target's position, the piece there taking the source's.
    pad = tgt_vocab["<pad>"]
    moved = next(p for p, i in src_vocab.items() if i == pad)
    src_vocab[moved], src_vocab["<pad>"] = src_vocab["<pad>"], pad
    with open(os.path.join(out_dir, "vocab.json"), "w") as f:
        json.dump(src_vocab, f, ensure_ascii=False)
    with open(os.path.join(out_dir, "target_vocab.json"), "w") as f:
        json.dump(tgt_vocab, f, ensure_ascii=False)
    tok = MarianTokenizer(os.path.join(out_dir, "source.spm"), os.path.join(out_dir, "target.spm"),
                          os.path.join(out_dir, "vocab.json"), target_vocab_file=os.path.join(out_dir, "target_vocab.json"),
                          separate_vocabs=True)
    torch.manual_seed(7)
    cfg = MarianConfig(vocab_size=len(src_vocab), decoder_vocab_size=len(tgt_vocab), share_encoder_decoder_embeddings=False,
                       d_model=16, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2, decoder_attention_heads=2,
                       encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=32, pad_token_id=pad,
                       eos_token_id=0, decoder_start_token_id=pad, forced_eos_token_id=0, init_std=1.0,
                       activation_function="gelu", scale_embedding=True)
    model = MarianMTModel(cfg).eval()
    with torch.no_grad():  # EOS made unlikely, so that generations are long enough to mean something
        model.final_logits_bias.normal_(0, 0.1)
        model.final_logits_bias[0, 0] = -4.0
    model.save_pretrained(out_dir)
    cases = []
    for t in TEXTS:
        ids = tok(t)["input_ids"]
        with torch.no_grad():
            out = model.generate(input_ids=torch.tensor([ids]), num_beams=1, do_sample=False, max_new_tokens=10)[0, 1:].tolist()
        n = out.index(0) + 1 if 0 in out else len(out)
        cases.append({"text": t, "ids": ids, "generated": out[:n], "decoded": tok.decode(out[:n], skip_special_tokens=True)})
    with open(os.path.join(ROOT, "marian_separate_io.json"), "w") as f:
        json.dump(cases, f, ensure_ascii=False, indent=1)
    print(json.dumps(cases, ensure_ascii=False))


if __name__ == "__main__":
    main()

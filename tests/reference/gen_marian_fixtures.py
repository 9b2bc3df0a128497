#!/usr/bin/env python3
"""Small Hugging Face Marian models (random init from a MarianConfig, saved with
save_pretrained) and what transformers computes with them: the encoder output,
greedy generations with the sum of their token log-probabilities.

  tests/fixtures/marian_<name>/          config.json, model.safetensors (as save_pretrained writes)
  tests/fixtures/marian_<name>_io.safetensors

Run: python3 tests/reference/gen_marian_fixtures.py   (needs torch, transformers)
"""
import json
import os
import shutil

import torch
from safetensors.torch import save_file
from transformers import MarianConfig, MarianMTModel

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")

CONFIGS = {
    # opus-mt's choices (swish, scaled embeddings) at a small size
    "tiny": dict(vocab_size=64, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
                 decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=64,
                 activation_function="swish", scale_embedding=True),
    # other sizes and choices: 3 layers, 2 heads, GELU, unscaled embeddings
    "deep": dict(vocab_size=80, d_model=24, encoder_layers=3, decoder_layers=3, encoder_attention_heads=2,
                 decoder_attention_heads=2, encoder_ffn_dim=40, decoder_ffn_dim=40, max_position_embeddings=48,
                 activation_function="gelu", scale_embedding=False),
}


TEXTS = ["the 3rd of march 2021", "March 3, 2021", "2021-03-03", "on the 14th of july, 1989!",
         "Unknown words: zyxw qq", "", "a  b   c"]


def tokenizer(out_dir, vocab_size):
    """A small SentencePiece model for both sides and a vocab.json with Marian's special
    tokens (</s> 0, <unk> 1, <pad> last), plus what MarianTokenizer makes of TEXTS."""
    import sentencepiece as spm
    from transformers import MarianTokenizer
    corpus = os.path.join(out_dir, "corpus.txt")
    with open(corpus, "w") as f:
        months = "january february march april may june july august september october november december".split()
        for i in range(400):
            m = months[i % 12]
            f.write(f"the {i % 28 + 1}th of {m} {1950 + i % 70}\n{m} {i % 28 + 1}, {1950 + i % 70}\n")
    spm.SentencePieceTrainer.train(input=corpus, model_prefix=os.path.join(out_dir, "sp"), vocab_size=vocab_size - 3,
                                   model_type="unigram", character_coverage=1.0, bos_id=-1, eos_id=-1, unk_id=0,
                                   minloglevel=2)
    os.remove(corpus)
    for side in ("source", "target"):
        shutil.copy(os.path.join(out_dir, "sp.model"), os.path.join(out_dir, f"{side}.spm"))
    sp = spm.SentencePieceProcessor(model_file=os.path.join(out_dir, "sp.model"))
    pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size()) if sp.id_to_piece(i) != "<unk>"]
    vocab = {"</s>": 0, "<unk>": 1}
    for p in pieces:
        vocab[p] = len(vocab)
    vocab["<pad>"] = vocab_size - 1
    for ext in ("model", "vocab"):
        os.remove(os.path.join(out_dir, f"sp.{ext}"))
    with open(os.path.join(out_dir, "vocab.json"), "w") as f:
        json.dump(vocab, f, ensure_ascii=False)
    tok = MarianTokenizer(os.path.join(out_dir, "source.spm"), os.path.join(out_dir, "target.spm"),
                          os.path.join(out_dir, "vocab.json"))
    cases = []
    for t in TEXTS:
        ids = tok(t)["input_ids"]
        cases.append({"text": t, "ids": ids, "decoded": tok.decode(ids, skip_special_tokens=True)})
    with open(os.path.join(out_dir, "..", os.path.basename(out_dir) + "_tokenizer.json"), "w") as f:
        json.dump(cases, f, ensure_ascii=False, indent=1)


def main():
    for name, kw in CONFIGS.items():
        torch.manual_seed(5)
        vocab = kw["vocab_size"]
        cfg = MarianConfig(pad_token_id=vocab - 1, eos_token_id=0, decoder_start_token_id=vocab - 1,
                           forced_eos_token_id=0, init_std=0.5, **kw)
        model = MarianMTModel(cfg).eval()
        with torch.no_grad():  # a non-zero final_logits_bias, so that its use is checked
            model.final_logits_bias.normal_(0, 0.1)
        out_dir = os.path.join(ROOT, f"marian_{name}")
        shutil.rmtree(out_dir, ignore_errors=True)
        model.save_pretrained(out_dir)
        if name == "tiny":
            tokenizer(out_dir, kw["vocab_size"])
        g = torch.Generator().manual_seed(11)
        lengths = [7, 3, 5]
        src = torch.full((3, max(lengths)), cfg.pad_token_id, dtype=torch.long)
        mask = torch.zeros(3, max(lengths), dtype=torch.long)
        for b, n in enumerate(lengths):
            src[b, :n - 1] = torch.randint(1, vocab - 1, (n - 1,), generator=g)
            src[b, n - 1] = cfg.eos_token_id
            mask[b, :n] = 1
        max_new = 12
        with torch.no_grad():
            enc = model.get_encoder()(input_ids=src, attention_mask=mask).last_hidden_state
            gen = model.generate(input_ids=src, attention_mask=mask, num_beams=1, do_sample=False,
                                 max_new_tokens=max_new, output_scores=True, return_dict_in_generate=True)
        seqs = gen.sequences[:, 1:]  # drop the decoder start token
        with torch.no_grad():  # teacher-forced logits at every step of the greedy sequences
            step_logits = model(input_ids=src, attention_mask=mask, decoder_input_ids=gen.sequences[:, :-1]).logits
            # How much float rounding alone moves them: random weights this large make a
            # chaotic network, so the tests allow a few times this per step.
            noisy = MarianMTModel.from_pretrained(out_dir).eval()
            g_noise = torch.Generator().manual_seed(3)
            for prm in noisy.parameters():
                prm.mul_(1 + 1e-7 * torch.randn(prm.shape, generator=g_noise))
            moved = noisy(input_ids=src, attention_mask=mask, decoder_input_ids=gen.sequences[:, :-1]).logits
            sensitivity = (moved - step_logits).abs().amax(dim=(0, 2))
        # Sum of the chosen tokens' log-probabilities, over each sequence's own tokens (to EOS).
        scores = torch.zeros(3)
        for t, step_scores in enumerate(gen.scores):
            logp = torch.log_softmax(step_scores, -1)
            for b in range(3):
                tok = seqs[b, t]
                if t == 0 or seqs[b, t - 1] != cfg.eos_token_id and (seqs[b, :t] != cfg.eos_token_id).all():
                    scores[b] += logp[b, tok]
        beams = {}
        for k, lp in ((3, 1.0), (4, 0.6)):
            with torch.no_grad():
                bo = model.generate(input_ids=src, attention_mask=mask, num_beams=k, num_return_sequences=k,
                                    length_penalty=lp, do_sample=False, max_new_tokens=max_new,
                                    output_scores=True, return_dict_in_generate=True)
            beams[f"beam{k}.sequences"] = bo.sequences[:, 1:].contiguous()
            beams[f"beam{k}.scores"] = bo.sequences_scores.contiguous()
            beams[f"beam{k}.length_penalty"] = torch.tensor([lp])
        save_file({"src": src, "src_mask": mask, "encoder_out": enc.contiguous(), "generated": seqs.contiguous(),
                   "decoder_input_ids": gen.sequences[:, :-1].contiguous(), "step_logits": step_logits.contiguous(),
                   "step_sensitivity": sensitivity.contiguous(),
                   "scores": scores, "max_new_tokens": torch.tensor([max_new]), **beams},
                  os.path.join(ROOT, f"marian_{name}_io.safetensors"))
        print(name, "generated", seqs.tolist())
        print(name, "beam3", beams["beam3.sequences"].tolist(), beams["beam3.scores"].tolist())


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Trains the bundled captioning and VQA demo models on synthetic pictures of
coloured shapes (scripts/shapes.py), on the CPU in a few minutes:

  examples/shapes-caption   Show, Attend and Tell (python/show_attend_tell.py)
  examples/shapes-vqa       pytorch-vqa's Net (python/pytorch_vqa.py)

Both read 128x128 pictures resized to 64x64 through a ResNet-18 trunk cut after
layer2 (8x8 positions, 128 channels). One trunk is trained for both tasks at once
(a batch's features feed both heads), then saved into both directories. Held-out
pictures and their expected outputs go to examples/shapes-test/ and
metrics.json in each directory (caption exact match, VQA accuracy, in PyTorch).

Run: python3 scripts/train_shapes.py [--steps N] [--coverage W] [--evaluate-only]
"""
import argparse
import json
import os
import random
import sys
import time

import torch
from torch import nn

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(ROOT, "python"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import heed_lstm  # noqa: E402
import pytorch_vqa  # noqa: E402
import shapes  # noqa: E402
import show_attend_tell as sat  # noqa: E402

IMAGE = dict(resize=[64, 64], center_crop=None, mean=sat.IMAGENET_MEAN, std=sat.IMAGENET_STD)
TRUNK = dict(resnet_depth=18, resnet_stages=2)


def to_tensor(img):
    from torchvision import transforms
    return transforms.Compose([transforms.Resize((64, 64), interpolation=transforms.InterpolationMode.BILINEAR),
                               transforms.ToTensor(), transforms.Normalize(IMAGE["mean"], IMAGE["std"])])(img)


def caption_ids(items, wm):
    return [wm["<start>"]] + [wm[w] for w in shapes.caption(items).split()] + [wm["<end>"]]


class Joint(nn.Module):
    def __init__(self, cap, vqa):
        super().__init__()
        self.cap, self.vqa = cap, vqa

    def forward(self, images, captions, questions, q_len, q_image):
        trunk = self.cap.encoder.resnet(images)                      # [B, 128, 8, 8]
        enc = self.cap.encoder.adaptive_pool(trunk).permute(0, 2, 3, 1)
        logits, alphas = self.cap.decoder(enc, captions)
        answers, _ = self.vqa(trunk[q_image], questions, q_len)
        return logits, alphas, answers


def batch_questions(scenes, rng, vocab):
    qs, answers, owners = [], [], []
    for i, items in enumerate(scenes):
        for q, a in shapes.questions(items, rng):
            qs.append(pytorch_vqa.encode_question(q, vocab))
            answers.append(vocab["answer"][a])
            owners.append(i)
    T = max(len(q) for q in qs)
    ids = torch.tensor([q + [0] * (T - len(q)) for q in qs])
    return ids, torch.tensor([len(q) for q in qs]), torch.tensor(answers), torch.tensor(owners)


def train(cap, vqa, steps, wm, vocab, coverage):
    joint = Joint(cap, vqa).train()
    opt = torch.optim.Adam(joint.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps, pct_start=0.1)
    rng, t0 = random.Random(1), time.time()
    ce = nn.CrossEntropyLoss(ignore_index=wm["<pad>"])
    for step in range(1, steps + 1):
        scenes = [shapes.scene(rng) for _ in range(32)]
        images = torch.stack([to_tensor(shapes.render(s)) for s in scenes])
        caps = [caption_ids(s, wm) for s in scenes]
        L = max(len(c) for c in caps)
        captions = torch.tensor([c + [wm["<pad>"]] * (L - len(c)) for c in caps])
        q, q_len, answers, owners = batch_questions(scenes, rng, vocab)
        logits, alphas, ans = joint(images, captions, q, q_len, owners)
        loss = ce(logits.reshape(-1, logits.size(-1)), captions[:, 1:].reshape(-1))
        if coverage:  # the tutorial's doubly stochastic attention term (it spreads attention over every position)
            loss = loss + coverage * ((1 - alphas.sum(1)) ** 2).mean()
        loss = loss + nn.functional.cross_entropy(ans, answers)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0:
            print(f"step {step} loss {loss.item():.4f} ({time.time() - t0:.0f} s)", flush=True)


def evaluate(cap, vqa, wm, vocab, test_dir, n):
    """Writes n held-out pictures and the PyTorch outputs; returns (caption exact match, VQA accuracy)."""
    os.makedirs(test_dir, exist_ok=True)
    rng = random.Random(12345)
    words = {i: w for w, i in wm.items()}
    cap_lines, vqa_lines, cap_ok, vqa_ok, total_q = [], [], 0, 0, 0
    with torch.no_grad():
        for i in range(n):
            items = shapes.scene(rng)
            path = os.path.join(test_dir, f"{i:03d}.png")
            shapes.render(items).save(path)
            image = sat.image_tensor(path, IMAGE).unsqueeze(0)
            toks, _ = heed_lstm.greedy(cap.next_logits_fn(image), 1, wm["<start>"], wm["<end>"], 20)[0]
            text = " ".join(words[t] for t in toks if t != wm["<end>"])
            cap_ok += text == shapes.caption(items)
            cap_lines.append(f"{i:03d}.png\t{shapes.caption(items)}\t{text}")
            v = vqa.resnet(image)
            for q, a in shapes.questions(items, rng):
                ids = torch.tensor([pytorch_vqa.encode_question(q, vocab)])
                logits, _ = vqa(v, ids, torch.tensor([ids.size(1)]))
                got = [k for k, j in vocab["answer"].items() if j == int(logits.argmax())][0]
                vqa_ok += got == a
                total_q += 1
                vqa_lines.append(f"{i:03d}.png\t{q}\t{a}\t{got}")
    with open(os.path.join(test_dir, "captions.tsv"), "w") as f:
        f.write("image\texpected\tpytorch\n" + "\n".join(cap_lines) + "\n")
    with open(os.path.join(test_dir, "questions.tsv"), "w") as f:
        f.write("image\tquestion\texpected\tpytorch\n" + "\n".join(vqa_lines) + "\n")
    return cap_ok / n, vqa_ok / total_q, total_q


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--test", type=int, default=200)
    ap.add_argument("--coverage", type=float, default=0.0, help="weight of the doubly stochastic attention term")
    ap.add_argument("--evaluate-only", action="store_true", help="only rewrite the held-out set and metrics of the saved models")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(2)
    wm, vocab = shapes.caption_word_map(), shapes.vqa_vocab()
    cap = sat.CaptionModel(sat.make_config(vocab_size=len(wm), encoded_image_size=8, attention_dim=64, embed_dim=32,
                                           decoder_dim=128, max_caption_length=20, dropout=0.1, image=IMAGE, **TRUNK))
    vqa = pytorch_vqa.Net(pytorch_vqa.make_config(embedding_tokens=len(vocab["question"]) + 1, embedding_features=32,
                                                  question_features=128, vision_features=128, mid_features=64,
                                                  classifier_features=128, max_answers=len(vocab["answer"]),
                                                  image=IMAGE, **TRUNK), drop=0.0)
    cap_dir, vqa_dir = os.path.join(ROOT, "examples/shapes-caption"), os.path.join(ROOT, "examples/shapes-vqa")
    if args.evaluate_only:
        (cap, _), (vqa, _) = sat.load(cap_dir), pytorch_vqa.load(vqa_dir)
        with open(os.path.join(cap_dir, "metrics.json")) as f:
            args.steps = json.load(f)["train_steps"]
    else:
        for index, name in enumerate(dict(vqa.resnet.named_children())):  # one trunk for both, each keeps its names
            setattr(vqa.resnet, name, cap.encoder.resnet[index])
        train(cap, vqa, args.steps, wm, vocab, args.coverage)
    cap.eval(), vqa.eval()
    cap_acc, vqa_acc, questions = evaluate(cap, vqa, wm, vocab, os.path.join(ROOT, "examples/shapes-test"), args.test)
    print(f"held-out caption exact match (greedy, PyTorch): {cap_acc:.4f}; VQA accuracy (PyTorch): {vqa_acc:.4f}")
    if not args.evaluate_only:
        sat.save(cap, cap_dir, wm)
        pytorch_vqa.save(vqa, vqa_dir, vocab)
    for d, key, acc in ((cap_dir, "caption_exact_match_greedy_pytorch", cap_acc), (vqa_dir, "vqa_accuracy_pytorch", vqa_acc)):
        with open(os.path.join(d, "metrics.json"), "w") as f:
            json.dump({key: acc, "test_images": args.test, "test_questions": questions, "train_steps": args.steps,
                       "batch": 32, "coverage": args.coverage}, f, indent=1)


if __name__ == "__main__":
    main()

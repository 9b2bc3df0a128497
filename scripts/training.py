"""What the demo-model training scripts share: an optimizer step with logging,
and the held-out evaluation with the files it leaves beside the model."""
import json
import os
import time

import torch


def optimizer_step(model, opt, sched, loss, step, t0):
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    sched.step()
    if step % 250 == 0:
        print(f"step {step} loss {loss.item():.4f} ({time.time() - t0:.0f} s)", flush=True)


def evaluate(out_dir, test, translate, steps):
    """translate(list of source strings) -> list of output strings (greedy, PyTorch).
    Writes test.src, test.tgt, test.pytorch and metrics.json; returns the accuracy."""
    outputs = []
    with torch.no_grad():
        for i in range(0, len(test), 100):
            outputs += translate([s for s, _ in test[i:i + 100]])
    acc = sum(o == t for o, (_, t) in zip(outputs, test)) / len(test)
    print(f"held-out exact match (greedy, PyTorch): {acc:.4f}")
    for name, lines in (("test.src", [s for s, _ in test]), ("test.tgt", [t for _, t in test]), ("test.pytorch", outputs)):
        with open(os.path.join(out_dir, name), "w") as f:
            f.write("\n".join(lines) + "\n")
    with open(os.path.join(out_dir, "metrics.json"), "w") as f:
        json.dump({"exact_match_greedy_pytorch": acc, "test_examples": len(test), "train_steps": steps}, f, indent=1)
    return acc

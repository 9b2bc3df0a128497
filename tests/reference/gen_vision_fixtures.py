#!/usr/bin/env python3
"""Reference outputs for heed's image input, captioning and VQA importers, from
PyTorch, torchvision and Pillow:

  tests/fixtures/images/*                 small pictures in many encodings (and broken ones)
  tests/fixtures/image_io.safetensors     torchvision's tensor for each (picture, transform)
  tests/fixtures/image_transforms.json    the transforms, as a model config's "image" entry
  tests/fixtures/<model>/                 config.json, word_map.json or vocab.json, and
                                          manifest.json (seeded weights, tests/reference/seeded.py)
  tests/fixtures/<model>_io.safetensors   inputs and PyTorch's outputs
  tests/fixtures/shapes_pictures.safetensors  two demo pictures as tensors (the CLI's --features test)
  tests/fixtures/vqa_questions.json       pytorch-vqa's tokens of awkward questions

Models (random weights, in the public layouts of python/show_attend_tell.py and
python/pytorch_vqa.py):
  sat_r18      tutorial names, ResNet-18 (all 4 stages), 64x64 pictures -> 2x2 -> pooled to 4x4
  sat_r50_tv   torchvision names, ResNet-50 to layer2, 64x64 -> 8x8 -> pooled to 5x5
  vqa_r18      ResNet-18 trunk (4 stages), 96x96 pictures -> 3x3, 2 glimpses
  vqa_features no trunk: 64-channel 5x5 features given directly, 3 glimpses

Run: python3 tests/reference/gen_vision_fixtures.py
"""
import json
import math
import os
import struct
import sys
import zlib

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
FIX = os.path.join(ROOT, "tests", "fixtures")
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "python"))
import heed_lstm  # noqa: E402
import pytorch_vqa  # noqa: E402
import show_attend_tell as sat  # noqa: E402
from gen_resnet_fixtures import weight_range as resnet_range  # noqa: E402
from seeded import uniform  # noqa: E402

TRANSFORMS = {
    "resize_hw": dict(resize=[24, 40], center_crop=None, mean=sat.IMAGENET_MEAN, std=sat.IMAGENET_STD),
    "short_crop": dict(resize=30, center_crop=[28, 27], mean=[0.5, 0.4, 0.3], std=[0.2, 0.25, 0.3]),
    "bicubic": dict(resize=[50, 20], interpolation="bicubic", center_crop=None, mean=sat.IMAGENET_MEAN,
                    std=sat.IMAGENET_STD),
}


def png16_rgb(path, pixels):
    """A 16-bit RGB PNG (Pillow cannot write one)."""
    h, w, _ = pixels.shape
    raw = b"".join(b"\0" + pixels[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def write_images():
    d = os.path.join(FIX, "images")
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(7)
    smooth = np.kron(rng.integers(0, 256, (10, 14, 3)), np.ones((5, 4, 1))).astype(np.uint8)  # 50x56, blocky
    noise = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    Image.fromarray(noise).save(os.path.join(d, "rgb.png"))
    Image.fromarray(noise[:, :, 1]).save(os.path.join(d, "gray.png"))
    rgba = np.concatenate([noise, rng.integers(0, 256, (37, 53, 1), dtype=np.uint8)], axis=2)
    Image.fromarray(rgba, "RGBA").save(os.path.join(d, "rgba.png"))
    Image.fromarray(noise).convert("P", palette=Image.Palette.ADAPTIVE, colors=16).save(os.path.join(d, "palette.png"))
    Image.fromarray(noise[:, :, 0] > 128).save(os.path.join(d, "bits.png"))
    Image.fromarray(smooth).save(os.path.join(d, "photo.jpg"), quality=90)
    Image.fromarray(smooth[:, :, 0]).save(os.path.join(d, "gray.jpg"), quality=90)
    png16_rgb(os.path.join(d, "rgb16.png"), rng.integers(0, 65536, (21, 19, 3)))
    Image.fromarray(rng.integers(0, 65536, (9, 8)).astype(np.uint16)).save(os.path.join(d, "gray16.png"))
    with open(os.path.join(d, "rgb.png"), "rb") as f:
        whole = f.read()
    with open(os.path.join(d, "truncated.png"), "wb") as f:
        f.write(whole[:len(whole) // 2])
    with open(os.path.join(d, "photo.jpg"), "rb") as f:
        whole = f.read()
    with open(os.path.join(d, "truncated.jpg"), "wb") as f:
        f.write(whole[:len(whole) // 2])
    with open(os.path.join(d, "not_an_image.png"), "w") as f:
        f.write("hello, I am text\n")
    open(os.path.join(d, "empty.jpg"), "wb").close()
    good = ["rgb.png", "gray.png", "rgba.png", "palette.png", "bits.png", "photo.jpg", "gray.jpg", "rgb16.png"]
    out = {}
    for name in good:
        for tname, t in TRANSFORMS.items():
            out[f"{name}/{tname}"] = sat.image_tensor(os.path.join(d, name), t).contiguous()
    save_file(out, os.path.join(FIX, "image_io.safetensors"))
    with open(os.path.join(FIX, "image_transforms.json"), "w") as f:
        json.dump({"images": good, "transforms": {k: {"image": v} for k, v in TRANSFORMS.items()}}, f, indent=1)


def decoder_range(name, shape):
    if "embedding" in name:
        return -1.0, 1.0
    fan_in = shape[1] if len(shape) >= 2 else shape[0]
    if len(shape) == 4:
        fan_in = shape[1] * shape[2] * shape[3]
    if name.endswith("bias"):
        return -0.1, 0.1
    b = (8.0 if ".fc." in name or "lin2" in name else 3.0) / math.sqrt(fan_in)  # clear margins between tokens
    return -b, b


SEQ_TO_TV = {"0": "conv1", "1": "bn1", "4": "layer1", "5": "layer2", "6": "layer3", "7": "layer4"}


def torchvision_name(name):
    """encoder.resnet.4.0.conv1.weight (the tutorial's nn.Sequential) -> encoder.layer1.0.conv1.weight"""
    if not name.startswith("encoder.resnet."):
        return name
    head, _, tail = name[len("encoder.resnet."):].partition(".")
    return "encoder." + SEQ_TO_TV[head] + "." + tail


def seed_model(model, trunk_prefix, rename=lambda n: n):
    """Seeded weights for every parameter, each seeded by its stored name (rename(name)); -> the manifest."""
    sd = model.state_dict()
    manifest = []
    for name, t in sd.items():
        if name.endswith("num_batches_tracked"):
            continue
        stored, tv = rename(name), torchvision_name(name)
        if tv.startswith(trunk_prefix) and not name.startswith("decoder."):
            lo, hi = resnet_range(tv[len(trunk_prefix):], list(t.shape))
        else:
            lo, hi = decoder_range(name, list(t.shape))
        manifest.append({"name": stored, "shape": list(t.shape), "low": lo, "high": hi})
        sd[name] = uniform(stored, list(t.shape), lo, hi)
    model.load_state_dict(sd)
    return manifest


def write_dir(name, config, manifest, extra):
    d = os.path.join(FIX, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    with open(os.path.join(d, "manifest.json"), "w") as f:
        json.dump(manifest, f)
    for fname, obj in extra.items():
        with open(os.path.join(d, fname), "w") as f:
            json.dump(obj, f, indent=1)


def caption_word_map(n_words):
    m = {f"w{i}": i + 1 for i in range(n_words)}
    for special in ("<unk>", "<start>", "<end>"):
        m[special] = len(m) + 1
    m["<pad>"] = 0
    return m


def caption_fixture(name, size, torchvision_names, **kw):
    wm = caption_word_map(30)
    config = sat.make_config(vocab_size=len(wm), image=dict(resize=[size, size], center_crop=None,
                                                             mean=sat.IMAGENET_MEAN, std=sat.IMAGENET_STD), **kw)
    model = sat.CaptionModel(config).eval()
    manifest = seed_model(model, "encoder.", torchvision_name if torchvision_names else lambda n: n)
    ids = sat.word_ids(wm)
    write_dir(name, config, manifest, {"word_map.json": wm})
    images = uniform(name + ".images", [2, 3, size, size], -2.0, 2.0)
    with torch.no_grad():
        enc = model.encode(images)
        h, c = model.decoder.init_hidden_state(enc)
        att1 = model.decoder.attention.encoder_att(enc)
        words = torch.tensor([[ids["<start>"], 3, 7, 12, 5], [ids["<start>"], 9, 1, 4, 30]])
        logits, alphas = model.decoder(enc.view(2, config["encoded_image_size"], config["encoded_image_size"], -1),
                                       torch.cat([words, words[:, :1]], 1))
        nl = model.next_logits_fn(images)
        greedy = heed_lstm.greedy(nl, 2, ids["<start>"], ids["<end>"], 12)
        beams = heed_lstm.beam_search(nl, 2, ids["<start>"], ids["<end>"], ids["<pad>"], 12, 3, length_penalty=1.0)
    out = {"images": images, "features": enc, "att1": att1, "h": h, "c": c, "teacher_words": words,
           "teacher_logits": logits, "teacher_alphas": alphas}
    for b, (toks, score) in enumerate(greedy):
        out[f"greedy.{b}.tokens"] = torch.tensor(toks)
        out[f"greedy.{b}.score"] = torch.tensor([score])
    for b, hyps in enumerate(beams):
        for k, (toks, score) in enumerate(hyps):
            out[f"beam3.{b}.{k}.tokens"] = torch.tensor(toks)
            out[f"beam3.{b}.{k}.score"] = torch.tensor([score])
    save_file({k: v.contiguous() for k, v in out.items()}, os.path.join(FIX, f"{name}_io.safetensors"))
    print(f"{name}: {len(manifest)} weights, greedy {[g[0] for g in greedy]}, logits std {logits.std():.3f}")


def vqa_fixture(name, trunk, size=96, **kw):
    vocab = {"question": {w: i + 1 for i, w in enumerate(["what", "color", "is", "the", "circle", "how", "many"])},
             "answer": {f"a{i}": i for i in range(10)}}
    config = pytorch_vqa.make_config(embedding_tokens=9, max_answers=10,
                                     image=dict(resize=[size, size], center_crop=None, mean=sat.IMAGENET_MEAN,
                                                std=sat.IMAGENET_STD), **kw)
    model = pytorch_vqa.Net(config, with_trunk=trunk).eval()
    manifest = seed_model(model, "resnet.")
    write_dir(name, config, manifest, {"vocab.json": vocab})
    questions = ["what color is the circle?", "How many?", "what is the zebra"]
    ids = [pytorch_vqa.encode_question(q, vocab) for q in questions]
    T = max(len(q) for q in ids)
    q = torch.tensor([x + [0] * (T - len(x)) for x in ids])
    q_len = torch.tensor([len(x) for x in ids])
    with torch.no_grad():
        if trunk:
            images = uniform(name + ".images", [3, 3, size, size], -2.0, 2.0)
            features = model.resnet(images)
        else:
            images = None
            features = uniform(name + ".features", [3, config["vision_features"], 5, 5], 0.0, 2.0)
        logits, attention = model(features, q, q_len)
    out = {"features": features, "question": q, "question_lengths": q_len, "logits": logits, "attention": attention}
    if images is not None:
        out["images"] = images
    save_file({k: v.contiguous() for k, v in out.items()}, os.path.join(FIX, f"{name}_io.safetensors"))
    with open(os.path.join(FIX, name, "questions.json"), "w") as f:
        json.dump(questions, f)
    print(f"{name}: {len(manifest)} weights, answers {logits.argmax(1).tolist()}, attention max {attention.max():.3f}")


def demo_pictures():
    """The first two held-out demo pictures as the demo models read them, for the CLI's --features path."""
    with open(os.path.join(ROOT, "examples", "shapes-vqa", "config.json")) as f:
        image = json.load(f)["image"]
    pics = [sat.image_tensor(os.path.join(ROOT, "examples", "shapes-test", f"{i:03d}.png"), image) for i in (0, 1)]
    save_file({"image": torch.stack(pics).contiguous()}, os.path.join(FIX, "shapes_pictures.safetensors"))


def question_tokens():
    """pytorch-vqa's question normalization on awkward inputs (python/pytorch_vqa.py's question_tokens)."""
    questions = ["What color is the circle?", "  how MANY shapes are there??  ", "is there a red-ish  triangle",
                 "what's at (3, 4)?", "\tTabs\tand\nnewlines?", "?", "", "caf\u00e9 or tea?", "1 2 3 ?"]
    with open(os.path.join(FIX, "vqa_questions.json"), "w") as f:
        json.dump([{"question": q, "tokens": pytorch_vqa.question_tokens(q)} for q in questions], f, indent=1)


def main():
    torch.manual_seed(0)
    write_images()
    demo_pictures()
    question_tokens()
    caption_fixture("sat_r18", 64, False, resnet_depth=18, resnet_stages=4, encoded_image_size=4,
                    attention_dim=32, embed_dim=16, decoder_dim=32, dropout=0.0)
    caption_fixture("sat_r50_tv", 64, True, resnet_depth=50, resnet_stages=2, encoded_image_size=5,
                    attention_dim=24, embed_dim=20, decoder_dim=40, dropout=0.0)
    vqa_fixture("vqa_r18", True, resnet_depth=18, resnet_stages=4, embedding_features=12, question_features=24,
                vision_features=512, mid_features=16, glimpses=2, classifier_features=20)
    vqa_fixture("vqa_features", False, embedding_features=10, question_features=16, vision_features=64,
                mid_features=12, glimpses=3, classifier_features=18)


if __name__ == "__main__":
    main()

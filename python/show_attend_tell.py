"""Show, Attend and Tell image captioning, in the layout of the widely used
PyTorch tutorial (sgrvinod/a-PyTorch-Tutorial-to-Image-Captioning, models.py):
the same modules, names and computation, so that its checkpoints load in heed.

  encoder   torchvision ResNet without its pooling and classifier
            (`encoder.resnet` = nn.Sequential of its children, so conv1 is
            `encoder.resnet.0`, bn1 `.1`, layer1..layer4 `.4`..`.7`), then
            nn.AdaptiveAvgPool2d to encoded_image_size x encoded_image_size,
            channels last: [B, size, size, encoder_dim]
  decoder   `decoder.attention.{encoder_att, decoder_att, full_att}`,
            `decoder.embedding`, `decoder.decode_step` (LSTMCell), `decoder.init_h`,
            `decoder.init_c`, `decoder.f_beta` (sigmoid gate), `decoder.fc`

One extension, `resnet_stages` (default 4, the tutorial's): keep only layer1..layerN,
for small demo models on small images. save() writes a heed model directory:
config.json, model.safetensors and word_map.json (the tutorial's WORDMAP file).
Images are read and transformed by image_tensor() exactly as heed does
(docs/models.md, "Image input").
"""
import json
import os

import torch
import torchvision
from torch import nn

MODEL_TYPE = "show_attend_tell"
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


def make_config(**kw):
    c = dict(model_type=MODEL_TYPE, resnet_depth=101, resnet_stages=4, encoded_image_size=14, attention_dim=512,
             embed_dim=512, decoder_dim=512, max_caption_length=50,
             image=dict(resize=[256, 256], center_crop=None, mean=IMAGENET_MEAN, std=IMAGENET_STD))
    c.update(kw)
    if "vocab_size" not in c:
        raise ValueError("config needs vocab_size")
    return c


def resnet_trunk(depth, stages):
    """torchvision's ResNet children up to layer`stages` (the tutorial's list(children())[:-2] for 4)."""
    resnet = getattr(torchvision.models, f"resnet{depth}")(weights=None)
    return list(resnet.children())[:4 + stages]


def trunk_channels(depth, stages):
    return (64 if depth < 50 else 256) * 2 ** (stages - 1)


class Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.resnet = nn.Sequential(*resnet_trunk(c["resnet_depth"], c["resnet_stages"]))
        self.adaptive_pool = nn.AdaptiveAvgPool2d((c["encoded_image_size"], c["encoded_image_size"]))

    def forward(self, images):
        out = self.adaptive_pool(self.resnet(images))
        return out.permute(0, 2, 3, 1)


class Attention(nn.Module):
    def __init__(self, encoder_dim, decoder_dim, attention_dim):
        super().__init__()
        self.encoder_att = nn.Linear(encoder_dim, attention_dim)
        self.decoder_att = nn.Linear(decoder_dim, attention_dim)
        self.full_att = nn.Linear(attention_dim, 1)
        self.relu = nn.ReLU()
        self.softmax = nn.Softmax(dim=1)

    def forward(self, encoder_out, decoder_hidden):
        att1 = self.encoder_att(encoder_out)
        att2 = self.decoder_att(decoder_hidden)
        att = self.full_att(self.relu(att1 + att2.unsqueeze(1))).squeeze(2)
        alpha = self.softmax(att)
        return (encoder_out * alpha.unsqueeze(2)).sum(dim=1), alpha


class DecoderWithAttention(nn.Module):
    def __init__(self, c, encoder_dim):
        super().__init__()
        self.attention = Attention(encoder_dim, c["decoder_dim"], c["attention_dim"])
        self.embedding = nn.Embedding(c["vocab_size"], c["embed_dim"])
        self.dropout = nn.Dropout(p=c.get("dropout", 0.5))
        self.decode_step = nn.LSTMCell(c["embed_dim"] + encoder_dim, c["decoder_dim"], bias=True)
        self.init_h = nn.Linear(encoder_dim, c["decoder_dim"])
        self.init_c = nn.Linear(encoder_dim, c["decoder_dim"])
        self.f_beta = nn.Linear(c["decoder_dim"], encoder_dim)
        self.sigmoid = nn.Sigmoid()
        self.fc = nn.Linear(c["decoder_dim"], c["vocab_size"])

    def init_hidden_state(self, encoder_out):
        mean = encoder_out.mean(dim=1)
        return self.init_h(mean), self.init_c(mean)

    def step(self, encoder_out, words, h, c):
        """One step as the tutorial's caption.py: -> logits, h, c, alpha [B, pixels]."""
        awe, alpha = self.attention(encoder_out, h)
        awe = self.sigmoid(self.f_beta(h)) * awe
        h, c = self.decode_step(torch.cat([self.embedding(words), awe], dim=1), (h, c))
        return self.fc(self.dropout(h)), h, c, alpha

    def forward(self, encoder_out, captions):
        """Teacher forcing over captions [B, T] (the first is <start>): logits [B, T-1, V], alphas."""
        encoder_out = encoder_out.reshape(encoder_out.size(0), -1, encoder_out.size(-1))
        h, c = self.init_hidden_state(encoder_out)
        logits, alphas = [], []
        for t in range(captions.size(1) - 1):
            lg, h, c, alpha = self.step(encoder_out, captions[:, t], h, c)
            logits.append(lg)
            alphas.append(alpha)
        return torch.stack(logits, 1), torch.stack(alphas, 1)


class CaptionModel(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = DecoderWithAttention(config, trunk_channels(config["resnet_depth"], config["resnet_stages"]))

    def encode(self, images):
        out = self.encoder(images)
        return out.reshape(out.size(0), -1, out.size(-1))

    def next_logits_fn(self, images):
        """For heed_lstm.greedy/beam_search: rows' logits given their prefixes (recomputed from the start)."""
        features = self.encode(images)

        def next_logits(rows, prefixes):
            enc = features[rows]
            h, c = self.decoder.init_hidden_state(enc)
            for t in range(prefixes.size(1)):
                logits, h, c, _ = self.decoder.step(enc, prefixes[:, t], h, c)
            return logits
        return next_logits


def word_ids(word_map):
    return {k: word_map[k] for k in ("<start>", "<end>", "<pad>", "<unk>")}


def save_directory(model, directory, json_files):
    """config.json, model.safetensors (BatchNorm's num_batches_tracked left out) and each {name: object}."""
    from safetensors.torch import save_file
    os.makedirs(directory, exist_ok=True)
    for name, obj in {"config.json": model.config, **json_files}.items():
        with open(os.path.join(directory, name), "w") as f:
            json.dump(obj, f, indent=1)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    save_file(state, os.path.join(directory, "model.safetensors"))


def save(model, directory, word_map):
    save_directory(model, directory, {"word_map.json": word_map})


def load(directory):
    from safetensors.torch import load_file
    with open(os.path.join(directory, "config.json")) as f:
        model = CaptionModel(json.load(f))
    model.load_state_dict(load_file(os.path.join(directory, "model.safetensors")), strict=False)
    with open(os.path.join(directory, "word_map.json")) as f:
        return model.eval(), json.load(f)


def image_tensor(path, image_config):
    """torchvision's transforms on the PIL image: Resize (Pillow's bilinear or bicubic), CenterCrop, ToTensor, Normalize."""
    from PIL import Image
    from torchvision import transforms
    steps = []
    resize = image_config.get("resize")
    mode = {"bilinear": transforms.InterpolationMode.BILINEAR,
            "bicubic": transforms.InterpolationMode.BICUBIC}[image_config.get("interpolation", "bilinear")]
    if resize is not None:
        steps.append(transforms.Resize(resize if isinstance(resize, int) else tuple(resize), interpolation=mode))
    if image_config.get("center_crop") is not None:
        steps.append(transforms.CenterCrop(tuple(image_config["center_crop"])))
    steps += [transforms.ToTensor(), transforms.Normalize(image_config["mean"], image_config["std"])]
    with Image.open(path) as img:
        return transforms.Compose(steps)(img.convert("RGB"))

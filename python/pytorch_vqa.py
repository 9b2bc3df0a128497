"""Show, Ask, Attend and Answer visual question answering, in the layout of the
widely used Cyanogenoid/pytorch-vqa (model.py): the same modules, names and
computation, so that its checkpoints load in heed.

  text        `text.embedding` (padding_idx 0) -> tanh -> `text.lstm` (one layer,
              packed by question length); the question feature is the final cell state
  features    v / (||v||_2 over channels + 1e-8)
  attention   `attention.v_conv` (1x1, no bias) + `attention.q_lin` (tiled) -> relu
              -> `attention.x_conv` (1x1, one map per glimpse) -> softmax over positions
  classifier  [glimpse-weighted means of v; q] -> `classifier.lin1` -> relu -> `classifier.lin2`

Image features come from a torchvision ResNet trunk (conv1 .. layer`resnet_stages`,
weights under `resnet.` with torchvision's names; pytorch-vqa's preprocess-images.py
uses layer4 of a ResNet-152) or are given directly. save() writes a heed model
directory: config.json, model.safetensors, vocab.json (pytorch-vqa's
{"question": {token: id}, "answer": {answer: id}}).
"""
import json
import os
import re

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

import show_attend_tell

MODEL_TYPE = "pytorch_vqa"


def make_config(**kw):
    c = dict(model_type=MODEL_TYPE, embedding_features=300, question_features=1024, vision_features=2048,
             mid_features=512, glimpses=2, classifier_features=1024, resnet_depth=152, resnet_stages=4,
             image=dict(resize=448, center_crop=[448, 448], mean=show_attend_tell.IMAGENET_MEAN,
                        std=show_attend_tell.IMAGENET_STD))
    c.update(kw)
    for key in ("embedding_tokens", "max_answers"):
        if key not in c:
            raise ValueError(f"config needs {key}")
    return c


class TextProcessor(nn.Module):
    def __init__(self, embedding_tokens, embedding_features, lstm_features, drop=0.0):
        super().__init__()
        self.embedding = nn.Embedding(embedding_tokens, embedding_features, padding_idx=0)
        self.drop = nn.Dropout(drop)
        self.tanh = nn.Tanh()
        self.lstm = nn.LSTM(input_size=embedding_features, hidden_size=lstm_features, num_layers=1)

    def forward(self, q, q_len):
        tanhed = self.tanh(self.drop(self.embedding(q)))
        packed = pack_padded_sequence(tanhed, q_len.cpu(), batch_first=True, enforce_sorted=False)
        _, (_, c) = self.lstm(packed)
        return c.squeeze(0)


class Attention(nn.Module):
    def __init__(self, v_features, q_features, mid_features, glimpses, drop=0.0):
        super().__init__()
        self.v_conv = nn.Conv2d(v_features, mid_features, 1, bias=False)
        self.q_lin = nn.Linear(q_features, mid_features)
        self.x_conv = nn.Conv2d(mid_features, glimpses, 1)
        self.drop = nn.Dropout(drop)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, v, q):
        v = self.v_conv(self.drop(v))
        q = self.q_lin(self.drop(q))
        q = q.view(q.size(0), q.size(1), 1, 1).expand_as(v)
        return self.x_conv(self.drop(self.relu(v + q)))


def attention_weights(attention):
    n, g = attention.shape[:2]
    return torch.softmax(attention.view(n, g, -1), dim=-1)


def apply_attention(v, attention):
    n, c = v.shape[:2]
    weights = attention_weights(attention).unsqueeze(2)       # [n, g, 1, s]
    return (weights * v.view(n, 1, c, -1)).sum(dim=-1).view(n, -1)


class Classifier(nn.Sequential):
    def __init__(self, in_features, mid_features, out_features, drop=0.0):
        super().__init__()
        self.add_module("drop1", nn.Dropout(drop))
        self.add_module("lin1", nn.Linear(in_features, mid_features))
        self.add_module("relu", nn.ReLU())
        self.add_module("drop2", nn.Dropout(drop))
        self.add_module("lin2", nn.Linear(mid_features, out_features))


class Net(nn.Module):
    """pytorch-vqa's Net, plus the optional ResNet trunk as `resnet`."""

    def __init__(self, config, with_trunk=True, drop=0.5):
        super().__init__()
        c = self.config = config
        if with_trunk:
            self.resnet = nn.Sequential()
            names = ["conv1", "bn1", "relu", "maxpool"] + [f"layer{i}" for i in range(1, c["resnet_stages"] + 1)]
            for name, module in zip(names, show_attend_tell.resnet_trunk(c["resnet_depth"], c["resnet_stages"])):
                self.resnet.add_module(name, module)
        self.text = TextProcessor(c["embedding_tokens"], c["embedding_features"], c["question_features"], drop)
        self.attention = Attention(c["vision_features"], c["question_features"], c["mid_features"], c["glimpses"], drop)
        self.classifier = Classifier(c["glimpses"] * c["vision_features"] + c["question_features"],
                                     c["classifier_features"], c["max_answers"], drop)

    def forward(self, v, q, q_len):
        """v: image features [n, vision_features, h, w] -> (answer logits, attention maps [n, g, h*w])"""
        q = self.text(q, q_len)
        v = v / (v.norm(p=2, dim=1, keepdim=True).expand_as(v) + 1e-8)
        a = self.attention(v, q)
        combined = torch.cat([apply_attention(v, a), q], dim=1)
        return self.classifier(combined), attention_weights(a)


_special_chars = re.compile("[^a-z0-9 ]*")


def question_tokens(question):
    """pytorch-vqa's prepare_questions (which drops the last character, the '?';
    here only a '?'), split on runs of spaces."""
    q = question.lower().strip()
    if q.endswith("?"):
        q = q[:-1]
    return _special_chars.sub("", q).split()


def encode_question(question, vocab):
    """-> ids (unknown words: 0, as pytorch-vqa) """
    return [vocab["question"].get(t, 0) for t in question_tokens(question)]


def save(model, directory, vocab):
    show_attend_tell.save_directory(model, directory, {"vocab.json": vocab})


def load(directory):
    from safetensors.torch import load_file
    with open(os.path.join(directory, "config.json")) as f:
        config = json.load(f)
    state = load_file(os.path.join(directory, "model.safetensors"))
    model = Net(config, with_trunk=any(k.startswith("resnet.") for k in state))
    model.load_state_dict(state, strict=False)
    with open(os.path.join(directory, "vocab.json")) as f:
        return model.eval(), json.load(f)

"""heed's LSTM sequence-to-sequence model with Luong attention, in PyTorch.

Train with this module and save with `save(model, directory)`: heed loads the
directory as it is (`heed translate DIR`, `heed::Model::load(DIR)`). The weight
names and the computation are documented in docs/models.md; heed's importer
(loaders/lstm_seq2seq.cc) follows this file exactly.

  encoder:  embedding -> LSTM (layers, optionally bidirectional: each direction has
            hidden/2 units and their final states are concatenated per layer)
  decoder:  per step, x = [embedding(y_prev); h~_prev] (input feeding) -> LSTM
            (initial state: the encoder's final state) -> top output h_t
            -> attention over the encoder outputs (Luong: dot, general, concat or
            local-p) -> context c_t -> h~_t = tanh(W_c [c_t; h_t]) -> logits = generator(h~_t)

Also here: greedy and beam search over any "next-token logits" function, the
same algorithm as transformers' generate() (heed's tests check that on a Marian
model), used to produce reference outputs for heed's tests.
"""
import json
import os

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

MODEL_TYPE = "heed_lstm_seq2seq"
ATTENTIONS = ("dot", "general", "concat", "local-p")

DEFAULTS = dict(model_type=MODEL_TYPE, embed_size=64, hidden_size=128, encoder_layers=1, decoder_layers=1,
                bidirectional_encoder=False, attention="general", local_score="general", local_window=3,
                input_feeding=True, forced_eos_token_id=-1)


def make_config(**kw):
    c = dict(DEFAULTS)
    c.update(kw)
    for key in ("vocab_size", "pad_token_id", "eos_token_id", "decoder_start_token_id"):
        if key not in c:
            raise ValueError(f"config needs {key}")
    if c["attention"] not in ATTENTIONS:
        raise ValueError(f"attention must be one of {ATTENTIONS}")
    if c["encoder_layers"] != c["decoder_layers"]:
        raise ValueError("the decoder starts from the encoder's final state: equal layer counts needed")
    if c["bidirectional_encoder"] and c["hidden_size"] % 2:
        raise ValueError("a bidirectional encoder needs an even hidden_size")
    return c


class Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dirs = 2 if c["bidirectional_encoder"] else 1
        self.layers, self.hidden = c["encoder_layers"], c["hidden_size"]
        self.embedding = nn.Embedding(c["vocab_size"], c["embed_size"], padding_idx=c["pad_token_id"])
        self.rnn = nn.LSTM(c["embed_size"], c["hidden_size"] // self.dirs, c["encoder_layers"], batch_first=True,
                           bidirectional=self.dirs == 2)

    def forward(self, ids, lengths):
        """ids [B, S], lengths [B] -> memory [B, S, H] (zeros past each length), (h, c) [layers, B, H]"""
        packed = pack_padded_sequence(self.embedding(ids), lengths.cpu(), batch_first=True, enforce_sorted=False)
        y, (h, c) = self.rnn(packed)
        memory, _ = pad_packed_sequence(y, batch_first=True, total_length=ids.shape[1])
        if self.dirs == 2:  # [layers * 2, B, H/2] -> [layers, B, H]: forward then backward halves
            B = ids.shape[0]
            h, c = (s.view(self.layers, 2, B, self.hidden // 2).transpose(1, 2).reshape(self.layers, B, self.hidden)
                    for s in (h, c))
        return memory, (h, c)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        H = c["hidden_size"]
        self.kind, self.window = c["attention"], c["local_window"]
        score = c["local_score"] if self.kind == "local-p" else self.kind
        self.score = score
        if score == "general":
            self.linear_in = nn.Linear(H, H, bias=False)  # score = (W h_t) . h_s
        if score == "concat":
            self.W_a = nn.Linear(2 * H, H, bias=False)  # score = v_a . tanh(W_a [h_t; h_s])
            self.v_a = nn.Linear(H, 1, bias=False)
        if self.kind == "local-p":
            self.W_p = nn.Linear(H, H, bias=False)  # p_t = n * sigmoid(v_p . tanh(W_p h_t))
            self.v_p = nn.Linear(H, 1, bias=False)
        self.linear_out = nn.Linear(2 * H, H, bias=False)

    def scores(self, h, memory):
        if self.score == "concat":
            q = h[:, None, :].expand(-1, memory.shape[1], -1)
            return self.v_a(torch.tanh(self.W_a(torch.cat([q, memory], -1)))).squeeze(-1)
        q = self.linear_in(h) if self.score == "general" else h
        return torch.bmm(memory, q[:, :, None]).squeeze(-1)

    def forward(self, h, memory, lengths):
        """h [B, H] (the decoder's top output), memory [B, S, H], lengths [B] -> h~ [B, H], weights [B, S]"""
        S = memory.shape[1]
        pos = torch.arange(S, device=memory.device)[None, :]
        s = self.scores(h, memory)
        if self.kind == "local-p":
            n = lengths.to(memory.dtype)
            p = n * torch.sigmoid(self.v_p(torch.tanh(self.W_p(h))).squeeze(-1))
            centre = torch.floor(p)
            lo = torch.clamp(centre - self.window, min=0)
            hi = torch.minimum(centre + self.window + 1, n)
            outside = (pos < lo[:, None]) | (pos >= hi[:, None])
            a = torch.softmax(s.masked_fill(outside, float("-inf")), -1)
            sigma = self.window / 2.0
            a = a * torch.exp(-(pos - p[:, None]) ** 2 / (2 * sigma * sigma))
        else:
            a = torch.softmax(s.masked_fill(pos >= lengths[:, None], float("-inf")), -1)
        context = torch.bmm(a[:, None, :], memory).squeeze(1)
        return torch.tanh(self.linear_out(torch.cat([context, h], -1))), a


class Decoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.feed = c["input_feeding"]
        E, H = c["embed_size"], c["hidden_size"]
        self.embedding = nn.Embedding(c["vocab_size"], E)
        self.rnn = nn.LSTM(E + H if self.feed else E, H, c["decoder_layers"], batch_first=True)
        self.attention = Attention(c)

    def forward(self, ids, state, memory, lengths):
        """One step. ids [B], state (h, c, h~) -> h~_t [B, H], new state, attention [B, S]"""
        h, c, feed = state
        x = self.embedding(ids)
        if self.feed:
            x = torch.cat([x, feed], -1)
        y, (h, c) = self.rnn(x[:, None, :], (h, c))
        h_tilde, a = self.attention(y[:, 0], memory, lengths)
        return h_tilde, (h, c, h_tilde), a


class Seq2Seq(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = make_config(**config)
        self.encoder = Encoder(self.config)
        self.decoder = Decoder(self.config)
        self.generator = nn.Linear(self.config["hidden_size"], self.config["vocab_size"])

    def encode(self, ids, lengths):
        memory, (h, c) = self.encoder(ids, lengths)
        return memory, (h, c, torch.zeros(ids.shape[0], self.config["hidden_size"]))

    def forward(self, ids, lengths, decoder_ids):
        """Teacher forcing: logits [B, T, V] and attention [B, T, S] for decoder inputs [B, T]."""
        memory, state = self.encode(ids, lengths)
        logits, attention = [], []
        for t in range(decoder_ids.shape[1]):
            h_tilde, state, a = self.decoder(decoder_ids[:, t], state, memory, lengths)
            logits.append(self.generator(h_tilde))
            attention.append(a)
        return torch.stack(logits, 1), torch.stack(attention, 1)

    def next_logits_fn(self, ids, lengths):
        """For greedy/beam_search: logits of the next token after each row's prefix
        (recomputed from the start, so that no state needs reordering)."""
        memory, _ = self.encode(ids, lengths)

        def next_logits(rows, prefixes):
            logits, _ = self.forward(ids[rows], lengths[rows], prefixes)
            return logits[:, -1]
        return next_logits


def save(model, directory, vocab=None):
    """Writes config.json and model.safetensors (heed's names are the module's own)."""
    from safetensors.torch import save_file
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(model.config, f, indent=1)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, os.path.join(directory, "model.safetensors"))


def load(directory):
    from safetensors.torch import load_file
    with open(os.path.join(directory, "config.json")) as f:
        config = json.load(f)
    config.pop("rename", None)
    model = Seq2Seq(config)
    model.load_state_dict(load_file(os.path.join(directory, "model.safetensors")))
    return model.eval()


# ---------------------------------------------------------------------------
# Generation over next_logits(rows, prefixes [R, t+1]) -> [R, V], with transformers'
# semantics: logits processors (min length, forced EOS at the last step), greedy
# taking the first maximum, beam search keeping 2k candidates per step, length
# penalty sum / length**lp, and its early-stop rule.

def processed_log_probs(logits, t, steps, eos, min_new, forced_eos):
    lp = torch.log_softmax(logits.float(), -1)
    if t < min_new:
        lp[:, eos] = float("-inf")
    if forced_eos >= 0 and t == steps - 1:
        lp[:, :] = float("-inf")
        lp[:, forced_eos] = 0
    return lp


def greedy(next_logits, batch, start, eos, steps, min_new=0, forced_eos=-1):
    """-> per source: (tokens up to and including EOS, sum of their log-probs)"""
    prefixes = torch.full((batch, 1), start, dtype=torch.long)
    done = [False] * batch
    out = [([], 0.0) for _ in range(batch)]
    for t in range(steps):
        live = [b for b in range(batch) if not done[b]]
        if not live:
            break
        lp = processed_log_probs(next_logits(torch.tensor(live), prefixes[live]), t, steps, eos, min_new, forced_eos)
        nxt = torch.full((batch, 1), eos, dtype=torch.long)
        for i, b in enumerate(live):
            tok = int(torch.argmax(lp[i]))
            out[b] = (out[b][0] + [tok], out[b][1] + float(lp[i, tok]))
            nxt[b, 0] = tok
            done[b] = tok == eos
        prefixes = torch.cat([prefixes, nxt], 1)
    return out


def beam_search(next_logits, batch, start, eos, pad, steps, beams, length_penalty=1.0, min_new=0, forced_eos=-1):
    """-> per source: up to `beams` (tokens, normalized score), best first"""
    K, keep = beams, 2 * beams
    R = batch * K
    prefixes = torch.full((R, 1), start, dtype=torch.long)
    running = torch.full((batch, K), -1e9)
    running[:, 0] = 0
    finished = [[] for _ in range(batch)]
    closed = [False] * batch
    for t in range(steps):
        cur_len = t + 1
        lp = processed_log_probs(next_logits(torch.arange(R) // K, prefixes), t, steps, eos, min_new, forced_eos)
        V = lp.shape[1]
        total = (lp + running.view(R, 1)).view(batch, K * V)
        last = t == steps - 1
        norm = float(cur_len) ** length_penalty
        new_prefixes, new_running, any_open = [], torch.full((batch, K), -1e9), False
        for b in range(batch):
            order = torch.sort(total[b], descending=True, stable=True).indices[:keep]
            kept = []
            for c, idx in enumerate(order.tolist()):
                beam, tok = divmod(idx, V)
                score = float(total[b, idx])
                seq = prefixes[b * K + beam].tolist() + [tok]
                if tok == eos or last:
                    if c < K and not closed[b] and score > -1e8:
                        finished[b].append((seq[1:], score / norm))
                        finished[b].sort(key=lambda x: -x[1])  # stable: earlier ones win ties
                        del finished[b][K:]
                elif len(kept) < K:
                    kept.append((seq, score))
            while len(kept) < K:
                kept.append((prefixes[b * K].tolist() + [pad], -1e9))
            for i, (seq, score) in enumerate(kept):
                new_prefixes.append(seq)
                new_running[b, i] = score
            if not closed[b] and len(finished[b]) == K:
                closed[b] = not (kept[0][1] / float(cur_len) ** length_penalty > finished[b][-1][1])
            any_open |= not closed[b] and not last
        prefixes, running = torch.tensor(new_prefixes), new_running
        if not any_open:
            break
    return finished

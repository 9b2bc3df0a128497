"""Exports with dynamic axes, as users export models to serve them (any batch,
any length), for tests/onnx_test.cc. Each model is checked at several shapes:

  NAME.onnx                      the export (torch.onnx.export, TorchScript exporter, opset 17)
  NAME_ioK.safetensors           case K: input.X fed to onnxruntime, output.Y its outputs
  NAME_inputs.safetensors        case 1's inputs by name (heed run --inputs)
  bert_dynamic_attention.safetensors   case 1's attention weights per layer (PyTorch, eager attention)
  bert_fixed.onnx                the same BERT exported for case 1's shapes only (no dynamic axes)
  marian_fixed_decoder.onnx      the Marian decoder exported for one case's shapes only
  gpt2_greedy.safetensors        prompt, tokens (greedy argmax by PyTorch, full passes, no cache) and
                                 logits (PyTorch's full pass over the final tokens)
  marian_greedy.safetensors      source ids and mask, tokens (greedy argmax by PyTorch's MarianMTModel)

Expected values come from onnxruntime and PyTorch, never from heed. Called by gen_onnx_fixtures.py.
"""
import os

import numpy as np
import onnxruntime as ort
import torch
from safetensors.numpy import save_file

LAYERS = 2


class Wrapper(torch.nn.Module):
    """Holds the model as a submodule, so that the exporter writes its weights as initializers."""

    def __init__(self, model):
        super().__init__()
        self.model = model


def export_cases(out, name, module, args, names, outputs, dynamic_axes, cases):
    path = os.path.join(out, f"{name}.onnx")
    module.eval()  # else the exporter restores a new wrapper's training mode, dropout and all, into the model
    torch.onnx.export(module, tuple(torch.from_numpy(a) for a in args), path, dynamo=False, opset_version=17,
                      input_names=names, output_names=outputs, dynamic_axes=dynamic_axes)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    for k, feeds in enumerate(cases, 1):
        values = session.run(None, feeds)
        tensors = {f"input.{n}": v for n, v in feeds.items()}
        tensors.update({f"output.{o.name}": v for o, v in zip(session.get_outputs(), values)})
        save_file(tensors, os.path.join(out, f"{name}_io{k}.safetensors"))
    save_file(cases[0], os.path.join(out, f"{name}_inputs.safetensors"))  # for heed run --inputs
    print(f"{name}: {len(cases)} cases")


def ids(rng, *shape):
    return rng.integers(0, 100, shape).astype(np.int64)


def padded_mask(batch, length, keep):
    mask = np.ones((batch, length), np.int64)
    mask[0, keep:] = 0  # padding at the end of the first sequence
    return mask


def bert(out, tf, rng):
    model = tf.BertModel(tf.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=LAYERS,
                                       num_attention_heads=4, intermediate_size=64, max_position_embeddings=64)).eval()

    class Encoder(Wrapper):
        def forward(self, input_ids, attention_mask):
            return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    dyn = {n: {0: "batch", 1: "seq"} for n in ("input_ids", "attention_mask")}
    cases = [{"input_ids": ids(rng, b, s), "attention_mask": padded_mask(b, s, keep)}
             for b, s, keep in ((2, 8, 5), (3, 13, 13), (1, 1, 1))]
    export_cases(out, "bert_dynamic", Encoder(model), list(cases[0].values()), ["input_ids", "attention_mask"], ["y"],
                 dyn, cases)
    # The same model exported for case 1's shapes only (the exporter's default): its attention
    # blocks fuse into MultiHeadAttention whole, which the dynamic export's do not.
    export_cases(out, "bert_fixed", Encoder(model), list(cases[0].values()), ["input_ids", "attention_mask"], ["y"],
                 None, cases[:1])
    # Attention weights of case 1 (what `heed run --attention` captures), from the eager implementation.
    model.set_attn_implementation("eager")
    with torch.no_grad():
        attentions = model(**{k: torch.from_numpy(v) for k, v in cases[0].items()}, output_attentions=True).attentions
    save_file({f"layer{i}": a.numpy() for i, a in enumerate(attentions)},
              os.path.join(out, "bert_dynamic_attention.safetensors"))


def gpt2(out, tf, rng):
    model = tf.GPT2LMHeadModel(tf.GPT2Config(vocab_size=100, n_positions=64, n_embd=32, n_layer=LAYERS,
                                             n_head=4)).eval()

    class Step(Wrapper):
        """One decoding step with past keys/values as flat tensors (what a server feeds back)."""

        def forward(self, input_ids, attention_mask, *past):
            cache = tf.DynamicCache()
            for i in range(LAYERS):
                cache.update(past[2 * i], past[2 * i + 1], i)
            # Positions from the past's length as a traced size: left to the cache, the trace keeps
            # the example's past length as a constant.
            start, count = past[0].shape[2], input_ids.shape[1]
            positions = torch.arange(start, start + count, device=input_ids.device)
            result = self.model(input_ids=input_ids, attention_mask=attention_mask, past_key_values=cache,
                                position_ids=positions[None].expand(input_ids.shape[0], -1),
                                cache_position=positions, use_cache=True)
            present = []
            for layer in result.past_key_values.layers:
                present += [layer.keys, layer.values]
            return (result.logits, *present)

    past_names = [f"past_{k}{i}" for i in range(LAYERS) for k in "kv"]
    present_names = [f"present_{k}{i}" for i in range(LAYERS) for k in "kv"]
    dyn = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "total"},
           "logits": {0: "batch", 1: "seq"}}
    dyn.update({n: {0: "batch", 2: "past"} for n in past_names})
    dyn.update({n: {0: "batch", 2: "total"} for n in present_names})

    def case(b, past, s):
        feeds = {"input_ids": ids(rng, b, s), "attention_mask": np.ones((b, past + s), np.int64)}
        feeds.update({n: rng.standard_normal((b, 4, past, 8)).astype(np.float32) for n in past_names})
        return feeds

    # Traced with a past and more than one new token: a trace of one token drops the causal mask.
    cases = [case(2, 3, 2), case(1, 0, 5), case(3, 7, 1)]
    export_cases(out, "gpt2_past", Step(model), list(cases[0].values()), ["input_ids", "attention_mask", *past_names],
                 ["logits", *present_names], dyn, cases)
    with torch.no_grad():
        prompt = torch.from_numpy(ids(rng, 2, 4))
        tokens = prompt
        for _ in range(6):
            next_token = model(input_ids=tokens).logits[:, -1].argmax(-1)
            tokens = torch.cat([tokens, next_token[:, None]], 1)
        logits = model(input_ids=tokens).logits
    save_file({"prompt": prompt.numpy(), "tokens": tokens.numpy(), "logits": logits.numpy()},
              os.path.join(out, "gpt2_greedy.safetensors"))


def marian(out, tf, rng):
    model = tf.MarianMTModel(tf.MarianConfig(vocab_size=100, d_model=32, encoder_layers=LAYERS,
                                             decoder_layers=LAYERS, encoder_attention_heads=4,
                                             decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64,
                                             max_position_embeddings=64, pad_token_id=99,
                                             decoder_start_token_id=99)).eval()

    class Encoder(Wrapper):
        def forward(self, input_ids, attention_mask):
            return self.model.get_encoder()(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    class Decoder(Wrapper):
        """The decoder over the whole target prefix, with the output projection and its bias."""

        def forward(self, decoder_input_ids, encoder_hidden_states, encoder_attention_mask):
            h = self.model.model.decoder(input_ids=decoder_input_ids, encoder_hidden_states=encoder_hidden_states,
                                         encoder_attention_mask=encoder_attention_mask).last_hidden_state
            return self.model.lm_head(h) + self.model.final_logits_bias

    src = {"input_ids": ids(rng, 2, 7), "attention_mask": padded_mask(2, 7, 4)}
    enc_dyn = {n: {0: "batch", 1: "source"} for n in ("input_ids", "attention_mask")}
    enc_cases = [src, {"input_ids": ids(rng, 1, 3), "attention_mask": np.ones((1, 3), np.int64)}]
    export_cases(out, "marian_dynamic_encoder", Encoder(model), list(src.values()), ["input_ids", "attention_mask"],
                 ["y"], enc_dyn, enc_cases)

    def dec_case(b, t, s, keep):
        return {"decoder_input_ids": ids(rng, b, t),
                "encoder_hidden_states": rng.standard_normal((b, s, 32)).astype(np.float32),
                "encoder_attention_mask": padded_mask(b, s, keep)}

    dec_dyn = {"decoder_input_ids": {0: "batch", 1: "target"}, "encoder_hidden_states": {0: "batch", 1: "source"},
               "encoder_attention_mask": {0: "batch", 1: "source"}, "logits": {0: "batch", 1: "target"}}
    dec_cases = [dec_case(2, 1, 7, 4), dec_case(1, 5, 3, 3), dec_case(3, 4, 6, 2)]
    export_cases(out, "marian_dynamic_decoder", Decoder(model), list(dec_cases[0].values()),
                 ["decoder_input_ids", "encoder_hidden_states", "encoder_attention_mask"], ["logits"], dec_dyn,
                 dec_cases)
    with torch.no_grad():
        source, mask = torch.from_numpy(src["input_ids"]), torch.from_numpy(src["attention_mask"])
        tokens = torch.full((2, 1), 99, dtype=torch.long)
        for _ in range(8):
            logits = model(input_ids=source, attention_mask=mask, decoder_input_ids=tokens).logits
            tokens = torch.cat([tokens, logits[:, -1].argmax(-1)[:, None]], 1)
    save_file({"input_ids": src["input_ids"], "attention_mask": src["attention_mask"], "tokens": tokens.numpy()},
              os.path.join(out, "marian_greedy.safetensors"))
    # The decoder exported for one case's shapes (no dynamic axes): its causal self-attention and its
    # cross-attention over the encoder's states (with their padding) fuse into MultiHeadAttention.
    fixed = dec_case(2, 5, 7, 4)
    export_cases(out, "marian_fixed_decoder", Decoder(model), list(fixed.values()),
                 ["decoder_input_ids", "encoder_hidden_states", "encoder_attention_mask"], ["logits"], None, [fixed])


def dynamic_models(out):
    import transformers as tf

    rng = np.random.default_rng(17)
    bert(out, tf, rng)
    gpt2(out, tf, rng)
    marian(out, tf, rng)

#!/usr/bin/env python3
"""Checks the f16/bf16 tolerances of tests/op_reference_test.cc's OpReferenceCudaHalf
for MultiHeadAttention without a GPU: heed's half path is emulated in PyTorch
(every GEMM operand rounded to the dtype, fp32 accumulation, fp32 softmax) on the
op fixtures' MHA cases and compared with the fp32 expected outputs at
rtol = tol, atol = tol * max|expected| (f16 1e-2, bf16 4e-2), as the test does.

  python3 tests/reference/check_half_mha_tolerance.py
"""
import json, torch
from safetensors import safe_open
import os
f = safe_open(os.path.join(os.path.dirname(__file__), "..", "fixtures", "ops.safetensors"), "pt")
meta = f.metadata(); cases = json.loads(meta["cases"])
names = set(f.keys())
def get(n): return f.get_tensor(n) if n in names else None
for dt, tol in ((torch.float16, 1e-2), (torch.bfloat16, 4e-2)):
    rd = lambda t: t.to(dt).float()
    for c in cases:
        if c["op"] != "MultiHeadAttention": continue
        ins = [get(n) if n else None for n in c["inputs"]]
        if any(n and n not in names for n in c["inputs"]):
            print("skip (inputs generated from seeds)", c["name"])
            continue
        q, k, v, wq, wk, wv, bq, bk, bv, wo, bo = ins[:11]
        kpm = ins[11] if len(ins) > 11 else None; am = ins[12] if len(ins) > 12 else None
        H = c["attrs"]["num_heads"]; E = q.shape[-1]; Dh = E // H
        projected = c["attrs"].get("kv_projected", False)
        if wk is None and not projected: wk, wv = wq[E:2*E], wq[2*E:]; bk, bv = (bq[E:2*E], bq[2*E:]) if bq is not None else (None, None); wq, bq = wq[:E], (bq[:E] if bq is not None else None)
        elif projected: wq = wq[:E]; bq = bq[:E] if bq is not None else None
        lin = lambda x, w, b: rd(x) @ rd(w).T + (b if b is not None else 0)
        B, T = q.shape[0], q.shape[1]
        Q = lin(q, wq, bq).view(B, T, H, Dh).transpose(1, 2)
        if projected: K, V = k, v
        else:
            kk = q if k is None else k; vv = q if v is None else v
            S = kk.shape[1]
            K = lin(kk, wk, bk).view(B, S, H, Dh).transpose(1, 2); V = lin(vv, wv, bv).view(B, S, H, Dh).transpose(1, 2)
        s = rd(Q) @ rd(K).transpose(-1, -2) / Dh ** 0.5
        S = s.shape[-1]
        if kpm is not None: s = s + (kpm.float() if kpm.dtype != torch.bool else torch.zeros(B, S).masked_fill(kpm, float("-inf"))).view(B, 1, 1, S)
        if am is not None: s = s + (am.float() if am.dtype != torch.bool else torch.zeros(T, S).masked_fill(am, float("-inf")))
        if c["attrs"].get("causal"): s = s + torch.triu(torch.full((T, S), float("-inf")), 1)
        p = torch.softmax(s, -1).nan_to_num(0.0)
        ctx = (rd(p) @ rd(V)).transpose(1, 2).reshape(B, T, E)
        out = lin(ctx, wo, bo)
        outs = [out, p]
        for got, name in zip(outs, c["outputs"]):
            want = get(name)
            if want is None: continue
            if "fully_masked" in c["name"] and name.endswith("out0"): got = got.clone(); got[1] = bo
            ok = torch.allclose(got, want, rtol=tol, atol=tol * want.abs().max().item())
            print(dt, c["name"], name, "OK" if ok else "FAIL", f"max abs error {(got - want).abs().max().item():.2e}")

"""heed's int8 and bf16 arithmetic (docs/precision.md), computed here in PyTorch
for the fixtures that check it: gen_op_fixtures.py (weights quantized from fp32)
and gen_quantized_fixtures.py (weights as a quantized file stores them).

int8: x quantized per row (projections) or per tensor (Conv2d) at run time,
symmetric, ties to even; the weight per output channel; integer products summed
exactly (in float64: |sums| < 2^24), then acc * s_x * s_w + bias.
bf16: x and w rounded to bf16, products summed in float64, fp32 bias.
"""
import torch
import torch.nn.functional as F


def quantize_rows(t, levels=127.0):
    # Divisions by a tensor: PyTorch's 127.0 / t multiplies by a reciprocal (not
    # correctly rounded), which moves values that sit on a .5 by one quantum.
    amax = t.abs().amax(dim=-1, keepdim=True)
    c = torch.full_like(amax, levels)
    inv = torch.where(amax > 0, c / amax, torch.zeros_like(amax))
    return torch.round(t * inv), amax / c


def int8_linear_stored(x, qw, sw, b):
    """x [m, k] by a weight stored as int8 values qw [n, k] with scales sw [n]."""
    qx, sx = quantize_rows(x)
    acc = (qx.double() @ qw.double().T).float()  # exact: |sums| < 2^24
    return acc * (sx * sw.reshape(1, -1)) + (b if b is not None else 0.0)


def int8_linear(x, w, b):
    qw, sw = quantize_rows(w)
    return int8_linear_stored(x, qw, sw, b)


def bf16_linear(x, w, b):
    y = x.bfloat16().double() @ w.bfloat16().double().T + (b.double() if b is not None else 0.0)
    return y.float()


def bf16_conv(x, w, b, **kw):
    return F.conv2d(x.bfloat16().double(), w.bfloat16().double(), b.double() if b is not None else None, **kw).float()


def int8_conv_stored(x, qw, sw, b, res=None, relu=False, **kw):
    """Conv2d by a weight stored as int8 values qw (w's shape) with scales sw [out channels]."""
    u8 = bool((x >= 0).all())
    levels = 255.0 if u8 else 127.0
    amax = x.abs().max().reshape(1)
    inv = torch.full_like(amax, levels) / amax
    qx = torch.round(torch.clamp(x * inv, 0.0 if u8 else -127.0, levels))
    acc = F.conv2d(qx.double(), qw.double(), None, **kw)
    y = (acc.float() * sw.reshape(1, -1, 1, 1)) * (amax / levels)
    y = y + (b.reshape(1, -1, 1, 1) if b is not None else 0.0) + (res if res is not None else 0.0)
    return F.relu(y) if relu else y


def int8_conv(x, w, b, res=None, relu=False, levels=127.0, **kw):
    """levels 63: the 7-bit weights of CPUs without AVX-512 VNNI."""
    qw, sw = quantize_rows(w.reshape(w.shape[0], -1), levels)
    return int8_conv_stored(x, qw.reshape(w.shape), sw, b, res, relu, **kw)


def lstm_cell_gates(lin, x, h, c, w_ih, w_hh, b_ih, b_hh):
    """LSTMCell with gate GEMMs lin(x, w, b) (PyTorch's i, f, g, o order)."""
    gates = lin(x, w_ih, b_ih) + lin(h, w_hh, b_hh)
    i, f, g, o = gates.chunk(4, 1)
    c1 = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c1), c1


def static_scale(lo, hi):
    """Calibrated int8 (`heed quantize --calibrate`): u8 when the range is
    nonnegative (scale max / 255), else i8 (max|x| / 127)."""
    nonneg = lo >= 0.0
    amax = torch.tensor([hi if nonneg else max(abs(lo), abs(hi))], dtype=torch.float32)
    levels = torch.full_like(amax, 255.0 if nonneg else 127.0)
    scale = amax / levels if amax.item() > 0 else torch.full_like(amax, 1.0) / torch.full_like(amax, 255.0)
    return scale, nonneg


def static_quantize(x, scale, nonneg):
    """The integers of x at a fixed scale (ties to even, saturating)."""
    inv = torch.full_like(scale, 1.0) / scale
    return torch.round(torch.clamp(x * inv, 0.0 if nonneg else -127.0, 255.0 if nonneg else 127.0))


def static_int8_conv(qx, sx, w, b, res=None, relu=False, out=None, levels=127.0, **kw):
    """A convolution over integers qx of scale sx (heed's weight scheme, per
    channel; levels 63 without AVX-512 VNNI); res: an fp32 residual (a stored
    one: its integers times its scale); out: (scale, nonneg) to store the result
    quantized, else fp32."""
    qw, sw = quantize_rows(w.reshape(w.shape[0], -1), levels)
    acc = F.conv2d(qx.double(), qw.reshape(w.shape).double(), None, **kw).float()
    y = (acc * sw.reshape(1, -1, 1, 1)) * sx
    y = y + (b.reshape(1, -1, 1, 1) if b is not None else 0.0)
    y = y + (res if res is not None else 0.0)
    y = F.relu(y) if relu else y
    return y if out is None else static_quantize(y, *out)

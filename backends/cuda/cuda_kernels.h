#pragma once
// Launchers of heed's own CUDA kernels (the .cu files), callable from host C++.
// Every launcher queues work on `stream` and returns at once.
#include <cuda_runtime_api.h>

#include <cstdint>

namespace heed::cuda {

constexpr int kMaxRank = 8;

enum class Unary : int { identity, sqrt, exp, log, tanh, sigmoid, relu, gelu, gelu_tanh, silu, neg, abs, erf };
enum class Binary : int { add, sub, mul, div, pow, max, min };

// An output index decomposed over `shape`, each input addressed through its own
// strides (0 along broadcast dims), in elements.
struct StridedIndex {
  int rank = 0;
  int64_t shape[kMaxRank] = {};
  int64_t stride_a[kMaxRank] = {}, stride_b[kMaxRank] = {};
};

void unary_f32(Unary op, const float* x, float* y, int64_t n, cudaStream_t stream);
// T: float, int32_t, int64_t or uint8_t (u8 and bool).
template <typename T>
void binary(Binary op, const T* a, const T* b, T* y, const StridedIndex& index, int64_t n, cudaStream_t stream);
// y[r * ld + c] = act(y[r * ld + c] + bias[c]) (bias may be null).
void bias_activation_f32(float* y, int64_t ld, const float* bias, int64_t rows, int64_t cols, Unary act, cudaStream_t stream);

// x viewed as [outer, axis, inner]: softmax (or log-softmax) along axis (in place
// is fine). masked: x already holds an additive mask, and a row it hides
// entirely (all -inf) gives zeros (log: -inf) instead of NaN.
void softmax_f32(const float* x, float* y, int64_t outer, int64_t axis, int64_t inner, bool log, bool masked,
                 cudaStream_t stream);
// Rows of `cols` normalized, then * weight + bias (either may be null).
void layer_norm_f32(const float* x, const float* weight, const float* bias, float* y, int64_t rows, int64_t cols,
                    float epsilon, cudaStream_t stream);

// For every index i over index.shape: dst at offset stride_b(i) = src at offset
// stride_a(i) (transpose, slice, concat, split), elements of elem_bytes (1, 2, 4 or 8).
void strided_copy(const void* src, void* dst, int elem_bytes, const StridedIndex& index, int64_t n, cudaStream_t stream);

// One contiguous copy in device memory; copy_blocks runs `count` of them, read
// from a device array, in one launch (beam reorders of KV caches).
struct DeviceCopy {
  void* dst;
  const void* src;
  unsigned long long bytes;
};
void copy_blocks(const DeviceCopy* blocks, int64_t count, cudaStream_t stream);

// Generation's scoring (Backend::best_candidates): per row of logits [rows, vocab],
// log_softmax + base[r] (base may be null), token `hold` at -inf, or only token
// `forced` possible (-1: neither); the row's `keep` best (score, index) into
// scores and indices [rows, keep], best first, ties to the lower index.
void best_candidates(const float* logits, int64_t rows, int64_t vocab, int64_t keep, const float* base, int64_t hold,
                     int64_t forced, float* scores, int64_t* indices, cudaStream_t stream);

enum class ScalarType : int { f32, f16, bf16, i32, i64, u8, boolean };
// y = x converted (float to integer truncates toward zero; to bool: x != 0).
void cast(const void* x, ScalarType from, void* y, ScalarType to, int64_t n, cudaStream_t stream);

// x viewed as [outer, n, inner], per (outer, inner) column: the first index of
// the maximum (ArgMax), or the k best values and their indices, ties to the
// lower index (TopK).
void argmax_f32(const float* x, int64_t outer, int64_t n, int64_t inner, int64_t* out, cudaStream_t stream);
void topk_f32(const float* x, int64_t outer, int64_t n, int64_t inner, int64_t k, bool largest, float* values,
              int64_t* indices, cudaStream_t stream);

// Attention probabilities in place: scores [B, H, T, L] (already scaled) get the
// masks (additive f32, or bool/u8 with true = hide; null when absent; both with
// row stride mask_stride), the causal rule (query t sees keys <= offset + t), a
// softmax over the first `keys` columns and zeros after them; a row with no
// visible key becomes zeros.
struct AttentionMaskArgs {
  const void* key_padding = nullptr;  // [B, mask_stride]
  bool key_padding_bool = false;
  const void* attn_mask = nullptr;    // [T, mask_stride]
  bool attn_mask_bool = false;
  // Any shape broadcast to [B, H, T, keys]: (b, h, t, j) at
  // b * bias_strides[0] + h * bias_strides[1] + t * bias_strides[2] + j.
  const void* bias = nullptr;
  bool bias_bool = false;
  int64_t bias_strides[3] = {0, 0, 0};
  int64_t mask_stride = 0;
  bool causal = false;
  int64_t query_offset = 0;
};
void attention_softmax(float* scores, int64_t B, int64_t H, int64_t T, int64_t L, int64_t keys,
                       const AttentionMaskArgs& masks, cudaStream_t stream);
// rows [B, T, ld] (head h's Dh columns at h * Dh) into cache [B, H, S, Dh] at [position, position + T).
void append_to_cache(float* cache, const float* rows, int64_t B, int64_t T, int64_t H, int64_t Dh, int64_t S, int64_t ld,
                     int64_t position, cudaStream_t stream);
// The same with the position read on the device (an i64 or i32 scalar); a
// position past the capacity appends nothing and sets *error to 1.
void append_to_cache_at(float* cache, const float* rows, int64_t B, int64_t T, int64_t H, int64_t Dh, int64_t S,
                        int64_t ld, const void* position, bool position_i32, unsigned long long* error, cudaStream_t stream);

// The decode step's attention in one launch: one query per batch row (T = 1)
// against keys [0, keys), keys = *position + 1 (a KV cache; the position read on
// the device) or fixed_keys (position null). Row b's query of head h is at
// q + b * q_ld + h * Dh; key/value j of (b, h) at k/v + b * batch_stride +
// h * head_stride + j * Dh; masks as attention_softmax's (row t = 0); the
// context goes to ctx + b * ctx_ld + h * Dh, the probabilities (zeros past
// keys) to weights [B, H, L] when not null. keys > L sets *error to 1.
struct DecodeAttentionArgs {
  const float *q, *k, *v;
  int64_t q_ld, head_stride, batch_stride;
  int64_t B, H, Dh, L;
  const void* position = nullptr;
  bool position_i32 = false;
  int64_t fixed_keys = 0;
  float scale = 1.f;
  AttentionMaskArgs masks;
  float* ctx;
  int64_t ctx_ld;
  float* weights = nullptr;
  unsigned long long* error = nullptr;
};
void decode_attention(const DecodeAttentionArgs& a, cudaStream_t stream);

// One time step of an LSTM (gates i, f, g, o) or GRU (r, z, n) layer direction,
// PyTorch's gate order, for every batch row b:
//   gx: the input projections x W_ih^T + b_ih of all steps, row (t, b) at
//       gx_batch_first ? b * T + t : t * B + b, 4H (LSTM) or 3H (GRU) wide
//   gh: h W_hh^T of this step [B, gates * H] (b_hh added here, may be null)
//   h, c: the state [B, H], updated in place (c null for a GRU)
//   y: output row (t, b) at y_batch_first ? b * T + t : t * B + b, row width ld,
//      this direction's H columns at column `col`
// Sequence b runs lengths[b] steps (null: T); step s is time s (forward) or
// lengths[b] - 1 - s (reverse); past its length the state is kept and y at time
// s is zero.
// reset_before (ONNX's default GRU, linear_before_reset false): gh's n columns
// already hold (r h) W_hn^T (gru_reset_hidden gave r h), and
// n = tanh(x_n + gh_n + b_hn) instead of tanh(x_n + r (gh_n + b_hn)).
struct RecurrentStep {
  bool gru = false, reverse = false, gx_batch_first = false, y_batch_first = false;
  bool reset_before = false;
  int64_t T = 0, B = 0, H = 0, step = 0, ld = 0, col = 0;
  const void* lengths = nullptr;
  bool lengths64 = false;
};
void recurrent_step(const RecurrentStep& p, const float* gx, const float* gh, const float* b_hh, float* h, float* c, float* y,
                    cudaStream_t stream);
// For reset_before: rh = r h per batch row at this step (r from gx, gh's r
// columns and b_hh), zeros for sequences past their length.
void gru_reset_hidden(const RecurrentStep& p, const float* gx, const float* gh, const float* b_hh, const float* h, float* rh,
                      cudaStream_t stream);
// One cell step (LSTMCell / GRUCell): gx = x W_ih^T + b_ih [B, gates*H], gh = h W_hh^T [B, gates*H].
void cell_step(bool gru, const float* gx, const float* gh, const float* b_hh, const float* h, const float* c, float* h_out,
               float* c_out, int64_t B, int64_t H, cudaStream_t stream);

// Additive (concat) attention scores: scores[b, t, s] = v . tanh(qa[b, t] + ka[b, s]),
// qa [B, T, A] (bias included), ka [B, S, A].
void additive_scores(const float* qa, const float* ka, const float* v, float* scores, int64_t B, int64_t T, int64_t S,
                     int64_t A, cudaStream_t stream);

// Luong local attention, one query row at a time (see ops/attention.h):
// q [B*T, Dk] (already multiplied by W_a for score "general"), k [B, S, Dk],
// v [B, S, Dv], hp [B*T, P] = q W_p^T (predictive centre) or null with vp, lengths
// (i32/i64) or null; out [B*T, Dv]; weights window-relative [B*T, left+right+1] or
// over the source [B*T, S] (source_weights), or null.
struct LocalAttentionArgs {
  int64_t B = 0, T = 0, S = 0, Dk = 0, Dv = 0, P = 0, left = 0, right = 0;
  float scale = 1.f;
  double sigma = 1.0;
  bool predictive = false, source_weights = false, lengths64 = false;
  bool distance_rule = false;  // window [ceil(p - left), floor(p + right)] instead of floor(p) -/+ left/right
  const void* lengths = nullptr;
};
void local_attention(const LocalAttentionArgs& a, const float* q, const float* k, const float* v, const float* hp,
                     const float* vp, float* out, float* weights, cudaStream_t stream);

// Convolution family, NCHW.
struct Window2d {
  int64_t N = 0, C = 0, H = 0, W = 0, OH = 0, OW = 0, kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
};
// col [C * kh * kw, OH * OW] of each image x [C, H, W] (zeros in the padding), for
// `images` images image_stride floats apart, into [images, C * kh * kw, OH * OW].
void im2col(const float* x, const Window2d& w, int64_t images, int64_t image_stride, float* col, cudaStream_t stream);
// y [N, O, P] += bias[o] + residual, then ReLU when asked.
void conv_epilogue(float* y, const float* bias, const float* residual, int64_t N, int64_t O, int64_t P, bool relu,
                   cudaStream_t stream);
// Max / average pooling as PyTorch (ceil mode by w.OH/OW, count_include_pad for average).
void pool2d(const float* x, const Window2d& w, bool max, bool count_include_pad, float* y, cudaStream_t stream);
void adaptive_avg_pool2d(const float* x, const Window2d& w, float* y, cudaStream_t stream);
// y = (x - mean) / sqrt(var + eps) * scale + shift, per channel.
void batch_norm(const float* x, const float* scale, const float* shift, const float* mean, const float* var, float eps,
                int64_t N, int64_t C, int64_t P, float* y, cudaStream_t stream);

enum class Reduction : int { sum, mean, max, prod };
// out[o] over the reduced elements: x at base(o) + the reduced index through
// `reduced` (shape and strides in stride_a); base(o) through `kept` (shape = the
// output's, strides in stride_a).
void reduce_f32(Reduction op, const float* x, const StridedIndex& kept, const StridedIndex& reduced, int64_t count,
                float* out, int64_t outputs, cudaStream_t stream);
// data viewed as [outer, dim, row_bytes]: out[o, i] = data[o, ids[i]]. An id
// outside [0, dim) sets *bad to its position + 1 (first writer wins) and copies nothing.
template <typename Index>
// wrap: ids in [-dim, 0) count from the end (Gather, as numpy's take); else only [0, dim) (Embedding).
void gather_rows(const void* data, int64_t outer, int64_t dim, int64_t row_bytes, const Index* ids, int64_t count,
                 bool wrap, void* out, unsigned long long* bad, cudaStream_t stream);

// Comparisons of T (f32, i32, i64, u8/bool) and logic of bools, with numpy
// broadcasting through index: y = a op b as 0 or 1.
enum class Predicate : int { equal, less, greater, less_equal, greater_equal, logical_and, logical_or, logical_xor };
template <typename T>
void predicate(Predicate op, const T* a, const T* b, uint8_t* y, const StridedIndex& index, int64_t n, cudaStream_t stream);
// y = !x (bools), y = isnan(x).
void logical_not(const uint8_t* x, uint8_t* y, int64_t n, cudaStream_t stream);
void is_nan(const float* x, uint8_t* y, int64_t n, cudaStream_t stream);
// y = cond ? a : b, elements of elem_bytes; index.stride_a/b address a and b,
// cond_strides the condition.
void where(const uint8_t* cond, const int64_t* cond_strides, const void* a, const void* b, void* y, int elem_bytes,
           const StridedIndex& index, int64_t n, cudaStream_t stream);

// x viewed as [outer, n, inner]: running sums along n (T: float, int32_t, int64_t),
// exclusive (each sum leaves its own element out) and/or from the end.
template <typename T>
void cumsum(const T* x, T* y, int64_t outer, int64_t n, int64_t inner, bool exclusive, bool reverse, cudaStream_t stream);
// The last two dims of `matrices` [rows, cols] matrices: element (i, j) kept when
// j - i >= k (upper) or j - i <= k (lower), else zero.
void trilu(const void* x, void* y, int elem_bytes, int64_t matrices, int64_t rows, int64_t cols, bool upper, int64_t k,
           cudaStream_t stream);

// Tile and Pad: output coordinate c of dim d reads input coordinate
// tile: c % in[d]; pad: c - begin[d] inside [0, in[d]), outside it the fill
// (constant), the nearest edge (edge) or the mirror image (reflect).
enum class Remap : int { tile, constant, edge, reflect };
struct RemapIndex {
  int rank = 0;
  Remap mode = Remap::tile;
  int64_t out[kMaxRank] = {}, in[kMaxRank] = {}, begin[kMaxRank] = {};
  unsigned long long fill = 0;  // the fill value's bytes (constant)
};
void remap(const void* x, void* y, int elem_bytes, const RemapIndex& index, int64_t n, cudaStream_t stream);

// GatherElements: y[i] = data at index i with coordinate `axis` replaced by
// ids[i] (negative: from the end); index.shape = ids' shape, index.stride_a = the
// data's strides. An id outside [-dim, dim) sets *bad to its position + 1 and
// nothing is copied.
template <typename Index>
void gather_elements(const void* data, int elem_bytes, const Index* ids, const StridedIndex& index, int axis, int64_t dim,
                     int64_t n, void* y, unsigned long long* bad, cudaStream_t stream);

// ConvTranspose2d's scatter, as a gather: y [C, OH, OW] of one image and group
// (w.C = its channels) = bias[c] + the columns col [C * kh * kw, H * W] that land
// on each output pixel (w: the input's H, W, the output's OH, OW, the window).
void col2im(const float* col, const Window2d& w, const float* bias, float* y, cudaStream_t stream);

}  // namespace heed::cuda

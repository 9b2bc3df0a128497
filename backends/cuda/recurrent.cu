// The pointwise part of LSTM and GRU steps (the GEMMs run on cuBLAS).
#include "backends/cuda/cuda_kernels.h"

namespace heed::cuda {
namespace {

__device__ float sigmoid(float x) { return 1.f / (1.f + expf(-x)); }

// LSTM: (i, f, g, o) -> c' = f c + i g, h' = o tanh(c'). GRU: (r, z, n) ->
// n = tanh(x_n + r (h_n + b_hn)) (reset_before: tanh(x_n + h_n + b_hn), h_n
// computed from r h), h' = (1 - z) n + z h.
__device__ void cell(bool gru, bool reset_before, const float* gx, const float* gh, const float* b_hh, int64_t H, int64_t j,
                     float h_prev, float c_prev, float* h_new, float* c_new) {
  auto hh = [&](int gate) { return gh[gate * H + j] + (b_hh ? b_hh[gate * H + j] : 0.f); };
  if (gru) {
    const float r = sigmoid(gx[j] + hh(0)), z = sigmoid(gx[H + j] + hh(1));
    const float n = tanhf(gx[2 * H + j] + (reset_before ? hh(2) : r * hh(2)));
    *h_new = (1.f - z) * n + z * h_prev;
    return;
  }
  const float i = sigmoid(gx[j] + hh(0)), f = sigmoid(gx[H + j] + hh(1));
  const float g = tanhf(gx[2 * H + j] + hh(2)), o = sigmoid(gx[3 * H + j] + hh(3));
  *c_new = f * c_prev + i * g;
  *h_new = o * tanhf(*c_new);
}

// Sequence b's length (lengths or T) and the gx/y row of its time t.
struct StepRows {
  const RecurrentStep& p;
  int64_t b;
  __device__ int64_t length() const {
    int64_t len = p.T;
    if (p.lengths) len = p.lengths64 ? static_cast<const int64_t*>(p.lengths)[b] : static_cast<const int32_t*>(p.lengths)[b];
    return len < p.T ? len : p.T;
  }
  __device__ int64_t row(bool batch_first, int64_t t) const { return batch_first ? b * p.T + t : t * p.B + b; }
  __device__ int64_t time(int64_t len) const { return p.reverse ? len - 1 - p.step : p.step; }
};

__global__ void recurrent_step_kernel(RecurrentStep p, const float* gx, const float* gh, const float* b_hh, float* h,
                                      float* c, float* y) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= p.B * p.H) return;
  const int64_t b = i / p.H, j = i % p.H, gates = p.gru ? 3 : 4;
  const StepRows rows{p, b};
  const int64_t len = rows.length();
  if (p.step >= len) {  // past this sequence's end: keep the state, zero output
    y[rows.row(p.y_batch_first, p.step) * p.ld + p.col + j] = 0.f;
    return;
  }
  const int64_t t = rows.time(len);
  float h_new = 0.f, c_new = 0.f;
  cell(p.gru, p.reset_before, gx + rows.row(p.gx_batch_first, t) * gates * p.H, gh + b * gates * p.H, b_hh, p.H, j, h[i],
       c ? c[i] : 0.f, &h_new, &c_new);
  h[i] = h_new;
  if (c) c[i] = c_new;
  y[rows.row(p.y_batch_first, t) * p.ld + p.col + j] = h_new;
}

__global__ void reset_hidden_kernel(RecurrentStep p, const float* gx, const float* gh, const float* b_hh, const float* h,
                                    float* rh) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= p.B * p.H) return;
  const int64_t b = i / p.H, j = i % p.H;
  const StepRows rows{p, b};
  const int64_t len = rows.length();
  if (p.step >= len) {
    rh[i] = 0.f;
    return;
  }
  const float* x = gx + rows.row(p.gx_batch_first, rows.time(len)) * 3 * p.H;
  rh[i] = sigmoid(x[j] + gh[b * 3 * p.H + j] + (b_hh ? b_hh[j] : 0.f)) * h[i];
}

__global__ void cell_kernel(bool gru, const float* gx, const float* gh, const float* b_hh, const float* h, const float* c,
                            float* h_out, float* c_out, int64_t B, int64_t H) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= B * H) return;
  const int64_t b = i / H, j = i % H, gates = gru ? 3 : 4;
  float h_new = 0.f, c_new = 0.f;
  cell(gru, false, gx + b * gates * H, gh + b * gates * H, b_hh, H, j, h[i], c ? c[i] : 0.f, &h_new, &c_new);
  h_out[i] = h_new;
  if (c_out) c_out[i] = c_new;
}

}  // namespace

void recurrent_step(const RecurrentStep& p, const float* gx, const float* gh, const float* b_hh, float* h, float* c, float* y,
                    cudaStream_t stream) {
  const int64_t n = p.B * p.H;
  if (n > 0) recurrent_step_kernel<<<unsigned((n + 255) / 256), 256, 0, stream>>>(p, gx, gh, b_hh, h, c, y);
}

void gru_reset_hidden(const RecurrentStep& p, const float* gx, const float* gh, const float* b_hh, const float* h, float* rh,
                      cudaStream_t stream) {
  const int64_t n = p.B * p.H;
  if (n > 0) reset_hidden_kernel<<<unsigned((n + 255) / 256), 256, 0, stream>>>(p, gx, gh, b_hh, h, rh);
}

void cell_step(bool gru, const float* gx, const float* gh, const float* b_hh, const float* h, const float* c, float* h_out,
               float* c_out, int64_t B, int64_t H, cudaStream_t stream) {
  if (B * H > 0) cell_kernel<<<unsigned((B * H + 255) / 256), 256, 0, stream>>>(gru, gx, gh, b_hh, h, c, h_out, c_out, B, H);
}

}  // namespace heed::cuda

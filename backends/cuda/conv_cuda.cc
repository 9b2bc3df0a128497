// Conv2d (im2col of a chunk of images + one strided-batched cuBLAS GEMM per
// group, none for 1x1 convolutions; fused bias/residual/ReLU),
// ConvTranspose2d (cuBLAS + col2im),
// BatchNorm2d, Max/AvgPool2d and AdaptiveAvgPool2d on the GPU, NCHW. The
// load-time rewrites (BatchNorm folding, residual and ReLU fusion) apply as on
// the CPU, since they change the graph, not the kernels.
#include <algorithm>

#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_kernels.h"
#include "backends/cuda/cuda_util.h"
#include "engine/kernel_helpers.h"
#include "ops/conv.h"

namespace heed::cuda {
namespace {

using namespace ops::conv2d;

Window2d window(const NodeShapes& s, std::pair<int64_t, int64_t> k, std::pair<int64_t, int64_t> stride,
                std::pair<int64_t, int64_t> pad, std::pair<int64_t, int64_t> dil) {
  const Shape &x = s.in[0].shape, &y = s.out[0].shape;
  return Window2d{x[0], x[1], x[2], x[3], y[2], y[3], k.first, k.second, stride.first, stride.second,
                  pad.first, pad.second, dil.first, dil.second};
}

class ConvInvocation final : public Invocation {
 public:
  ConvInvocation(const Window2d& w, int64_t groups, bool relu, const NodeShapes& s)
      : w_(w), groups_(groups), relu_(relu), O_(s.in[kWeight].shape[0]) {
    w_.C = w.C / groups;  // im2col runs per group
    K_ = w_.C * w.kh * w.kw;
    P_ = w.OH * w.OW;
    // A 1x1 convolution with stride 1 and no padding is a GEMM on the image itself.
    pointwise_ = w.kh == 1 && w.kw == 1 && w.sh == 1 && w.sw == 1 && w.ph == 0 && w.pw == 0;
    constexpr int64_t kColFloats = int64_t(1) << 25;  // 128 MB of columns at most: images in chunks
    chunk_ = std::max<int64_t>(1, std::min<int64_t>(w.N, kColFloats / std::max<int64_t>(K_ * P_, 1)));
    if (!pointwise_) col_ = DeviceFloats(size_t(chunk_ * K_ * P_));
    bias_ = s.in.size() > kBias && s.in[kBias].present;
    residual_ = s.in.size() > kResidual && s.in[kResidual].present;
  }

  // Per chunk of images and group: im2col of every image in one launch, then
  // one strided-batched GEMM over the images (the weight shared).
  void run(const Buffers& io) override {
    const float *x = io.in_as<float>(kX), *weight = io.in_as<float>(kWeight);
    float* y = io.out_as<float>(0);
    const int64_t og = O_ / groups_, image = w_.C * groups_ * w_.H * w_.W;
    const float one = 1.f, zero = 0.f;
    if (P_ == 0 || og == 0 || K_ == 0) {
      check(cudaMemsetAsync(y, 0, size_t(w_.N * O_ * P_) * sizeof(float), stream()), "an empty convolution");
    } else {
      for (int64_t n = 0; n < w_.N; n += chunk_) {
        const int64_t images = std::min(chunk_, w_.N - n);
        for (int64_t g = 0; g < groups_; ++g) {
          const float* col = x + n * image + g * w_.C * w_.H * w_.W;
          int64_t col_stride = image;
          if (!pointwise_) {
            im2col(col, w_, images, image, col_.get(), stream());
            check_launch("im2col");
            col = col_.get(), col_stride = K_ * P_;
          }
          // Column-major: y_ng^T [P, og] = col_n^T [P, K] . W_g^T [K, og]
          check(cublasSgemmStridedBatched(cublas(), CUBLAS_OP_N, CUBLAS_OP_N, int(P_), int(og), int(K_), &one, col, int(P_),
                                          col_stride, weight + g * og * K_, int(K_), 0, &zero, y + (n * O_ + g * og) * P_,
                                          int(P_), O_ * P_, int(images)),
                "convolution GEMM");
        }
      }
    }
    if (bias_ || residual_ || relu_) {
      conv_epilogue(y, bias_ ? io.in_as<float>(kBias) : nullptr, residual_ ? io.in_as<float>(kResidual) : nullptr, w_.N,
                    O_, P_, relu_, stream());
      check_launch("convolution epilogue");
    }
  }

 private:
  Window2d w_;
  int64_t groups_;
  bool relu_, bias_ = false, residual_ = false, pointwise_ = false;
  int64_t O_, K_ = 0, P_ = 0, chunk_ = 1;
  DeviceFloats col_;
};

// ConvTranspose2d, per image and group: col [og * kh * kw, H * W] = W_g^T x_g on
// cuBLAS, then col2im gathers each output pixel's taps and adds the bias.
class ConvTransposeInvocation final : public Invocation {
 public:
  ConvTransposeInvocation(const Window2d& w, int64_t groups, const NodeShapes& s)
      : w_(w), groups_(groups), C_(w.C), bias_(present(s, 2)) {
    w_.C = s.in[1].shape[1];  // output channels per group: col2im runs per group
    K_ = w_.C * w.kh * w.kw;
    P_ = w.H * w.W;
    col_ = DeviceFloats(size_t(K_ * P_));
  }

  void run(const Buffers& io) override {
    const float *x = io.in_as<float>(0), *weight = io.in_as<float>(1), *bias = bias_ ? io.in_as<float>(2) : nullptr;
    float* y = io.out_as<float>(0);
    const int64_t cg = C_ / groups_, og = w_.C, out_plane = w_.OH * w_.OW;
    const float one = 1.f, zero = 0.f;
    for (int64_t n = 0; n < w_.N; ++n)
      for (int64_t g = 0; g < groups_; ++g) {
        if (P_ > 0)  // column-major: col^T [P, K] = x_g^T [P, cg] . W_g [cg, K]
          check(cublasSgemm(cublas(), CUBLAS_OP_N, CUBLAS_OP_T, int(P_), int(K_), int(cg), &one,
                            x + (n * C_ + g * cg) * P_, int(P_), weight + g * cg * K_, int(K_), &zero, col_.get(), int(P_)),
                "transposed convolution GEMM");
        col2im(col_.get(), w_, bias ? bias + g * og : nullptr, y + (n * groups_ + g) * og * out_plane, stream());
        check_launch("col2im");
      }
  }

 private:
  Window2d w_;
  int64_t groups_, C_, K_ = 0, P_ = 0;
  bool bias_;
  DeviceFloats col_;
};

}  // namespace

void register_conv_kernels() {
  register_kernel("Conv2d", [](const KernelInit& init) {
    const ir::Node& n = init.node;
    const auto stride = ops::hw_pair(n.attr_ints("stride")), pad = ops::hw_pair(n.attr_ints("padding")),
               dil = ops::hw_pair(n.attr_ints("dilation"));
    const int64_t groups = n.attr_int("groups");
    const bool relu = n.attr_string("activation") == "relu";
    return kernel([=](const NodeShapes& s) -> std::unique_ptr<Invocation> {
      const Shape& wt = s.in[kWeight].shape;
      return std::make_unique<ConvInvocation>(window(s, {wt[2], wt[3]}, stride, pad, dil), groups, relu, s);
    });
  });
  register_kernel("ConvTranspose2d", [](const KernelInit& init) {
    const ir::Node& n = init.node;
    const auto stride = ops::hw_pair(n.attr_ints("stride")), pad = ops::hw_pair(n.attr_ints("padding")),
               dil = ops::hw_pair(n.attr_ints("dilation"));
    const int64_t groups = n.attr_int("groups");
    return kernel([=](const NodeShapes& s) -> std::unique_ptr<Invocation> {
      const Shape& wt = s.in[1].shape;
      return std::make_unique<ConvTransposeInvocation>(window(s, {wt[2], wt[3]}, stride, pad, dil), groups, s);
    });
  });
  register_kernel("BatchNorm2d", [](const KernelInit& init) {
    const float eps = float(init.node.attr_float("epsilon"));
    return kernel([eps](const NodeShapes& s) {
      const Shape& x = s.in[0].shape;
      const int64_t N = x[0], C = x[1], P = x[2] * x[3];
      return invocation([=](const Buffers& io) {
        batch_norm(io.in_as<float>(0), io.in_as<float>(1), io.in_as<float>(2), io.in_as<float>(3), io.in_as<float>(4), eps,
                   N, C, P, io.out_as<float>(0), stream());
        check_launch("batch norm");
      });
    });
  });
  for (const char* op : {"MaxPool2d", "AvgPool2d"})
    register_kernel(op, [max = std::string(op) == "MaxPool2d"](const KernelInit& init) {
      const ir::Node& n = init.node;
      const auto k = ops::hw_pair(n.attr_ints("kernel_size"));
      const auto stride = n.attr_ints("stride").empty() ? k : ops::hw_pair(n.attr_ints("stride"));
      const auto pad = ops::hw_pair(n.attr_ints("padding"));
      const auto dilation = ops::hw_pair(n.attr_ints("dilation"));
      const bool include_pad = n.attr_int("count_include_pad");
      return kernel([=](const NodeShapes& s) {
        const Window2d w = window(s, k, stride, pad, dilation);
        return invocation([=](const Buffers& io) {
          pool2d(io.in_as<float>(0), w, max, include_pad, io.out_as<float>(0), stream());
          check_launch("pooling");
        });
      });
    });
  register_kernel("AdaptiveAvgPool2d", [](const KernelInit&) {
    return kernel([](const NodeShapes& s) {
      const Window2d w = window(s, {1, 1}, {1, 1}, {0, 0}, {1, 1});
      return invocation([=](const Buffers& io) {
        adaptive_avg_pool2d(io.in_as<float>(0), w, io.out_as<float>(0), stream());
        check_launch("adaptive average pooling");
      });
    });
  });
}

}  // namespace heed::cuda

#include "ops/all_ops.h"

namespace heed::ops {

void register_all_ops() {
  register_linear();
  register_matmul();
  register_softmax();
  register_layer_norm();
  register_gather();
  register_elementwise();
  register_views();
  register_transpose();
  register_concat_split();
  register_slice();
  register_cast();
  register_reduce();
  register_argmax_topk();
  register_attention();
  register_recurrent();
  register_conv();
  register_logical();
  register_shape_ops();
  register_scan_and_layout();
  register_conv_transpose();
  register_sdpa();
}

}  // namespace heed::ops

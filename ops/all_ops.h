#pragma once
// One registration function per op family; adding a family adds one line here
// and one in all_ops.cc.
namespace heed::ops {

void register_linear();
void register_matmul();
void register_softmax();
void register_layer_norm();
void register_gather();
void register_elementwise();
void register_views();
void register_transpose();
void register_concat_split();
void register_slice();
void register_cast();
void register_reduce();
void register_argmax_topk();
void register_attention();
void register_recurrent();
void register_conv();
void register_logical();
void register_shape_ops();
void register_scan_and_layout();
void register_conv_transpose();
void register_sdpa();

void register_all_ops();

}  // namespace heed::ops

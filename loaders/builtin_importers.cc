// The importers heed ships, in the order a directory's model_type is matched
// (and named in errors).
#include "engine/importer.h"
#include "loaders/lstm_seq2seq.h"
#include "loaders/marian.h"
#include "loaders/onnx/onnx_importer.h"
#include "loaders/pytorch_vqa.h"
#include "loaders/show_attend_tell.h"

namespace heed::detail {

void register_builtin_importers() {
  register_importer({.name = "a Hugging Face Marian checkpoint", .model_type = "marian", .import = import_marian});
  register_importer({.name = "a heed LSTM seq2seq",
                     .model_type = "heed_lstm_seq2seq", .import = import_lstm_seq2seq});
  register_importer({.name = "a Show, Attend and Tell model",
                     .model_type = "show_attend_tell", .import = import_show_attend_tell});
  register_importer({.name = "a pytorch-vqa model", .model_type = "pytorch_vqa", .import = import_pytorch_vqa});
  register_importer({.name = "an ONNX model", .suffix = ".onnx", .import = import_onnx});
}

}  // namespace heed::detail

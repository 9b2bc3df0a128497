#pragma once
// Limits on the work one input may ask of heed. A small hostile file (a PNG
// declaring 30000 x 30000 pixels, a one-megabyte line, a vocabulary id of 10^8)
// must fail fast with a one-line error, not take gigabytes and minutes first.
// The defaults are far above any real model's needs; raise them with
// set_limits() before loading when a real input needs more (docs/api.md).
#include <heed/export.h>

#include <cstdint>

namespace heed {

struct Limits {
  // Pixels of a decoded picture, and of any size a transform resizes it to
  // (Pillow's decompression-bomb threshold: 89,478,485).
  int64_t max_image_pixels = 89'478'485;
  // Bytes of one input line given to a translator; a longer line is cut (at a
  // character boundary) before tokenization, with a warning.
  int64_t max_line_bytes = 65'536;
  // Source tokens of a model with no positional limit of its own (an LSTM); a
  // Marian model's limit is its max_position_embeddings.
  int64_t max_source_tokens = 4'096;
  // Entries of a vocabulary file, and so the largest token id it may give.
  int64_t max_vocabulary_size = int64_t(1) << 24;
};

// The process-wide limits; safe to call from any thread.
HEED_API Limits limits();
HEED_API void set_limits(const Limits& limits);

}  // namespace heed

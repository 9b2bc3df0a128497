// Compiled with only include/ on the include path and no dependency targets: the
// build fails if a public header pulls in oneDNN, CUDA, fmt or JSON.
#include <heed/attention.h>
#include <heed/caption.h>
#include <heed/error.h>
#include <heed/generate.h>
#include <heed/limits.h>
#include <heed/model.h>
#include <heed/profile.h>
#include <heed/tensor.h>
#include <heed/translate.h>
#include <heed/vqa.h>

int heed_public_headers_check() { return int(sizeof(heed::Tensor) + sizeof(heed::SessionOptions)); }

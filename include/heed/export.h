#pragma once
// The library is built with hidden symbols; only what carries HEED_API is
// exported from libheed.so (the public API, and the Error type so that
// exceptions can be caught across the library boundary).
#if defined(__GNUC__) || defined(__clang__)
#define HEED_API __attribute__((visibility("default")))
#else
#define HEED_API
#endif

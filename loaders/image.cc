#include "loaders/image.h"

#include <heed/error.h>
#include <heed/limits.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <vector>

#include <fmt/format.h>
#include <jpeglib.h>
#include <png.h>
#include <unistd.h>

#include "engine/file_io.h"

namespace heed {
namespace {

// As Pillow's Image.open(path).convert("RGB"), which torchvision's pipelines use:
// palette expanded, gray replicated, alpha dropped (not blended), 16-bit samples
// cut to their high byte. 16-bit grayscale is refused: Pillow clips it to
// [0, 255] rather than scaling, so no faithful 8-bit picture exists.
// The declared size against heed::Limits, before any pixel is allocated (a
// 62-byte PNG may declare 30000 x 30000). False with `message` filled when over.
bool size_allowed(uint64_t width, uint64_t height, char (&message)[256]) {
  const int64_t limit = limits().max_image_pixels;
  if (width <= uint64_t(limit) && height <= uint64_t(limit) && width * height <= uint64_t(limit)) return true;
  std::snprintf(message, sizeof message, "%llux%llu pixels is more than the limit of %lld (heed::Limits::max_image_pixels)",
                (unsigned long long)width, (unsigned long long)height, (long long)limit);
  return false;
}

struct PngReader {
  png_structp png = nullptr;
  png_infop info = nullptr;
  char message[256] = "corrupt or truncated data";
  std::vector<png_bytep> rows;
  ~PngReader() { png_destroy_read_struct(&png, &info, nullptr); }
};

// libpng reports errors by longjmp: everything this touches after setjmp lives in
// the caller's objects, so nothing is left half-destroyed. False on an error.
bool decode_png(PngReader& r, FILE* f, Image& out) {
  if (setjmp(png_jmpbuf(r.png))) return false;
  png_init_io(r.png, f);
  png_read_info(r.png, r.info);
  if (!size_allowed(png_get_image_width(r.png, r.info), png_get_image_height(r.png, r.info), r.message))
    png_longjmp(r.png, 1);
  const int depth = png_get_bit_depth(r.png, r.info), type = png_get_color_type(r.png, r.info);
  if (depth == 16 && type == PNG_COLOR_TYPE_GRAY)
    png_error(r.png, "16-bit grayscale is not supported (convert it to 8-bit)");
  if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(r.png);
  if (type == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(r.png);
  if (!(type & PNG_COLOR_MASK_COLOR)) png_set_gray_to_rgb(r.png);
  if (depth == 16) png_set_strip_16(r.png);
  if (type & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(r.png);
  png_set_interlace_handling(r.png);
  png_read_update_info(r.png, r.info);
  out = Image(int(png_get_image_width(r.png, r.info)), int(png_get_image_height(r.png, r.info)));
  if (png_get_rowbytes(r.png, r.info) != size_t(out.width) * 3) png_error(r.png, "unexpected row layout");
  for (int y = 0; y < out.height; ++y) r.rows.push_back(out.at(0, y));
  png_read_image(r.png, r.rows.data());
  png_read_end(r.png, nullptr);
  return true;
}

// As Pillow's Image.open(path).convert("RGB"), which torchvision's pipelines use:
// palette expanded, gray replicated, alpha dropped (not blended), 16-bit samples
// cut to their high byte. 16-bit grayscale is refused: Pillow clips it to
// [0, 255] rather than scaling, so no faithful 8-bit picture exists.
Image read_png(const std::string& path) {
  std::unique_ptr<FILE, decltype(&std::fclose)> f(fdopen(open_regular_file(path), "rb"), &std::fclose);
  if (!f) throw Error(fmt::format("{}: cannot open", path));
  PngReader r;
  r.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  r.info = r.png ? png_create_info_struct(r.png) : nullptr;
  if (!r.info) throw Error(fmt::format("{}: cannot start the PNG decoder", path));
  png_set_error_fn(r.png, r.message, [](png_structp p, png_const_charp msg) {
    std::snprintf(static_cast<char*>(png_get_error_ptr(p)), 256, "%s", msg);
    png_longjmp(p, 1);
  }, [](png_structp, png_const_charp) {});
  Image out;
  if (!decode_png(r, f.get(), out)) throw Error(fmt::format("{}: cannot decode PNG: {}", path, r.message));
  return out;
}

struct JpegError {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

Image read_jpeg(const std::string& path) {
  std::unique_ptr<FILE, decltype(&std::fclose)> f(fdopen(open_regular_file(path), "rb"), &std::fclose);
  if (!f) throw Error(fmt::format("{}: cannot open", path));
  jpeg_decompress_struct cinfo;
  JpegError err;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = [](j_common_ptr c) {
    auto* e = reinterpret_cast<JpegError*>(c->err);
    (*c->err->format_message)(c, e->message);
    std::longjmp(e->jump, 1);
  };
  // A corrupt-data warning (a truncated file, say) would leave grey pixels behind
  // silently: treat it as the error it is.
  err.mgr.emit_message = [](j_common_ptr c, int level) {
    if (level < 0) c->err->error_exit(c);
  };
  err.mgr.output_message = [](j_common_ptr) {};
  Image out;
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    throw Error(fmt::format("{}: cannot decode JPEG: {}", path, err.message));
  }
  jpeg_create_decompress(&cinfo);
  jpeg_stdio_src(&cinfo, f.get());
  jpeg_read_header(&cinfo, TRUE);
  char too_large[256];
  if (!size_allowed(cinfo.image_width, cinfo.image_height, too_large)) {
    jpeg_destroy_decompress(&cinfo);
    throw Error(fmt::format("{}: cannot decode JPEG: {}", path, too_large));
  }
  cinfo.out_color_space = JCS_RGB;
  jpeg_start_decompress(&cinfo);
  out = Image(int(cinfo.output_width), int(cinfo.output_height));
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = out.at(0, int(cinfo.output_scanline));
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return out;
}

}  // namespace

Image read_image(const std::string& path) {
  unsigned char sig[8] = {};
  int fd = open_regular_file(path);
  const ssize_t got = ::read(fd, sig, 8);
  ::close(fd);
  if (got == 8 && png_sig_cmp(sig, 0, 8) == 0) return read_png(path);
  if (got >= 3 && sig[0] == 0xff && sig[1] == 0xd8 && sig[2] == 0xff) return read_jpeg(path);
  throw Error(fmt::format("{}: not a PNG or JPEG file", path));
}

std::string encode_png(const Image& image) {
  png_image img;
  std::memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  img.width = png_uint_32(image.width);
  img.height = png_uint_32(image.height);
  img.format = PNG_FORMAT_RGB;
  png_alloc_size_t size = 0;
  if (!png_image_write_to_memory(&img, nullptr, &size, 0, image.rgb.data(), 0, nullptr))
    throw Error(fmt::format("cannot encode PNG: {}", img.message));
  std::string bytes(size, '\0');
  if (!png_image_write_to_memory(&img, bytes.data(), &size, 0, image.rgb.data(), 0, nullptr))
    throw Error(fmt::format("cannot encode PNG: {}", img.message));
  bytes.resize(size);
  return bytes;
}

void write_png(const std::string& path, const Image& image) { write_file_atomically(path, encode_png(image)); }

}  // namespace heed

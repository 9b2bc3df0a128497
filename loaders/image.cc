#include "loaders/image.h"

#include <heed/error.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>

#include <fmt/format.h>
#include <jpeglib.h>
#include <png.h>

namespace heed {
namespace {

Image read_png(const std::string& path) {
  png_image img;
  std::memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&img, path.c_str()))
    throw Error(fmt::format("{}: cannot read PNG: {}", path, img.message));
  img.format = PNG_FORMAT_RGB;
  Image out(int(img.width), int(img.height));
  png_color white{255, 255, 255};
  if (!png_image_finish_read(&img, &white, out.rgb.data(), 0, nullptr)) {
    std::string msg = img.message;
    png_image_free(&img);
    throw Error(fmt::format("{}: cannot decode PNG: {}", path, msg));
  }
  return out;
}

struct JpegError {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

Image read_jpeg(const std::string& path) {
  std::unique_ptr<FILE, decltype(&std::fclose)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
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
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(fmt::format("{}: cannot open", path));
  unsigned char sig[8] = {};
  f.read(reinterpret_cast<char*>(sig), 8);
  if (f.gcount() == 8 && png_sig_cmp(sig, 0, 8) == 0) return read_png(path);
  if (f.gcount() >= 3 && sig[0] == 0xff && sig[1] == 0xd8 && sig[2] == 0xff) return read_jpeg(path);
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

void write_png(const std::string& path, const Image& image) {
  std::string bytes = encode_png(image);
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), std::streamsize(bytes.size()));
  if (!f) throw Error(fmt::format("{}: cannot write", path));
}

}  // namespace heed

// Heatmap rendering and image I/O: the pictures put each weight in its cell with
// the colour scale's ends at 0 and the maximum; images round-trip through libpng;
// unreadable files are refused with one line naming them.
#include <heed/attention.h>
#include <heed/error.h>

#include <cstring>

#include "loaders/image.h"
#include "tests/test_util.h"
#include "viz/heatmap.h"

namespace heed {
namespace {

Tensor weights_bhts() {  // [2, 2, 3, 4]: one-hot rows, head h of batch b looks at key (t + b + h) % 4
  Tensor w = Tensor::zeros(DType::f32, {2, 2, 3, 4});
  for (int b = 0; b < 2; ++b)
    for (int h = 0; h < 2; ++h)
      for (int t = 0; t < 3; ++t) w.data_as<float>()[((b * 2 + h) * 3 + t) * 4 + (t + b + h) % 4] = 1.f;
  return w;
}

TEST(Viz, SplitsHeadsAndAveragesThem) {
  auto maps = viz::split_attention("dec.0.cross", weights_bhts(), {"a", "b", "c"}, {"w", "x", "y", "z"});
  ASSERT_EQ(maps.size(), 6u);  // per batch item: 2 heads + their mean
  EXPECT_EQ(maps[0].title, "dec.0.cross: head 0, batch 0");
  EXPECT_EQ(maps[2].title, "dec.0.cross: mean of 2 heads, batch 0");
  EXPECT_EQ(maps[2].weights[0], 0.5f);  // t=0: head 0 at key 0, head 1 at key 1
  EXPECT_EQ(maps[2].weights[1], 0.5f);
  EXPECT_EQ(maps[0].col_labels[3], "z");
  // An axis whose length differs from the tokens (a local attention window) gets positions.
  auto band = viz::split_attention("local", Tensor::zeros(DType::f32, {1, 3, 5}), {"a", "b", "c"}, {"w", "x"});
  EXPECT_EQ(band[0].col_labels[4], "4");
  EXPECT_EQ(band[0].row_labels[2], "c");
  EXPECT_THROW(viz::split_attention("bad", Tensor::zeros(DType::f32, {7}), {}, {}), Error);
}

TEST(Viz, HeatmapCellsCarryTheirWeights) {
  auto maps = viz::split_attention("m", weights_bhts(), {}, {});
  Image img = viz::render_heatmap(maps[0]);
  uint8_t hot[3], cold[3];
  viz::viridis(1.f, hot);
  viz::viridis(0.f, cold);
  // Find the grid: the map's bottom-right cell ends 8 px from the image's corner.
  int cell = std::clamp(640 / 4, 4, 32), x0 = img.width - 8 - 4 * cell, y0 = img.height - 8 - 3 * cell;
  for (int t = 0; t < 3; ++t)
    for (int s = 0; s < 4; ++s) {
      const uint8_t* p = img.at(x0 + s * cell + cell / 2, y0 + t * cell + cell / 2);
      const uint8_t* want = s == t % 4 ? hot : cold;
      EXPECT_EQ(std::memcmp(p, want, 3), 0) << "cell " << t << "," << s;
    }
}

TEST(Viz, PngRoundTripAndOverlaySize) {
  Image img(5, 3);
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 5; ++x) img.at(x, y)[0] = uint8_t(x * 40), img.at(x, y)[1] = uint8_t(y * 80), img.at(x, y)[2] = 7;
  std::string path = test::temp_dir() + "/img.png";
  write_png(path, img);
  Image back = read_image(path);
  ASSERT_EQ(back.width, 5);
  ASSERT_EQ(back.height, 3);
  EXPECT_EQ(back.rgb, img.rgb);
  viz::AttentionMap map{"m", 1, 4, {0.1f, 0.2f, 0.3f, 0.4f}, {"q"}, {"a", "b", "c", "d"}};
  Image overlay = viz::render_overlay(back, map, 0, 2, 2, 100);
  EXPECT_EQ(overlay.width, 100);
  EXPECT_EQ(overlay.height, 60);
  EXPECT_THROW(viz::render_overlay(back, map, 0, 3, 3, 100), Error);
}

TEST(Viz, UnreadableImagesAreRefusedNamingTheFile) {
  std::string dir = test::temp_dir();
  Image img(4, 4);
  write_png(dir + "/ok.png", img);
  std::string png = encode_png(img);
  struct Bad {
    std::string name, bytes, error;
  } cases[] = {{"text.png", "hello, world", "not a PNG or JPEG file"},
               {"truncated.png", png.substr(0, png.size() / 2), "PNG: "},
               {"truncated.jpg", std::string("\xff\xd8\xff\xe0", 4) + std::string(20, '\0'), "cannot decode JPEG"}};
  for (const Bad& b : cases) {
    std::string path = test::write_file(dir, b.name, b.bytes);
    try {
      read_image(path);
      ADD_FAILURE() << b.name;
    } catch (const Error& e) {
      std::string msg = e.what();
      EXPECT_NE(msg.find(b.error), std::string::npos) << msg;
      EXPECT_EQ(msg.rfind(path, 0), 0u) << msg;
    }
  }
  EXPECT_THROW(read_image(dir + "/missing.png"), Error);
}

// The public drawing API: a heatmap per figure, the picture and one overlay per
// row for a figure over an image; sizes that disagree are refused naming the figure.
TEST(Viz, AttentionHtmlDrawsEachFigure) {
  auto count_images = [](const std::string& html) {
    size_t n = 0;
    for (size_t at = html.find("<img"); at != std::string::npos; at = html.find("<img", at + 1)) ++n;
    return n;
  };
  std::vector<AttentionFigure> figures = attention_figures("cross", weights_bhts(), {"a", "b", "c"});
  ASSERT_EQ(figures.size(), 6u);
  EXPECT_EQ(figures[2].title, "cross: mean of 2 heads, batch 0");
  EXPECT_EQ(figures[0].row_labels[2], "c");
  EXPECT_EQ(figures[0].col_labels[3], "3");  // no source tokens: positions
  EXPECT_EQ(count_images(attention_html("t", figures)), 6u);

  AttentionFigure over{"over the picture", 2, 4, std::vector<float>(8, 0.25f), {"w1", "w2"}, {},
                       test::fixture("images/rgb.png"), 2, 2};
  EXPECT_EQ(count_images(attention_html("t", {over})), 3u);  // the picture, then one per row

  AttentionFigure bad{"short", 2, 3, std::vector<float>(5, 0.f)};
  EXPECT_TRUE(test::throws_error_with([&] { attention_html("t", {bad}); }, "attention figure 'short': 2 x 3 needs 6 weights, got 5"));
  over.grid_width = 3;
  EXPECT_TRUE(test::throws_error_with([&] { attention_html("t", {over}); }, "a 2x3 grid over the image does not cover its 4 columns"));
  over.grid_width = 2;
  over.image = "/nonexistent.png";
  EXPECT_TRUE(test::throws_error_with([&] { attention_html("t", {over}); }, "/nonexistent.png"));
  AttentionFigure labels{"labels", 1, 2, {0.5f, 0.5f}, {"a", "b"}};
  EXPECT_TRUE(test::throws_error_with([&] { attention_html("t", {labels}); }, "2 row labels for 1 rows"));
}

}  // namespace
}  // namespace heed

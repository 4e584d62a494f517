#pragma once
// What every headless screenshot of the viewer must be: a PNG of the window's size, and far
// from blank (a frame that drew nothing is one or two colours).
#include <gtest/gtest.h>
#include <stb_image.h>

#include <cstdint>
#include <set>
#include <string>

namespace socklab::test {

inline void expect_screenshot(const std::string& png, int width, int height) {
    int w = 0, h = 0, ch = 0;
    unsigned char* px = stbi_load(png.c_str(), &w, &h, &ch, 3);
    ASSERT_NE(px, nullptr) << png << " is not a readable PNG";
    EXPECT_EQ(w, width);
    EXPECT_EQ(h, height);
    std::set<std::uint32_t> colours;
    for (int i = 0; i < w * h; i += 7)
        colours.insert(static_cast<std::uint32_t>(px[3 * i] << 16 | px[3 * i + 1] << 8 | px[3 * i + 2]));
    stbi_image_free(px);
    EXPECT_GT(colours.size(), 50u) << "the screenshot " << png << " is (nearly) blank";
}

}  // namespace socklab::test

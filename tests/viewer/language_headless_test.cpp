// The viewer in Korean, headless: --dump-state names the language and the fonts in the atlas
// (the Korean one being the file fontconfig itself gives for :lang=ko, asked through fc-match),
// the state diagram's labels as drawn with the real fonts touch no box, no other arrow and no
// other label in English and in Korean, and without a Korean font the viewer says so in one
// line and carries on. Also: the language can be changed while running (the Language menu
// calls socklab::i18n::init again).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "socklab/i18n.hpp"
#include "testsupport.hpp"
#include "xvfb.hpp"

namespace socklab {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using test::TempDir;

std::vector<std::string> viewer(std::vector<std::string> args, std::vector<std::string> env = {}) {
    args.insert(args.begin(), test::bin("socklab-viewer"));
    env.insert(env.begin(), "env");
    env.insert(env.end(), args.begin(), args.end());
    return test::xvfb_run(env);
}

nlohmann::json dump(const TempDir& dir, const std::vector<std::string>& args,
                    const std::vector<std::string>& env = {}, std::string* err = nullptr) {
    const auto file = (dir.path / "state.json").string();
    std::vector<std::string> a{"--no-trace", "--synthetic", "20", "--frames", "2", "--dump-state", file};
    a.insert(a.end(), args.begin(), args.end());
    const auto r = test::run_command(viewer(a, env), {}, 120s);
    EXPECT_EQ(r.exit_code, 0) << r.err << r.out;
    if (err != nullptr) *err = r.err;
    std::ifstream in(file);
    return nlohmann::json::parse(in);
}

bool overlaps(const nlohmann::json& a, const nlohmann::json& b) {
    return a[0].get<double>() < b[2].get<double>() && b[0].get<double>() < a[2].get<double>() &&
           a[1].get<double>() < b[3].get<double>() && b[1].get<double>() < a[3].get<double>();
}

// Does the segment p-q cross the rectangle r (x0, y0, x1, y1)? Sampled finely enough for
// pixels: a hundred points along the arrow.
bool crosses(const nlohmann::json& p, const nlohmann::json& q, const nlohmann::json& r) {
    for (int i = 0; i <= 100; ++i) {
        const double t = i / 100.0;
        const double x = p[0].get<double>() + (q[0].get<double>() - p[0].get<double>()) * t;
        const double y = p[1].get<double>() + (q[1].get<double>() - p[1].get<double>()) * t;
        if (x > r[0].get<double>() && x < r[2].get<double>() && y > r[1].get<double>() && y < r[3].get<double>())
            return true;
    }
    return false;
}

void expect_diagram_clear(const nlohmann::json& j, const std::string& lang) {
    const auto& layout = j.at("panels").at("diagram").at("layout");
    const auto& boxes = layout.at("boxes");
    const auto& edges = layout.at("edges");
    ASSERT_EQ(edges.size(), 19u);
    for (std::size_t i = 0; i < edges.size(); ++i) {
        const auto& e = edges[i];
        const std::string name = lang + ": '" + e.at("label").get<std::string>() + "'";
        const auto& r = e.at("label_rect");
        EXPECT_TRUE(e.at("clear").get<bool>()) << name;
        for (const auto& b : boxes) EXPECT_FALSE(overlaps(r, b)) << name << " covers a state box";
        for (std::size_t k = 0; k < edges.size(); ++k) {
            if (k != i) {
                EXPECT_FALSE(crosses(edges[k].at("from"), edges[k].at("to"), r))
                    << name << " covers the arrow of '" << edges[k].at("label").get<std::string>() << "'";
            }
            if (k > i) {
                EXPECT_FALSE(overlaps(r, edges[k].at("label_rect")))
                    << name << " covers '" << edges[k].at("label").get<std::string>() << "'";
            }
        }
    }
}

TEST(ViewerLanguage, KoreanDumpNamesLanguageFontsAndKeepsTheDiagramClear) {
    if (!test::have_program("xvfb-run")) GTEST_SKIP() << "xvfb-run is not installed (apt install xvfb)";
    if (!test::have_program("fc-match")) GTEST_SKIP() << "fc-match is not installed (apt install fontconfig)";
    // The oracle: the file fontconfig's own tool picks for Korean.
    const auto fc = test::run_command({"fc-match", "-f", "%{file}", ":lang=ko"});
    ASSERT_EQ(fc.exit_code, 0) << fc.err;
    ASSERT_NE(fc.out.find("CJK"), std::string::npos)
        << "fontconfig has no CJK font for Korean here (apt install fonts-noto-cjk): " << fc.out;

    TempDir dir;
    const auto en = dump(dir, {"--lang", "en"});
    EXPECT_EQ(en.at("language"), "en");
    expect_diagram_clear(en, "en");

    const auto ko = dump(dir, {"--lang", "ko"});
    EXPECT_EQ(ko.at("language"), "ko");
    bool has_cjk = false;
    for (const auto& f : ko.at("fonts")) {
        const auto file = f.get<std::string>().substr(0, f.get<std::string>().find('#'));
        EXPECT_TRUE(fs::exists(file)) << file;
        if (file == fc.out) has_cjk = true;
    }
    EXPECT_TRUE(has_cjk) << "the atlas lacks " << fc.out << ": " << ko.at("fonts").dump();
    EXPECT_GT(ko.at("font_atlas").at("glyphs").get<int>(), 2 * 11172) << "every Hangul syllable, at both sizes";
    // The labels are the catalogue's Korean (built into <build>/share/locale from po/).
    const auto& edges = ko.at("panels").at("diagram").at("layout").at("edges");
    EXPECT_NE(edges[2].at("label").get<std::string>().find("수신"), std::string::npos)
        << "no Korean catalogue next to the build's programs (share/locale/ko): " << edges[2].dump();
    expect_diagram_clear(ko, "ko");
}

TEST(ViewerLanguage, WithoutAKoreanFontOneLineAndALatinUi) {
    if (!test::have_program("xvfb-run")) GTEST_SKIP() << "xvfb-run is not installed (apt install xvfb)";
    TempDir dir;
    // A fontconfig that knows DejaVu only.
    const auto conf = dir.path / "fonts.conf";
    std::ofstream(conf) << "<?xml version=\"1.0\"?>\n<!DOCTYPE fontconfig SYSTEM \"fonts.dtd\">\n"
                           "<fontconfig><dir>/usr/share/fonts/truetype/dejavu</dir><cachedir>"
                        << (dir.path / "cache").string() << "</cachedir></fontconfig>\n";
    std::string err;
    const auto j = dump(dir, {"--lang", "en"}, {"FONTCONFIG_FILE=" + conf.string()}, &err);
    EXPECT_EQ(j.at("fonts").size(), 1u) << j.at("fonts").dump();
    EXPECT_EQ(err, "socklab-viewer: no Korean font: fontconfig knows no font for Korean (:lang=ko); install "
                   "fonts-noto-cjk; the UI stays in Latin letters and Hangul shows as '?'\n");
}

// socklab::i18n::init() may be called again: Korean, English, Korean, each takes effect.
TEST(ViewerLanguage, SwitchesLanguageLive) {
    ASSERT_TRUE(i18n::init("ko"));
    const std::string ko = _("Socket table");
    ASSERT_TRUE(i18n::init("en"));
    const std::string en = _("Socket table");
    ASSERT_TRUE(i18n::init("ko"));
    const std::string ko_again = _("Socket table");
    EXPECT_EQ(en, "Socket table");
    EXPECT_EQ(ko, "소켓 테이블") << "no Korean catalogue next to the test programs (share/locale/ko)";
    EXPECT_EQ(ko_again, ko);
    EXPECT_EQ(i18n::language(), "ko");
    ASSERT_TRUE(i18n::init("en"));
}

}  // namespace
}  // namespace socklab

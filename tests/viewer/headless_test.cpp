// socklab-viewer itself, headless under xvfb-run: with a listener of ours and a lab running,
// --dump-state must show their sockets and states, and the screenshot must be a real picture.
// Also: no display gives one line and exit 1; bad options give one line and exit 2.
#include <gtest/gtest.h>
#include <stb_image.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "testsupport.hpp"

namespace socklab {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

bool have(const char* prog) { return test::run_command({"which", prog}, {}, 10s).exit_code == 0; }

struct TempDir {
    fs::path path;
    TempDir() {
        char tmpl[] = "/tmp/socklab-viewer-test-XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

std::vector<std::string> under_xvfb(std::vector<std::string> args) {
    std::vector<std::string> argv{"xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", test::bin("socklab-viewer")};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
}

TEST(ViewerHeadless, ShowsOurListenerAndTheLabsSocketsAndWritesAPicture) {
    if (!have("xvfb-run")) GTEST_SKIP() << "xvfb-run is not installed (apt install xvfb)";
    TempDir dir;
    auto listener = test::tcp_listen("127.0.0.1", 0);
    const auto port = test::local_port(listener.get());
    auto client = test::tcp_connect("127.0.0.1", port);
    auto server = test::tcp_accept(listener.get());
    const auto cport = test::local_port(client.get());

    const auto png = (dir.path / "shot.png").string();
    const auto dump = (dir.path / "state.json").string();
    const auto r = test::run_command(
        under_xvfb({"--socklab", SOCKLAB_FAKE_LAB, "--lab", "demo", "--lab-steps", "2",
                    "--screenshot", png, "--frames", "4", "--dump-state", dump, "--interval", "200"}),
        {}, 120s);
    ASSERT_EQ(r.exit_code, 0) << r.err << r.out;

    std::ifstream in(dump);
    const auto j = nlohmann::json::parse(in);
    const auto& panels = j.at("panels");
    // Table: our three sockets, their states, our pid; the ends paired.
    const auto& rows = panels.at("table").at("rows");
    auto find = [&](std::uint16_t l, std::uint16_t rp) -> const nlohmann::json* {
        for (const auto& row : rows)
            if (row.at("local_port") == l && row.at("remote_port") == rp) return &row;
        return nullptr;
    };
    const auto* lrow = find(port, 0);
    ASSERT_NE(lrow, nullptr) << "our listener is not in the table";
    EXPECT_EQ(lrow->at("state"), "LISTEN");
    EXPECT_EQ(lrow->at("pid"), ::getpid());
    const auto* srow = find(port, cport);
    ASSERT_NE(srow, nullptr);
    EXPECT_EQ(srow->at("state"), "ESTABLISHED");
    EXPECT_EQ(srow->at("peer"), "127.0.0.1:" + std::to_string(cport));

    // The lab ran two steps: its listener and its connection are there, marked as the lab's.
    const auto& lab = panels.at("labs");
    EXPECT_EQ(lab.at("lab"), "demo");
    EXPECT_EQ(lab.at("step").at("step"), 2);
    EXPECT_EQ(lab.at("observed").at("ok"), true);
    const int lab_port = lab.at("port");
    ASSERT_NE(lab_port, 0);
    std::set<std::string> lab_states;
    for (const auto& row : rows)
        if (row.at("lab") == true) lab_states.insert(row.at("state").get<std::string>());
    EXPECT_TRUE(lab_states.contains("LISTEN"));
    EXPECT_TRUE(lab_states.contains("ESTABLISHED"));
    // Diagram counts include ours.
    const auto& counts = panels.at("diagram").at("counts");
    EXPECT_GE(counts.at("LISTEN").get<int>(), 2);
    EXPECT_GE(counts.at("ESTABLISHED").get<int>(), 4);
    // Status bar.
    EXPECT_GE(panels.at("status").at("sockets").get<int>(), 6);
    EXPECT_EQ(panels.at("status").at("root"), test::is_root());

    // The picture: the window's size, and far from blank.
    int w = 0, h = 0, ch = 0;
    unsigned char* px = stbi_load(png.c_str(), &w, &h, &ch, 3);
    ASSERT_NE(px, nullptr) << "not a readable PNG";
    EXPECT_EQ(w, 1600);
    EXPECT_EQ(h, 1000);
    std::set<std::uint32_t> colours;
    for (int i = 0; i < w * h; i += 7)
        colours.insert(static_cast<std::uint32_t>(px[3 * i] << 16 | px[3 * i + 1] << 8 | px[3 * i + 2]));
    stbi_image_free(px);
    EXPECT_GT(colours.size(), 50u) << "the screenshot is (nearly) blank";
}

TEST(ViewerHeadless, WithoutADisplayItSaysSoInOneLine) {
    const auto r = test::run_command({"env", "-u", "DISPLAY", "-u", "WAYLAND_DISPLAY",
                                      test::bin("socklab-viewer"), "--screenshot", "/tmp/never.png"},
                                     {}, 30s);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("no display"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("xvfb-run"), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_FALSE(fs::exists("/tmp/never.png"));
}

TEST(ViewerHeadless, BadOptionsAreOneLineAndExitTwo) {
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"--interval", "5"}, {"--size", "huge"}, {"--frames", "-1"}, {"--bench-out", "x.json"},
             {"--no-such-option"}}) {
        std::vector<std::string> argv{test::bin("socklab-viewer")};
        argv.insert(argv.end(), args.begin(), args.end());
        const auto r = test::run_command(argv, {}, 30s);
        EXPECT_EQ(r.exit_code, 2) << args[0] << ": " << r.err;
        EXPECT_FALSE(r.err.empty()) << args[0];
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << args[0] << ": " << r.err;
    }
}

}  // namespace
}  // namespace socklab

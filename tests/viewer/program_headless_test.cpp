// `socklab-viewer -- CMD` headless under xvfb-run (root: the tracer; a network namespace of its
// own for the fixed port): the viewer runs a server (its own client) that leaks one CLOSE_WAIT
// and exits, draws until the final report is in, and the dump and the screenshot show the
// Your program panel with the leak (the program's pid and fd), its output, a table filtered
// to its sockets, and the ladder of its connection from the SYN on.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "screenshot_check.hpp"
#include "testsupport.hpp"
#include "xvfb.hpp"

namespace socklab {
namespace {

using namespace std::chrono_literals;

constexpr std::uint16_t kPort = 9324;

TEST(ViewerProgramHeadless, ThePanelShowsTheFinalReportAndTheTableOnlyTheProgramsSockets) {
    if (!test::have_program("xvfb-run")) GTEST_SKIP() << "xvfb-run is not installed (apt install xvfb)";
    SOCKLAB_REQUIRE_ROOT();
    test::PrivateNetns netns;
    test::TempDir dir;
    const auto png = (dir.path / "program.png").string();
    const auto dump = (dir.path / "state.json").string();
    auto other = test::tcp_listen("127.0.0.1", kPort + 1);  // another process, another port
    const auto r = test::run_command(
        test::xvfb_run({test::bin("socklab-viewer"), "--screenshot", png, "--dump-state", dump, "--frames", "5",
                        "--interval", "200", "--", "/usr/bin/python3", SOCKLAB_VIEWER_PROGRAMS "/leaky_once.py",
                        std::to_string(kPort)}),
        {}, 120s);
    ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
    std::ifstream in(dump);
    const auto j = nlohmann::json::parse(in);
    const auto& p = j.at("panels").at("program");
    ASSERT_EQ(p.at("finished"), true) << p.dump(2);
    EXPECT_EQ(p.at("exit_code"), 0);
    EXPECT_EQ(p.at("scope"), true);
    const int pid = p.at("pid");
    ASSERT_GT(pid, 0);
    const nlohmann::json* leak = nullptr;
    for (const auto& f : p.at("findings"))
        if (f.at("kind") == "close_wait_leak") leak = &f;
    ASSERT_NE(leak, nullptr) << p.dump(2);
    EXPECT_EQ(leak->at("pid"), pid);
    EXPECT_GE(leak->at("fd").get<int>(), 3);
    EXPECT_EQ(leak->at("local_port"), kPort);
    EXPECT_NE(p.at("output_tail").get<std::string>().find("leaving without close()"), std::string::npos) << p.dump(2);
    const auto log = p.at("output_path").get<std::string>();
    EXPECT_TRUE(std::filesystem::exists(log));
    std::filesystem::remove(log);
    // The program is its own client too: both ends of its connection are its sockets; the
    // listener of this test process on the next port is not.
    for (const auto& row : j.at("panels").at("table").at("rows"))
        EXPECT_TRUE(row.at("local_port") == kPort || row.at("remote_port") == kPort)
            << "a socket that is not the program's: " << row.dump();
    // The ladder follows the program's connection, captured from its handshake.
    const auto& ladder = j.at("panels").at("ladder");
    EXPECT_EQ(ladder.at("server"), "127.0.0.1:" + std::to_string(kPort)) << ladder.dump(2);
    // Its first arrow is the client's SYN; before it only the client's SYN_SENT badge and the
    // program's own calls that set the connection up (socket(), connect(), ...).
    const nlohmann::json* first_arrow = nullptr;
    for (const auto& row : ladder.at("rows")) {
        if (row.at("kind") == "arrow") {
            first_arrow = &row;
            break;
        }
        EXPECT_TRUE((row.at("kind") == "badge" && row.at("label") == "SYN_SENT" && row.at("side") == "client") ||
                    row.at("kind") == "call")
            << "before the SYN: " << row.dump();
    }
    ASSERT_NE(first_arrow, nullptr) << ladder.dump(2);
    EXPECT_EQ(first_arrow->at("flags"), nlohmann::json::array({"SYN"})) << ladder.dump(2);
    test::expect_screenshot(png, 1600, 1000);
}

}  // namespace
}  // namespace socklab

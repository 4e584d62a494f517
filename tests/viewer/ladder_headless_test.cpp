// The Ladder panel of the real viewer, headless under xvfb-run: lab 5 (active-close) runs its
// four steps with --ladder on its port; --dump-state must hold the connection's whole ladder
// as the kernel made it — SYN, SYN-ACK, ACK, ..., FIN, ACK, FIN, ACK — with each side's state
// badges between the right arrows, and the screenshot must be a real 1600x1000 picture.
// Without CAP_NET_RAW the panel says what is missing in one line.
#include <netinet/in.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "prepare.hpp"
#include "screenshot_check.hpp"
#include "testsupport.hpp"
#include "xvfb.hpp"

namespace socklab {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::vector<std::string> viewer(std::vector<std::string> args) {
    args.insert(args.begin(), test::bin("socklab-viewer"));
    return test::xvfb_run(args);
}

// A port nobody listens on now (the kernel's pick for a socket closed at once).
std::uint16_t free_port() {
    auto l = test::tcp_listen("127.0.0.1", 0);
    return test::local_port(l.get());
}

nlohmann::json ladder_of(const fs::path& dump) {
    std::ifstream in(dump);
    auto j = nlohmann::json::parse(in, nullptr, false);
    if (j.is_discarded()) return nlohmann::json::object();
    return j.value("panels", nlohmann::json::object()).value("ladder", nlohmann::json::object());
}

struct Mark {
    std::string kind, side, label;
    std::vector<std::string> flags;
};

std::string flags_of(const Mark& m) {
    std::string s;
    for (const auto& f : m.flags) s += (s.empty() ? "" : "+") + f;
    return s;
}

TEST(LadderHeadless, ALabsConnectionIsDrawnSegmentBySegmentWithTheStatesBetween) {
    if (!test::have_program("xvfb-run")) GTEST_SKIP() << "xvfb-run is not installed (apt install xvfb)";
    SOCKLAB_REQUIRE_ROOT();  // capturing needs CAP_NET_RAW, the badges the tracer
    test::TempDir dir;
    const auto port = std::to_string(free_port());
    const auto png = dir.path / "ladder.png";
    const auto dump = dir.path / "state.json";
    const auto r = test::run_command(
        viewer({"--lab", "active-close", "--lab-port", port, "--lab-steps", "4", "--ladder", port,
                "--screenshot", png.string(), "--dump-state", dump.string(), "--interval", "200"}),
        {}, 120s);
    ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
    const auto ladder = ladder_of(dump);
    ASSERT_EQ(ladder.value("capture_active", false), true) << ladder.dump();
    EXPECT_EQ(ladder.value("segments_lost", 1), 0);
    ASSERT_EQ(ladder.value("phase", ""), "ended") << ladder.dump(1);
    EXPECT_EQ(ladder.at("server"), "127.0.0.1:" + port);

    std::vector<Mark> marks;
    for (const auto& row : ladder.at("rows")) {
        Mark m{row.at("kind"), row.value("side", ""), row.at("label"), {}};
        if (row.contains("flags")) m.flags = row.at("flags").get<std::vector<std::string>>();
        marks.push_back(std::move(m));
    }
    std::vector<std::size_t> arrows;
    for (std::size_t i = 0; i < marks.size(); ++i)
        if (marks[i].kind == "arrow") arrows.push_back(i);
    ASSERT_GE(arrows.size(), 7u) << ladder.dump(1);
    const auto& a = arrows;
    const auto n = a.size();
    auto arrow = [&](std::size_t k) { return marks[a[k]].side + " " + flags_of(marks[a[k]]); };
    // The handshake opens it, the four-segment close ends it (RFC 9293 figures 6 and 12);
    // nothing but acknowledgements and data between them.
    EXPECT_EQ(arrow(0), "client SYN");
    EXPECT_EQ(arrow(1), "server SYN+ACK");
    EXPECT_EQ(arrow(2), "client ACK");
    EXPECT_EQ(arrow(n - 4), "client ACK+FIN");
    EXPECT_EQ(arrow(n - 3), "server ACK");
    EXPECT_EQ(arrow(n - 2), "server ACK+FIN");
    EXPECT_EQ(arrow(n - 1), "client ACK");
    for (std::size_t k = 3; k + 4 < n; ++k) EXPECT_EQ(marks[a[k]].flags.front(), "ACK") << arrow(k);
    // Relative numbers as tshark shows them.
    EXPECT_EQ(marks[a[0]].label, "SYN seq 0");
    EXPECT_EQ(marks[a[1]].label, "SYN-ACK seq 0 ack 1");
    EXPECT_EQ(marks[a[2]].label, "ACK seq 1 ack 1");

    // Each state change on its side, between the segments that cause it.
    auto badge = [&](const std::string& side, const std::string& state) -> std::size_t {
        for (std::size_t i = 0; i < marks.size(); ++i)
            if (marks[i].kind == "badge" && marks[i].side == side && marks[i].label == state) return i;
        ADD_FAILURE() << "no " << state << " badge on the " << side << " side: " << ladder.dump(1);
        return 0;
    };
    auto between = [&](std::size_t i, std::size_t lo, std::size_t hi, const char* what) {
        EXPECT_TRUE(lo < i && i < hi) << what << " at row " << i << ", expected between rows " << lo
                                      << " and " << hi << ": " << ladder.dump(1);
    };
    // connect(): SYN_SENT, then its SYN leaves (the traced event had no local port yet).
    EXPECT_LT(badge("client", "SYN_SENT"), a[0]) << "client SYN_SENT before its SYN: " << ladder.dump(1);
    between(badge("client", "ESTABLISHED"), a[1], a[2], "client ESTABLISHED (SYN-ACK in, ACK out)");
    between(badge("server", "ESTABLISHED"), a[2], a[n - 4], "server ESTABLISHED (the ACK in)");
    between(badge("client", "FIN_WAIT1"), a[2], a[n - 4], "client FIN_WAIT1 (close, then its FIN)");
    between(badge("server", "CLOSE_WAIT"), a[n - 4], a[n - 3], "server CLOSE_WAIT (FIN in, ACK out)");
    between(badge("client", "FIN_WAIT2"), a[n - 3], a[n - 2], "client FIN_WAIT2 (its FIN acknowledged)");
    between(badge("server", "LAST_ACK"), a[n - 3], a[n - 2], "server LAST_ACK (close, then its FIN)");
    // The client's program has closed its socket: in FIN_WAIT2 the kernel hands the connection
    // to a timewait socket and frees the full one, whose CLOSE is what the tracepoint reports
    // (the timewait socket's TIME_WAIT is not traced; the table shows it).
    const auto handover = badge("client", "CLOSE");
    between(handover, a[n - 3], a[n - 2], "client CLOSE (timewait socket takes over)");
    EXPECT_EQ(ladder.at("rows").at(handover).value("from", ""), "FIN_WAIT2");
    EXPECT_EQ(ladder.at("rows").at(handover).value("note", ""), "timewait socket takes over");
    EXPECT_GT(badge("server", "CLOSE"), a[n - 1]) << "server CLOSE after the last ACK";
    // The heads name the server's process (the lab's, from the socket table).
    EXPECT_NE(ladder.value("server_process", "").find("["), std::string::npos) << ladder.dump();

    test::expect_screenshot(png, 1600, 1000);
}

// As uid 65534: no capture. The panel says so in one line, naming what is missing, and the
// rest of the viewer runs.
TEST(LadderHeadless, WithoutCapNetRawThePanelSaysWhatIsMissing) {
    if (!test::have_program("xvfb-run")) GTEST_SKIP() << "xvfb-run is not installed (apt install xvfb)";
    SOCKLAB_REQUIRE_ROOT();  // to become uid 65534
    test::TempDir dir;
    fs::permissions(dir.path, fs::perms::all);
    const auto dump = dir.path / "state.json";
    const auto r = test::run_confined(
        viewer({"--ladder", std::to_string(free_port()), "--dump-state", dump.string(), "--interval", "5000"}),
        test::prepared_by(test::become_nobody), 120s);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto ladder = ladder_of(dump);
    EXPECT_EQ(ladder.value("capture_active", true), false) << ladder.dump();
    EXPECT_EQ(ladder.value("phase", ""), "waiting") << ladder.dump();
    const std::string msg = ladder.value("capture_message", "");
    EXPECT_NE(msg.find("CAP_NET_RAW"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "one line: " << msg;
    // What the panel shows: what is missing, how to get it, and what still works (as nobody
    // the tracer is off too).
    EXPECT_EQ(ladder.value("permission_line", ""),
              "No segments: capturing them needs CAP_NET_RAW (sudo socklab-viewer); the table, the "
              "diagram and the timeline still work.");
}

}  // namespace
}  // namespace socklab

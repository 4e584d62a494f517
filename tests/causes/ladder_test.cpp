// The whole ladder on the real kernel: `socklab trace --packets --syscalls --json` watching
// loopback connections made by two processes (a forked client, this process the server),
// compared segment for segment with tshark capturing the same traffic with the same filter.
// Root (skipped with the reason otherwise), in a network namespace of the test's own.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "socklab/source.hpp"
#include "socklab/state.hpp"
#include "child.hpp"
#include "testsupport.hpp"

namespace socklab {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

std::vector<json> json_lines(const std::string& text) {
    std::vector<json> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line))
        if (!line.empty()) out.push_back(json::parse(line));
    return out;
}

bool has_flag(const json& seg, const char* f) {
    for (const auto& x : seg["flags"])
        if (x == f) return true;
    return false;
}

std::uint8_t flag_bits(const json& seg) {
    static const std::pair<const char*, std::uint8_t> kBits[] = {
        {"FIN", 1}, {"SYN", 2}, {"RST", 4}, {"PSH", 8}, {"ACK", 16}, {"URG", 32}, {"ECE", 64}, {"CWR", 128}};
    std::uint8_t bits = 0;
    for (const auto& [name, bit] : kBits)
        if (has_flag(seg, name)) bits |= bit;
    return bits;
}

enum class Ending { normal_close, abort_rst, half_close };

// What the client child does; it waits for a byte on `go` before each step after connect,
// so the trace has resolved its socket (by /proc/<pid>/fd) while the process still lives.
[[noreturn]] void client_main(std::uint16_t port, Ending ending, int go, int done) {
    char b = 0;
    auto fd = test::tcp_connect("127.0.0.1", port);
    if (::read(go, &b, 1) != 1) ::_exit(2);
    if (ending == Ending::abort_rst) {
        const linger l{1, 0};
        ::setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
        fd.reset();  // RST, no FIN (SO_LINGER {1, 0})
        ::_exit(0);
    }
    if (::write(fd.get(), "hello", 5) != 5) ::_exit(3);
    if (::read(go, &b, 1) != 1) ::_exit(2);
    if (ending == Ending::half_close) {
        ::shutdown(fd.get(), SHUT_WR);  // FIN; the server may still send
        char buf[16];
        while (::read(fd.get(), buf, sizeof buf) > 0) {
        }
        (void)!::write(done, "x", 1);
        ::_exit(0);
    }
    fd.reset();
    (void)!::write(done, "x", 1);
    ::_exit(0);
}

struct Run {
    std::vector<json> records;  // socklab's stream
    std::vector<std::string> tshark;  // "srcport flags seq ack len"
    std::string tshark_err;
    pid_t client_pid = 0;
    std::uint16_t port = 0, client_port = 0;
};

Run run_connection(Ending ending, long min_segments) {
    Run run;
    test::PrivateNetns ns;
    auto listener = test::tcp_listen("127.0.0.1", 0);
    run.port = test::local_port(listener.get());
    const std::string port = std::to_string(run.port);
    // tshark writes what it captures to a file, read once the capture has stopped (a loaded
    // machine makes a live reader lag behind).
    test::TempDir dir("socklab-ladder");
    const std::string pcap = (dir.path / "lo.pcapng").string();
    test::Child tshark({"tshark", "-i", "lo", "-f", "tcp port " + port, "-w", pcap});
    test::Child trace({test::bin("socklab"), "trace", "--packets", "--syscalls", "--port", port, "--json"});
    // Both are live once tshark says so and the trace instance is on (capture opens first).
    EXPECT_TRUE(tshark.read_until(
        [&](const std::string&) { return tshark.err().find("Capture started") != std::string::npos; }, 60s))
        << tshark.err();
    EXPECT_TRUE(test::wait_until([&] {
        const std::string inst = "/sys/kernel/tracing/instances/socklab-" + std::to_string(trace.pid()) + "-*";
        const auto r = test::run_command(
            {"sh", "-c", "cat " + inst + "/tracing_on " + inst + "/events/sock/inet_sock_set_state/enable"});
        return r.out == "1\n1\n";
    }, 30s, 20ms)) << trace.err();

    int go[2], done[2];
    EXPECT_EQ(::pipe(go), 0);
    EXPECT_EQ(::pipe(done), 0);
    run.client_pid = ::fork();
    if (run.client_pid == 0) client_main(run.port, ending, go[0], done[1]);
    auto server = test::tcp_accept(listener.get());
    run.client_port = test::remote_port(server.get());
    const auto saw = [&](const std::string& needle) {
        return trace.read_until([&](const std::string& out) { return out.find(needle) != std::string::npos; }, 10s);
    };
    EXPECT_TRUE(saw("\"call\":\"connect\"")) << trace.out();
    EXPECT_EQ(::write(go[1], "g", 1), 1);
    char buf[64];
    auto src = make_default_source();
    if (ending == Ending::abort_rst) {
        EXPECT_EQ(::read(server.get(), buf, sizeof buf), -1);  // ECONNRESET
        server.reset();
    } else {
        EXPECT_EQ(::read(server.get(), buf, sizeof buf), 5);
        EXPECT_EQ(::write(go[1], "g", 1), 1);
        EXPECT_EQ(::read(server.get(), buf, sizeof buf), 0);  // the client's FIN
        if (ending == Ending::half_close) {
            // Data after the peer's FIN: its side is only half closed.
            EXPECT_EQ(::write(server.get(), "late", 4), 4);
        } else {
            // A separate ACK of the client's FIN before ours: wait until the client has it.
            EXPECT_TRUE(test::wait_for_state(*src, run.client_port, run.port,
                                             static_cast<std::uint8_t>(TcpState::fin_wait2)));
        }
        server.reset();
        EXPECT_EQ(::read(done[0], buf, 1), 1);
    }
    int st = 0;
    ::waitpid(run.client_pid, &st, 0);
    for (int fd : {go[0], go[1], done[0], done[1]}) ::close(fd);
    // Stop both once socklab shows at least the segments of this ending and a moment has
    // passed with no new one (a late duplicate or retransmission would show up in it).
    std::size_t last = 0;
    int quiet = 0;
    EXPECT_TRUE(test::wait_until([&] {
        trace.read_until([](const std::string&) { return false; }, 20ms);  // take what has come
        const auto lines = json_lines(trace.out());
        const auto n = static_cast<std::size_t>(std::count_if(
            lines.begin(), lines.end(), [](const json& j) { return j["kind"] == "segment"; }));
        quiet = n == last ? quiet + 1 : 0;
        last = n;
        return static_cast<long>(n) >= min_segments && quiet >= 5;
    }, 15s, 100ms)) << trace.out();
    // Stopped like Ctrl-C, so each removes what it set up (the trace its instance).
    for (auto* c : {&trace, &tshark}) {
        c->signal(SIGINT);
        c->wait(10s);
    }
    run.records = json_lines(trace.out());
    const auto read = test::run_command({"tshark", "-r", pcap, "-T", "fields", "-e", "tcp.srcport",
                                         "-e", "tcp.flags", "-e", "tcp.seq", "-e", "tcp.ack",
                                         "-e", "tcp.len"}, {}, 60s);
    run.tshark_err = read.err + tshark.err();
    std::istringstream ts(read.out);
    std::string l;
    while (std::getline(ts, l))
        if (!l.empty()) run.tshark.push_back(l);
    return run;
}

std::string trace_dump(const std::vector<json>& v) {
    std::string out;
    for (const auto& j : v) out += j.dump() + "\n";
    return out;
}

std::vector<json> segments(const Run& r) {
    std::vector<json> out;
    for (const auto& j : r.records)
        if (j["kind"] == "segment") out.push_back(j);
    return out;
}

// Same segments as tshark, one for one: source port, flags, relative seq/ack, length.
void expect_same_as_tshark(const Run& r) {
    const auto segs = segments(r);
    ASSERT_EQ(segs.size(), r.tshark.size()) << "tshark:\n" << testing::PrintToString(r.tshark) << r.tshark_err;
    for (std::size_t i = 0; i < segs.size(); ++i) {
        const auto& s = segs[i];
        char flags[8];
        std::snprintf(flags, sizeof flags, "0x%04x", flag_bits(s));
        const std::string mine = std::to_string(s["src_port"].get<int>()) + "\t" + flags + "\t" +
                                 std::to_string(s["seq"].get<std::uint32_t>()) + "\t" +
                                 std::to_string(s["ack"].get<std::uint32_t>()) + "\t" +
                                 std::to_string(s["len"].get<std::uint32_t>());
        EXPECT_EQ(mine, r.tshark[i]) << "segment " << i;
    }
}

// Index of the first record after `from` matching `pred`; -1 if none.
long find(const std::vector<json>& v, long from, const std::function<bool(const json&)>& pred) {
    for (long i = std::max(from, 0L); i < static_cast<long>(v.size()); ++i)
        if (pred(v[static_cast<std::size_t>(i)])) return i;
    return -1;
}

std::function<bool(const json&)> seg_from(std::uint16_t port, std::vector<const char*> flags,
                                          bool data = false) {
    return [=](const json& j) {
        if (j["kind"] != "segment" || j["src_port"] != port) return false;
        if (data != (j["len"].get<int>() > 0)) return false;
        std::uint8_t want = 0;
        json fake;
        fake["flags"] = json::array();
        for (const char* f : flags) fake["flags"].push_back(f);
        want = flag_bits(fake);
        return (flag_bits(j) & ~8) == want;  // PSH aside
    };
}

std::function<bool(const json&)> state(std::uint16_t local_port, const char* s) {
    return [=](const json& j) {
        return j["kind"] == "transition" && j["new_state"] == s &&
               (j["local_port"] == local_port || (local_port != 0 && j["local_port"] == 0 && std::string(s) == "SYN_SENT"));
    };
}

std::function<bool(const json&)> call(const char* name, pid_t pid) {
    return [=](const json& j) { return j["kind"] == "syscall" && j["call"] == name && j["pid"] == pid; };
}

TEST(Ladder, NormalCloseMatchesTsharkWithStatesAndCalls) {
    SOCKLAB_REQUIRE_ROOT();
    if (!test::have_program("tshark")) GTEST_SKIP() << "needs tshark (Debian package tshark)";
    const auto r = run_connection(Ending::normal_close, 9);
    expect_same_as_tshark(r);
    const auto& v = r.records;
    const auto c = r.client_port, s = r.port;
    // RFC 9293 figure 5 (handshake) and figure 12's normal close, with the states between.
    long i = find(v, 0, state(c, "SYN_SENT"));
    EXPECT_GE(i, 0);
    const long syn = find(v, i, seg_from(c, {"SYN"}));
    const long synack = find(v, syn, seg_from(s, {"SYN", "ACK"}));
    const long ack = find(v, synack, seg_from(c, {"ACK"}));
    const long established = find(v, synack, state(c, "ESTABLISHED"));
    const long data = find(v, ack, seg_from(c, {"ACK"}, true));
    const long data_ack = find(v, data, seg_from(s, {"ACK"}));
    const long fw1 = find(v, data_ack, state(c, "FIN_WAIT1"));
    const long fin1 = find(v, fw1, seg_from(c, {"FIN", "ACK"}));
    const long close_wait = find(v, fin1, state(s, "CLOSE_WAIT"));
    const long fin1_ack = find(v, fin1, seg_from(s, {"ACK"}));
    const long fw2 = find(v, fin1_ack, state(c, "FIN_WAIT2"));
    const long last_ack = find(v, fin1_ack, state(s, "LAST_ACK"));
    const long fin2 = find(v, last_ack, seg_from(s, {"FIN", "ACK"}));
    const long fin2_ack = find(v, fin2, seg_from(c, {"ACK"}));
    const long closed = find(v, fin2_ack, state(s, "CLOSE"));
    for (const long x : {syn, synack, ack, established, data, data_ack, fw1, fin1, close_wait,
                         fin1_ack, fw2, last_ack, fin2, fin2_ack, closed})
        EXPECT_GE(x, 0) << trace_dump(v);
    EXPECT_EQ(segments(r).size(), 9u) << "SYN, SYN-ACK, ACK, data, ACK, FIN, ACK, FIN, ACK";
    // The calls, by the processes that made them.
    EXPECT_GE(find(v, 0, call("connect", r.client_pid)), 0);
    EXPECT_TRUE(find(v, 0, call("accept4", ::getpid())) >= 0 || find(v, 0, call("accept", ::getpid())) >= 0);
    // close() returns after the FIN it sent and the state it left: its line (the exit's
    // time) comes after both.
    EXPECT_GT(find(v, 0, call("close", r.client_pid)), fw1);
    EXPECT_GE(find(v, fin1, call("close", ::getpid())), 0);
}

TEST(Ladder, AbortSendsRstAndNoFin) {
    SOCKLAB_REQUIRE_ROOT();
    if (!test::have_program("tshark")) GTEST_SKIP() << "needs tshark (Debian package tshark)";
    const auto r = run_connection(Ending::abort_rst, 4);
    expect_same_as_tshark(r);
    const auto segs = segments(r);
    EXPECT_GE(find(r.records, 0, [&](const json& j) {
                  return j["kind"] == "segment" && j["src_port"] == r.client_port && has_flag(j, "RST");
              }), 0);
    for (const auto& s : segs) EXPECT_FALSE(has_flag(s, "FIN")) << s.dump();
    EXPECT_GE(find(r.records, 0, call("setsockopt", r.client_pid)), 0);
}

TEST(Ladder, HalfCloseCarriesDataAfterFin) {
    SOCKLAB_REQUIRE_ROOT();
    if (!test::have_program("tshark")) GTEST_SKIP() << "needs tshark (Debian package tshark)";
    const auto r = run_connection(Ending::half_close, 10);
    expect_same_as_tshark(r);
    const auto& v = r.records;
    const long fin = find(v, 0, seg_from(r.client_port, {"FIN", "ACK"}));
    const long late = find(v, fin, seg_from(r.port, {"ACK"}, true));
    const long server_fin = find(v, late, [&](const json& j) {
        return j["kind"] == "segment" && j["src_port"] == r.port && has_flag(j, "FIN");
    });
    EXPECT_GE(fin, 0);
    EXPECT_GE(late, 0) << "data from the server after the client's FIN";
    EXPECT_GE(server_fin, 0);
    EXPECT_GE(find(v, 0, call("shutdown", r.client_pid)), 0);
}

}  // namespace
}  // namespace socklab

// Capture on the real kernel (root; skipped with the reason otherwise), in a network
// namespace of the test's own so only its traffic is on lo.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <signal.h>

#include <algorithm>
#include <map>
#include <optional>
#include <sstream>
#include <thread>
#include <tuple>

#include "socklab/capture.hpp"
#include "socklab/conversation.hpp"
#include "child.hpp"
#include "testsupport.hpp"

namespace socklab {
namespace {

using namespace std::chrono_literals;

// Segments until one matching `done` arrives (bounded).
std::vector<Segment> capture_until(Capture& cap, const std::function<bool(const Segment&)>& done) {
    std::vector<Segment> got;
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < deadline) {
        const auto before = got.size();
        cap.poll(got, 100ms);
        for (auto i = before; i < got.size(); ++i)
            if (done(got[i])) return got;
    }
    return got;
}

TEST(CaptureLive, FilterText) {
    const std::vector<std::uint16_t> ports{9001, 9005};
    EXPECT_EQ(Capture::filter_for(ports), "tcp and (port 9001 or port 9005)");
    EXPECT_EQ(Capture::filter_for({}), "tcp");
}

TEST(CaptureLive, EachLoopbackSegmentOnce) {
    SOCKLAB_REQUIRE_ROOT();
    test::PrivateNetns ns;
    auto listener = test::tcp_listen("127.0.0.1", 0);
    const auto port = test::local_port(listener.get());
    CaptureOptions opts;
    opts.ports = {port};
    Capture cap(opts);
    ASSERT_TRUE(cap.status().active) << cap.status().message;
    EXPECT_EQ(cap.datalink(), pkt::kDltEthernet) << "Linux lo is Ethernet framed";

    const std::uint64_t start = monotonic_ns();
    auto client = test::tcp_connect("127.0.0.1", port);
    auto server = test::tcp_accept(listener.get());
    ASSERT_EQ(::write(client.get(), "hello", 5), 5);
    char buf[8];
    ASSERT_EQ(::read(server.get(), buf, sizeof buf), 5);
    client.reset();
    ASSERT_EQ(::read(server.get(), buf, sizeof buf), 0);
    server.reset();
    int fins = 0;
    auto segs = capture_until(cap, [&](const Segment& s) {
        if (s.has(tcp_flag::FIN)) ++fins;
        return fins == 2 && !s.has(tcp_flag::FIN);  // the ACK of the second FIN
    });
    // Nothing after the last ACK: a duplicate would come right behind it.
    cap.poll(segs, 200ms);

    std::map<std::tuple<std::uint16_t, std::uint32_t, std::uint32_t, std::uint8_t, std::uint32_t>, int>
        seen;
    for (const auto& s : segs) {
        ++seen[{s.src_port, s.seq, s.ack, s.flags, s.len}];
        EXPECT_GE(s.time_ns, start) << "times are CLOCK_MONOTONIC, after the test began";
        EXPECT_LE(s.time_ns, monotonic_ns());
    }
    for (const auto& [k, n] : seen) EXPECT_EQ(n, 1) << "segment seen " << n << " times";
    const auto convs = conversation::build(segs, {}, {});
    ASSERT_EQ(convs.size(), 1u);
    const auto& c = convs[0];
    ASSERT_GE(c.items.size(), 8u);
    EXPECT_EQ(flags_label(c.items[0].segment()->flags), "SYN");
    EXPECT_EQ(flags_label(c.items[1].segment()->flags), "SYN-ACK");
    EXPECT_EQ(c.items[1].segment()->rel_ack, 1u);
    EXPECT_TRUE(c.items[0].segment()->options.mss.has_value());
    EXPECT_EQ(c.server.port, port);
    const auto st = cap.stats();
    EXPECT_EQ(st.lost(), 0u);
    EXPECT_EQ(st.undecoded, 0u);
    EXPECT_EQ(st.decoded, segs.size());
}

// 200 KiB over loopback: lo's MTU is 65536 and GSO makes segments of up to 64 KiB, far past
// the snap length (256). Every data segment must be there with its length on the wire, so the
// lengths add up to the bytes sent — and tshark, capturing the same traffic whole, sees the
// same data segments with the same lengths. (They were refused as truncated, and the ladders
// of the data labs showed no data.)
TEST(CaptureLive, LargeLoopbackSegmentsKeepTheirLength) {
    SOCKLAB_REQUIRE_ROOT();
    if (!test::have_program("tshark")) GTEST_SKIP() << "tshark is not installed (apt install tshark)";
    test::PrivateNetns ns;
    auto listener = test::tcp_listen("127.0.0.1", 0);
    const auto port = test::local_port(listener.get());
    test::TempDir dir("socklab-capture");
    const std::string pcap = (dir.path / "lo.pcapng").string();
    test::Child tshark({"tshark", "-i", "lo", "-f", "tcp port " + std::to_string(port), "-w", pcap});
    ASSERT_TRUE(tshark.read_until(
        [&](const std::string&) { return tshark.err().find("Capture started") != std::string::npos; }, 60s))
        << tshark.err();
    CaptureOptions opts;
    opts.ports = {port};
    Capture cap(opts);
    ASSERT_TRUE(cap.status().active) << cap.status().message;

    constexpr std::size_t kBytes = 200 * 1024;
    auto client = test::tcp_connect("127.0.0.1", port);
    auto server = test::tcp_accept(listener.get());
    const auto cport = test::local_port(client.get());
    std::size_t received = 0;
    std::thread reader([&] {
        std::vector<char> buf(1 << 16);
        for (ssize_t n; (n = ::read(server.get(), buf.data(), buf.size())) > 0;) received += static_cast<std::size_t>(n);
    });
    const std::vector<char> data(kBytes, 'x');
    std::size_t sent = 0;
    while (sent < kBytes) {
        const ssize_t n = ::write(client.get(), data.data() + sent, kBytes - sent);
        if (n <= 0) break;
        sent += static_cast<std::size_t>(n);
    }
    ::shutdown(client.get(), SHUT_WR);
    reader.join();
    ASSERT_EQ(sent, kBytes);
    ASSERT_EQ(received, kBytes);
    auto segs = capture_until(cap, [&](const Segment& s) { return s.src_port == cport && s.has(tcp_flag::FIN); });
    cap.poll(segs, 200ms);  // the ACK of the FIN, and anything late

    // The data segments' lengths cover the bytes sent exactly, once each. A loaded machine may
    // retransmit a segment (seen under ASan): its bytes are on the wire twice, and in tshark's
    // capture too, so they count once here and the lists are still compared whole below.
    std::vector<std::uint32_t> mine;
    std::optional<std::uint32_t> first_byte;  // the SYN's sequence number + 1
    std::uint64_t covered = 0, again = 0;
    for (const auto& s : segs) {
        if (s.src_port != cport) continue;
        if (s.has(tcp_flag::SYN)) first_byte = s.seq + 1;
        if (s.len == 0) continue;
        mine.push_back(s.len);
        ASSERT_TRUE(first_byte.has_value()) << "data before the client's SYN was captured";
        const std::uint64_t from = static_cast<std::uint32_t>(s.seq - *first_byte);  // modulo 2^32
        const std::uint64_t to = from + s.len;
        EXPECT_LE(from, covered) << "a gap in the data: bytes " << covered << ".." << from << " were not captured";
        again += std::min(to, covered) - std::min(from, covered);
        covered = std::max(covered, to);
    }
    EXPECT_EQ(covered, kBytes) << "the data segments do not cover the bytes sent (" << again
                               << " bytes were sent again)";
    ASSERT_FALSE(mine.empty());
    EXPECT_GT(*std::max_element(mine.begin(), mine.end()), 1500u)
        << "no segment larger than an Ethernet MTU: the test did not exercise large segments";
    const auto st = cap.stats();
    EXPECT_EQ(st.undecoded, 0u);
    EXPECT_EQ(st.lost(), 0u);

    // dumpcap hands packets to its file in blocks: read the file (bounded) until the client's
    // FIN is in it, then stop tshark and read it whole.
    const auto tshark_read = [&](const std::string& filter) {
        const auto r = test::run_command({"tshark", "-r", pcap, "-Y", filter, "-T", "fields", "-e", "tcp.len"}, {}, 60s);
        std::vector<std::uint32_t> lens;
        std::istringstream in(r.out);
        for (std::string l; std::getline(in, l);)
            if (!l.empty() && l.find_first_not_of("0123456789") == std::string::npos)
                lens.push_back(static_cast<std::uint32_t>(std::stoul(l)));
        return lens;
    };
    const std::string from_client = "tcp.srcport == " + std::to_string(cport);
    EXPECT_TRUE(test::wait_until([&] { return !tshark_read(from_client + " && tcp.flags.fin == 1").empty(); },
                                 30s, 200ms))
        << "tshark did not write the client's FIN";
    tshark.signal(SIGINT);
    tshark.wait(10s);
    const auto theirs = tshark_read(from_client + " && tcp.len > 0");
    EXPECT_EQ(mine, theirs) << "tshark saw other data segments";
}

TEST(CaptureLive, WithoutCapNetRawSaysWhatIsMissing) {
    SOCKLAB_REQUIRE_ROOT();
    int pipefd[2];
    ASSERT_EQ(::pipe(pipefd), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        ::close(pipefd[0]);
        if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0)
            ::_exit(3);
        Capture cap;
        const std::string msg = cap.status().message;
        (void)!::write(pipefd[1], msg.data(), msg.size());
        ::_exit(cap.status().active ? 1 : 0);
    }
    ::close(pipefd[1]);
    std::string msg;
    char buf[512];
    for (ssize_t n; (n = ::read(pipefd[0], buf, sizeof buf)) > 0;) msg.append(buf, static_cast<std::size_t>(n));
    ::close(pipefd[0]);
    int st = 0;
    ::waitpid(pid, &st, 0);
    ASSERT_TRUE(WIFEXITED(st));
    EXPECT_EQ(WEXITSTATUS(st), 0) << "capture opened without CAP_NET_RAW";
    EXPECT_NE(msg.find("segments are not captured: capturing on lo needs CAP_NET_RAW"),
              std::string::npos) << msg;
    EXPECT_NE(msg.find("state transitions, system calls and the socket table do not need it"),
              std::string::npos) << msg;
}

}  // namespace
}  // namespace socklab

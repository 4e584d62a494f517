// parse::proc_net_line and the /proc source on a fake proc root (tests/fixtures/proc/root1,
// captured at the same moment as the netlink fixtures), and on malformed lines.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "fixture_files.hpp"
#include "population.hpp"
#include "socklab/error.hpp"
#include "socklab/source.hpp"

namespace socklab {
namespace {

namespace pop = test::population;
using test::fixture_path;

constexpr auto u8 = [](TcpState s) { return static_cast<std::uint8_t>(s); };

std::vector<SocketRecord> netlink_fixture(const std::string& name, Proto proto) {
    const auto bytes = test::fixture_bytes("netlink/" + name);
    std::vector<SocketRecord> out;
    parse::netlink_dump(bytes, proto, out);
    return out;
}

using Row = std::tuple<SocketKey, std::uint8_t, std::uint64_t>;  // key, state, inode

std::set<Row> rows(const std::vector<SocketRecord>& recs) {
    std::set<Row> s;
    for (const auto& r : recs) s.emplace(key_of(r), r.state, r.inode);
    return s;
}

TEST(ProcFixture, SameSocketsAsTheNetlinkDumpOfTheSameMoment) {
    auto src = make_proc_source(fixture_path("proc/root1"));
    EXPECT_EQ(src->name(), "proc");
    const auto snap = src->snapshot(Query{});
    EXPECT_EQ(snap.source, "proc");

    std::vector<SocketRecord> nl;
    for (const auto& [file, proto] : {std::pair{"tcp4.bin", Proto::tcp}, {"tcp6.bin", Proto::tcp},
                                      {"udp4.bin", Proto::udp}, {"udp6.bin", Proto::udp}})
        for (auto& r : netlink_fixture(file, proto))
            if (matches(Query{}, r)) nl.push_back(r);  // BOUND_INACTIVE is not in /proc
    EXPECT_EQ(rows(snap.sockets), rows(nl));
    EXPECT_EQ(snap.sockets.size(), nl.size());

    // Beyond the key: queues, timers and uid agree too, except what /proc cannot know.
    std::map<SocketKey, SocketRecord> by_key;
    for (const auto& r : nl) by_key[key_of(r)] = r;
    for (const auto& p : snap.sockets) {
        const auto& n = by_key.at(key_of(p));
        EXPECT_EQ(p.cookie, 0u) << "/proc has no cookie";
        EXPECT_FALSE(p.tcp_info);
        EXPECT_EQ(p.uid, n.uid);
        EXPECT_EQ(p.timer, n.timer) << format_endpoint(p.local_addr, p.local_port);
        EXPECT_EQ(p.recv_q, n.recv_q) << format_endpoint(p.local_addr, p.local_port);
        if (p.state != u8(TcpState::listen)) {  // netlink's LISTEN Send-Q is the backlog
            EXPECT_EQ(p.send_q, n.send_q) << format_endpoint(p.local_addr, p.local_port);
        }
        // /proc counts in clock ticks (10 ms), netlink in ms; /proc was read after netlink,
        // on a busy machine up to a few hundred ms later, so its timers have run further.
        if (p.timer != TimerKind::none) {
            EXPECT_LE(p.timer_ms, n.timer_ms + 10) << format_endpoint(p.local_addr, p.local_port);
            EXPECT_GE(p.timer_ms + 2000, n.timer_ms) << format_endpoint(p.local_addr, p.local_port);
        }
    }
}

TEST(ProcFixture, QueryFiltersApply) {
    auto src = make_proc_source(fixture_path("proc/root1"));
    Query q;
    q.udp = false;
    q.ipv6 = false;
    q.states = state_bit(TcpState::time_wait);
    const auto tw = src->snapshot(q).sockets;
    ASSERT_EQ(tw.size(), 1u);
    EXPECT_EQ(tw[0].remote_port, pop::kTimeWait);
    EXPECT_EQ(tw[0].timer, TimerKind::time_wait);
    EXPECT_GT(tw[0].timer_ms, 50'000u);

    Query port;
    port.port = pop::kDualStack;
    const auto on_port = src->snapshot(port).sockets;
    EXPECT_EQ(on_port.size(), 3u) << "listener, accepted end (v4-mapped), IPv4 client";
    for (const auto& r : on_port)
        EXPECT_TRUE(r.local_port == pop::kDualStack || r.remote_port == pop::kDualStack);

    Query synrecv;
    synrecv.states = *parse_state_mask("syn-recv");
    const auto sr = src->snapshot(synrecv).sockets;
    ASSERT_EQ(sr.size(), 1u);
    EXPECT_EQ(sr[0].local_port, pop::kSynRecv);
    EXPECT_EQ(sr[0].inode, 0u);
}

// root2/net/tcp: the request socket of root1 three times, as a resumed read of /proc/net/tcp
// showed it under churn on 6.18 (LiveSource.SynRecvWithDeferAccept/proc failed that way),
// around two listeners; only tcp exists in this root.
TEST(ProcFixture, RepeatsFromResumedReadsAreDropped) {
    auto src = make_proc_source(fixture_path("proc/root2"));
    const auto recs = src->snapshot(Query{}).sockets;
    ASSERT_EQ(recs.size(), 3u);
    EXPECT_EQ(std::count_if(recs.begin(), recs.end(),
                            [](const SocketRecord& r) { return r.state == u8(TcpState::syn_recv); }),
              1);
    EXPECT_EQ(std::count_if(recs.begin(), recs.end(),
                            [](const SocketRecord& r) { return r.state == u8(TcpState::listen); }),
              2);
}

TEST(ProcFixture, MissingRootIsAnErrorThatSaysWhat) {
    auto src = make_proc_source(fixture_path("proc/no-such-root"));
    try {
        (void)src->snapshot(Query{});
        ADD_FAILURE() << "expected socklab::Error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("failed to read"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("no-such-root"), std::string::npos) << e.what();
    }
}

// A table file that opens but cannot be read: here net/tcp is a directory (EISDIR), as a
// broken or unusual procfs might give. The error names the file and the reason.
TEST(ProcFixture, AnUnreadableTableFileIsAnErrorThatNamesIt) {
    char tmpl[] = "/tmp/socklab-procroot-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    const std::filesystem::path root = tmpl;
    std::filesystem::create_directories(root / "net" / "tcp");
    auto src = make_proc_source(root);
    std::string what;
    try {
        (void)src->snapshot(Query{});
    } catch (const Error& e) {
        what = e.what();
    }
    std::error_code ec;
    std::filesystem::remove_all(root, ec);
    EXPECT_EQ(what, "failed to read " + (root / "net" / "tcp").string() + ": Is a directory");
}

// Real lines from the fixture, one per kind.
constexpr const char* kListenLine =
    "   0: 0100007F:1390 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 "
    "18898 1 00000000620d12d0 100 0 0 10 0";
constexpr const char* kTimeWaitLine =
    "  19: 0100007F:9154 0100007F:138B 06 00000000:00000000 03:0000176B 00000000     0        0 "
    "0 3 0000000049560d5e";
constexpr const char* kMapped6Line =
    "   4: 0000000000000000FFFF00000100007F:1772 0000000000000000FFFF00000100007F:A71C 01 "
    "00000000:00000000 00:00000000 00000000     0        0 18907 1 0000000078731623 20 0 0 10 -1";
constexpr const char* kUdp6Line =
    " 4863: 00000000000000000000000001000000:1B5C 00000000000000000000000001000000:1B5B 01 "
    "00000000:00000000 00:00000000 00000000     0        0 18912 2 000000003779988e 0";

TEST(ProcLine, HeaderIsNotARecord) {
    EXPECT_FALSE(parse::proc_net_line(
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid",
        Proto::tcp, AF_INET));
}

TEST(ProcLine, Ipv4Listen) {
    const auto r = parse::proc_net_line(kListenLine, Proto::tcp, AF_INET);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->local_addr.to_string(), "127.0.0.1");
    EXPECT_EQ(r->local_port, 5008);
    EXPECT_TRUE(r->remote_addr.is_any());
    EXPECT_EQ(r->state_name(), "LISTEN");
    EXPECT_EQ(r->inode, 18898u);
    EXPECT_EQ(r->timer, TimerKind::none);
}

TEST(ProcLine, TimeWaitTimerInMilliseconds) {
    const auto r = parse::proc_net_line(kTimeWaitLine, Proto::tcp, AF_INET);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->state_name(), "TIME_WAIT");
    EXPECT_EQ(r->local_port, 0x9154);
    EXPECT_EQ(r->remote_port, 5003);
    EXPECT_EQ(r->timer, TimerKind::time_wait);
    EXPECT_EQ(r->timer_ms, 0x176Bu * 10u) << "USER_HZ ticks of 10 ms";
    EXPECT_EQ(r->inode, 0u);
}

TEST(ProcLine, V4MappedIpv6) {
    const auto r = parse::proc_net_line(kMapped6Line, Proto::tcp, AF_INET6);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->family, AF_INET6);
    EXPECT_EQ(r->local_addr.to_string(), "::ffff:127.0.0.1");
    EXPECT_TRUE(r->local_addr.is_v4_mapped());
    EXPECT_EQ(r->local_port, 6002);
    EXPECT_EQ(r->remote_port, 0xA71C);
    EXPECT_EQ(r->state_name(), "ESTABLISHED");
}

TEST(ProcLine, Udp6Connected) {
    const auto r = parse::proc_net_line(kUdp6Line, Proto::udp, AF_INET6);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->local_addr.to_string(), "::1");
    EXPECT_EQ(r->remote_addr.to_string(), "::1");
    EXPECT_EQ(r->local_port, 7004);
    EXPECT_EQ(r->remote_port, 7003);
    EXPECT_EQ(r->proto, Proto::udp);
    EXPECT_EQ(r->state_name(), "ESTABLISHED");
}

TEST(ProcLine, EveryKernelStateParsesAndHasAName) {
    for (unsigned st = 1; st <= kMaxKernelState; ++st) {
        char hex[3];
        std::snprintf(hex, sizeof hex, "%02X", st);
        std::string line = kListenLine;
        line.replace(line.find(" 0A ") + 1, 2, hex);
        const auto r = parse::proc_net_line(line, Proto::tcp, AF_INET);
        ASSERT_TRUE(r) << line;
        EXPECT_EQ(r->state, st);
        EXPECT_NE(r->state_name(), "UNKNOWN") << st;
    }
}

std::string error_of(std::string_view line, std::uint8_t family = AF_INET) {
    try {
        (void)parse::proc_net_line(line, Proto::tcp, family);
    } catch (const ParseError& e) {
        return e.what();
    }
    return "(no ParseError)";
}

TEST(ProcLine, MalformedLinesSayWhatIsWrong) {
    const std::string good = kListenLine;
    auto with = [&](const std::string& from, const std::string& to) {
        std::string l = good;
        l.replace(l.find(from), from.size(), to);
        return l;
    };
    EXPECT_NE(error_of("").find("empty line"), std::string::npos);
    EXPECT_NE(error_of("   ").find("empty line"), std::string::npos);
    EXPECT_NE(error_of(with("0:", "0")).find("no slot number"), std::string::npos);
    EXPECT_NE(error_of(with("0100007F:1390", "0100007F1390")).find("without ':'"),
              std::string::npos);
    EXPECT_NE(error_of(with("0100007F:1390", "0100007G:1390")).find("bad address"),
              std::string::npos);
    EXPECT_NE(error_of(with("0100007F:1390", "100007F:1390")).find("wrong length"),
              std::string::npos);
    EXPECT_NE(error_of(with("0100007F:1390", "0100007F:13900")).find("port of the wrong length"),
              std::string::npos);
    EXPECT_NE(error_of(with(" 0A ", " 00 ")).find("state out of range"), std::string::npos);
    EXPECT_NE(error_of(with(" 0A ", " 100 ")).find("state out of range"), std::string::npos);
    EXPECT_NE(error_of(with(" 0A ", " -1 ")).find("bad state"), std::string::npos);
    EXPECT_NE(error_of(with("00000000:00000000", "0000000000000000")).find("queues"),
              std::string::npos);
    EXPECT_NE(error_of(with(" 00:00000000 ", " 0000000000 ")).find("timer without ':'"),
              std::string::npos);
    EXPECT_NE(error_of(with("     0        0 ", "     x        0 ")).find("bad uid"),
              std::string::npos);
    EXPECT_NE(error_of(with("18898", "18898z")).find("bad inode"), std::string::npos);
    EXPECT_NE(error_of(with("18898", "99999999999999999999999")).find("bad inode"),
              std::string::npos);
    // An IPv4 line read as IPv6 (and the other way round) is caught by the address length.
    EXPECT_NE(error_of(good, AF_INET6).find("wrong length"), std::string::npos);
    EXPECT_NE(error_of(kMapped6Line, AF_INET).find("wrong length"), std::string::npos);
    EXPECT_NE(error_of(good, AF_UNIX).find("unknown address family"), std::string::npos);
    // The message quotes the line and follows the house form.
    EXPECT_EQ(error_of("garbage").rfind("failed to parse /proc/net line \"garbage\"", 0), 0u);
}

// Every prefix of a real line is either rejected with a ParseError or, once it reaches the
// inode, parsed — never a crash, never another exception.
TEST(ProcLine, EveryTruncationIsAParseErrorUntilTheInode) {
    for (const auto& [line, family] : {std::pair{std::string(kListenLine), AF_INET},
                                       {std::string(kMapped6Line), AF_INET6},
                                       {std::string(kTimeWaitLine), AF_INET}}) {
        const auto inode_end = line.find(' ', line.find("        0 ") + 10);
        for (std::size_t n = 0; n <= line.size(); ++n) {
            const std::string_view prefix(line.data(), n);
            if (n < line.find("        0 ") + 10) {
                EXPECT_THROW((void)parse::proc_net_line(prefix, Proto::tcp, family), ParseError)
                    << "'" << prefix << "'";
            } else {
                try {
                    (void)parse::proc_net_line(prefix, Proto::tcp, family);
                } catch (const ParseError&) {
                    EXPECT_LT(n, inode_end) << "only a cut inside the inode may fail";
                }
            }
        }
    }
}

TEST(ProcLine, EveryCapturedLineParses) {
    for (const auto& [file, proto, family] :
         {std::tuple{"tcp", Proto::tcp, AF_INET}, {"tcp6", Proto::tcp, AF_INET6},
          {"udp", Proto::udp, AF_INET}, {"udp6", Proto::udp, AF_INET6}}) {
        const auto lines = test::fixture_lines(std::string("proc/root1/net/") + file);
        ASSERT_GT(lines.size(), 1u);
        EXPECT_FALSE(parse::proc_net_line(lines[0], proto, static_cast<std::uint8_t>(family)));
        for (std::size_t i = 1; i < lines.size(); ++i)
            EXPECT_TRUE(parse::proc_net_line(lines[i], proto, static_cast<std::uint8_t>(family)))
                << lines[i];
    }
}

}  // namespace
}  // namespace socklab

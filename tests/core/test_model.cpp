// The state table, addresses, record keys and the JSON form fixed by docs/contracts.md.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <cstdio>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>
#include <unordered_set>

#include "socklab/json.hpp"
#include "socklab/source.hpp"
#include "socklab/state.hpp"

namespace socklab {
namespace {

TEST(StateTable, EveryKernelValueHasAName) {
    // include/net/tcp_states.h, in order; ss's spelling without the dash.
    const char* expected[] = {"ESTABLISHED", "SYN_SENT",   "SYN_RECV",  "FIN_WAIT1", "FIN_WAIT2",
                              "TIME_WAIT",   "CLOSE",      "CLOSE_WAIT", "LAST_ACK", "LISTEN",
                              "CLOSING",     "SYN_RECV",   "BOUND_INACTIVE"};
    for (std::uint8_t s = 1; s <= kMaxKernelState; ++s) {
        EXPECT_EQ(state_name(s), expected[s - 1]) << int(s);
        EXPECT_FALSE(state_explanation(s).empty());
        EXPECT_NE(state_explanation(s), state_explanation(0)) << int(s);
    }
}

TEST(StateTable, OutOfRangeIsBoundsChecked) {
    for (unsigned s : {0u, 14u, 15u, 100u, 255u}) {
        EXPECT_EQ(state_name(static_cast<std::uint8_t>(s)), "UNKNOWN") << s;
        EXPECT_EQ(state_name(static_cast<std::uint8_t>(s), Proto::udp), "UNKNOWN") << s;
        EXPECT_EQ(state_bit(static_cast<std::uint8_t>(s)), s == 0 ? 1u : 0u) << s;
        EXPECT_FALSE(state_explanation(static_cast<std::uint8_t>(s)).empty());
    }
}

TEST(StateTable, UdpNames) {
    EXPECT_EQ(state_name(7, Proto::udp), "UNCONN");
    EXPECT_EQ(state_name(1, Proto::udp), "ESTABLISHED");
    EXPECT_NE(state_explanation(7, Proto::udp), state_explanation(7, Proto::tcp));
    EXPECT_EQ(proto_name(Proto::udp), "udp");
    EXPECT_EQ(proto_name(Proto::tcp), "tcp");
}

TEST(StateTable, ParseStateMask) {
    EXPECT_EQ(parse_state_mask("time-wait"), state_bit(TcpState::time_wait));
    EXPECT_EQ(parse_state_mask("TIME_WAIT"), state_bit(TcpState::time_wait));
    EXPECT_EQ(parse_state_mask("Listen"), state_bit(TcpState::listen));
    EXPECT_EQ(parse_state_mask("unconn"), state_bit(TcpState::close));
    EXPECT_EQ(parse_state_mask("syn-recv"),
              state_bit(TcpState::syn_recv) | state_bit(TcpState::new_syn_recv));
    EXPECT_EQ(parse_state_mask("bound-inactive"), state_bit(TcpState::bound_inactive));
    for (const char* bad : {"", "LISTENING", "TIME WAIT", "13", "-"})
        EXPECT_FALSE(parse_state_mask(bad)) << bad;
}

TEST(StateTable, AllStatesIsWhatSsAsksFor) {
    for (std::uint8_t s = 1; s <= 12; ++s) EXPECT_TRUE(state_in_mask(kAllStates, s)) << int(s);
    EXPECT_FALSE(state_in_mask(kAllStates, 13)) << "BOUND_INACTIVE only on request";
    EXPECT_FALSE(state_in_mask(kAllStates, 0));
    EXPECT_FALSE(state_in_mask(kAllStates, 200));
    // Request sockets are reported as SYN_RECV: either bit lets them through.
    EXPECT_TRUE(state_in_mask(state_bit(TcpState::new_syn_recv), 3));
    EXPECT_TRUE(state_in_mask(state_bit(TcpState::syn_recv), 3));
    EXPECT_FALSE(state_in_mask(state_bit(TcpState::listen), 3));
}

// The arrows' one table: every state named is one the filters know, no arrow twice, a label
// exactly where the RFC figure draws the arrow, and RFC 9293 Figure 5's 20 arrows (§3.3.2)
// among the RFC's own states.
TEST(StateArrows, OneTableOfKnownStates) {
    std::set<std::pair<std::string_view, std::string_view>> seen;
    std::size_t in_figure = 0;
    for (const auto& a : state_arrows()) {
        EXPECT_TRUE(parse_state_mask(a.from).has_value()) << a.from;
        EXPECT_TRUE(parse_state_mask(a.to).has_value()) << a.to;
        EXPECT_TRUE(seen.insert({a.from, a.to}).second) << a.from << " -> " << a.to << " twice";
        EXPECT_EQ(a.label != nullptr, a.source == ArrowSource::figure) << a.from << " -> " << a.to;
        if (a.source == ArrowSource::figure || a.source == ArrowSource::figure_only) {
            ++in_figure;
            for (const auto s : {a.from, a.to})
                EXPECT_TRUE(s != "BOUND_INACTIVE" && s != "UNCONN") << s << " is Linux's, not RFC 9293's";
        }
    }
    EXPECT_EQ(in_figure, 20u);
}

// next_states() and previous_states() are that table read forwards and backwards, in its order.
TEST(StateArrows, NeighboursComeFromTheTable) {
    for (const auto& arrow : state_arrows()) {
        for (const auto name : {arrow.from, arrow.to}) {
            std::vector<std::string_view> next, previous;
            for (const auto& a : state_arrows()) {
                if (a.from == name) next.push_back(a.to);
                if (a.to == name) previous.push_back(a.from);
            }
            EXPECT_EQ(next_states(name), next) << name;
            EXPECT_EQ(previous_states(name), previous) << name;
        }
    }
    EXPECT_TRUE(next_states("NO_SUCH_STATE").empty());
}

// An IPv4 endpoint is formatted without inet_ntop (the viewer formats 200k a poll): the text
// must be inet_ntop's, for edge bytes and ports and for random ones.
TEST(Address, Ipv4EndpointsReadAsInetNtopWrites) {
    std::mt19937 rng(20261202);
    std::vector<std::pair<std::uint32_t, std::uint16_t>> cases{
        {0, 0}, {0xffffffffu, 65535}, {0x7f000001u, 8080}, {0x0a000009u, 9}, {0x01020304u, 10}};
    for (int i = 0; i < 2000; ++i)
        cases.emplace_back(static_cast<std::uint32_t>(rng()), static_cast<std::uint16_t>(rng()));
    for (const auto& [host, port] : cases) {
        const std::uint32_t net = htonl(host);
        const auto a = IpAddr::v4(&net);
        char text[INET_ADDRSTRLEN];
        ASSERT_NE(::inet_ntop(AF_INET, &net, text, sizeof text), nullptr);
        EXPECT_EQ(format_endpoint(a, port), std::string(text) + ":" + std::to_string(port));
    }
}

TEST(Address, ParseFormatAndClassify) {
    const auto v4 = parse_ip("127.0.0.1");
    ASSERT_TRUE(v4);
    EXPECT_EQ(v4->family, AF_INET);
    EXPECT_TRUE(v4->is_loopback());
    EXPECT_FALSE(v4->is_any());
    EXPECT_EQ(format_endpoint(*v4, 80), "127.0.0.1:80");

    const auto v6 = parse_ip("[::1]");
    ASSERT_TRUE(v6);
    EXPECT_EQ(v6->family, AF_INET6);
    EXPECT_TRUE(v6->is_loopback());
    EXPECT_EQ(format_endpoint(*v6, 443), "[::1]:443");

    const auto mapped = parse_ip("::ffff:127.0.0.2");
    ASSERT_TRUE(mapped);
    EXPECT_TRUE(mapped->is_v4_mapped());
    EXPECT_TRUE(mapped->is_loopback());
    EXPECT_EQ(mapped->unmapped(), *parse_ip("127.0.0.2"));
    EXPECT_EQ(v4->unmapped(), *v4);
    EXPECT_FALSE(parse_ip("::ffff:10.0.0.1")->is_loopback());

    EXPECT_TRUE(parse_ip("0.0.0.0")->is_any());
    EXPECT_TRUE(parse_ip("::")->is_any());
    EXPECT_FALSE(parse_ip("::2")->is_loopback());
    for (const char* bad : {"", "1.2.3", "1.2.3.256", "[::1", "::1]", "localhost", "[]", "1::2::3"})
        EXPECT_FALSE(parse_ip(bad)) << bad;
    EXPECT_EQ(IpAddr{}.to_string(), "?") << "an unset address does not pretend to be one";
}

TEST(Record, KeysPeersAndHash) {
    SocketRecord a;
    a.family = AF_INET;
    a.local_addr = *parse_ip("127.0.0.1");
    a.local_port = 1000;
    a.remote_addr = *parse_ip("127.0.0.2");
    a.remote_port = 2000;
    SocketRecord b = a;
    std::swap(b.local_addr, b.remote_addr);
    std::swap(b.local_port, b.remote_port);
    EXPECT_EQ(peer_key(key_of(a)), key_of(b));
    EXPECT_EQ(peer_key(peer_key(key_of(a))), key_of(a));
    EXPECT_NE(key_of(a), key_of(b));
    SocketKeyHash h;
    EXPECT_EQ(h(key_of(a)), h(key_of(a)));
    EXPECT_NE(h(key_of(a)), h(key_of(b)));
    std::unordered_set<SocketKey, SocketKeyHash> set{key_of(a), key_of(b), key_of(a)};
    EXPECT_EQ(set.size(), 2u);
    SocketRecord u = a;
    u.proto = Proto::udp;
    EXPECT_NE(key_of(u), key_of(a));
}

TEST(Record, TimerNamesAreSs) {
    EXPECT_EQ(timer_name(TimerKind::none), "off");
    EXPECT_EQ(timer_name(TimerKind::retransmit), "on");
    EXPECT_EQ(timer_name(TimerKind::keepalive), "keepalive");
    EXPECT_EQ(timer_name(TimerKind::time_wait), "timewait");
    EXPECT_EQ(timer_name(TimerKind::zero_window_probe), "persist");
    EXPECT_EQ(timer_name(static_cast<TimerKind>(9)), "unknown");
}

TEST(Matches, QueryFields) {
    SocketRecord r;
    r.proto = Proto::tcp;
    r.family = AF_INET6;
    r.state = 1;
    r.local_port = 5;
    r.remote_port = 6;
    Query q;
    EXPECT_TRUE(matches(q, r));
    q.port = 6;
    EXPECT_TRUE(matches(q, r)) << "remote port counts";
    q.port = 7;
    EXPECT_FALSE(matches(q, r));
    q = Query{};
    q.ipv6 = false;
    EXPECT_FALSE(matches(q, r));
    q = Query{};
    q.tcp = false;
    EXPECT_FALSE(matches(q, r));
    q = Query{};
    q.states = state_bit(TcpState::listen);
    EXPECT_FALSE(matches(q, r));
}

// docs/contracts.md: proto, family, state, local_addr, local_port, remote_addr, remote_port, recv_q,
// send_q, inode, uid, timer, timer_ms, processes[{pid,command,user,fd}]; json.hpp adds cookie
// and tcp_info when the source has them.
const std::set<std::string> kDesignFields = {
    "proto",  "family", "state", "local_addr", "local_port", "remote_addr", "remote_port",
    "recv_q", "send_q", "inode", "uid",        "timer",      "timer_ms",    "processes"};

std::set<std::string> keys(const nlohmann::json& j) {
    std::set<std::string> k;
    for (auto it = j.begin(); it != j.end(); ++it) k.insert(it.key());
    return k;
}

TEST(Json, ExactlyTheDesignFields) {
    SocketRecord r;
    r.proto = Proto::udp;
    r.family = AF_INET6;
    r.state = 7;
    r.local_addr = *parse_ip("::1");
    r.local_port = 53;
    r.remote_addr = *parse_ip("::");
    r.inode = 99;
    r.uid = 1000;
    r.recv_q = 3;
    r.send_q = 4;
    const auto j = to_json(r);
    EXPECT_EQ(keys(j), kDesignFields) << j.dump();
    EXPECT_EQ(j["proto"], "udp");
    EXPECT_EQ(j["family"], "ipv6");
    EXPECT_EQ(j["state"], "UNCONN");
    EXPECT_EQ(j["local_addr"], "::1");
    EXPECT_EQ(j["local_port"], 53);
    EXPECT_EQ(j["remote_addr"], "::");
    EXPECT_EQ(j["remote_port"], 0);
    EXPECT_EQ(j["recv_q"], 3);
    EXPECT_EQ(j["send_q"], 4);
    EXPECT_EQ(j["inode"], 99);
    EXPECT_EQ(j["uid"], 1000);
    EXPECT_EQ(j["timer"], "off");
    EXPECT_EQ(j["timer_ms"], 0);
    EXPECT_TRUE(j["processes"].is_array());
    EXPECT_TRUE(j["processes"].empty());
}

// The fast writers give, value for value, the objects to_json() gives: every field of
// events drawn at random (fixed seed), both families, with and without the optional fields.
TEST(Json, TheFastWritersGiveWhatToJsonGives) {
    std::mt19937_64 rng(9293);
    const auto any = [&rng](std::uint64_t below) { return rng() % below; };
    const auto addr = [&any](bool v6) {
        return v6 ? *parse_ip("2001:db8::" + std::to_string(any(65536)))
                  : *parse_ip("127.0.0." + std::to_string(any(256)));
    };
    const auto name = [&any](auto& comm) {
        const char* names[] = {"python3", "a \"quoted\" one", "back\\slash", "tab\there", "\xec\xb1\x84\xed\x8c\x85"};
        std::snprintf(comm.data(), comm.size(), "%s", names[any(5)]);
    };
    for (int i = 0; i < 500; ++i) {
        const bool v6 = any(2) == 1;
        TransitionEvent e;
        e.time_ns = rng();
        e.pid = static_cast<std::int32_t>(any(1u << 22));
        name(e.comm);
        e.family = v6 ? AF_INET6 : AF_INET;
        e.local_addr = addr(v6);
        e.remote_addr = addr(v6);
        e.local_port = static_cast<std::uint16_t>(any(65536));
        e.remote_port = static_cast<std::uint16_t>(any(65536));
        e.old_state = static_cast<std::uint8_t>(any(14));
        e.new_state = static_cast<std::uint8_t>(any(14));
        e.old_state_ns = rng();
        e.skaddr = rng();
        e.cpu = static_cast<std::uint32_t>(any(512));
        std::string line;
        append_json(line, e);
        EXPECT_EQ(nlohmann::json::parse(line), to_json(e)) << line;
        line.clear();
        append_json(line, e, true);
        auto with_kind = to_json(e);
        with_kind["kind"] = "transition";
        EXPECT_EQ(nlohmann::json::parse(line), with_kind) << line;

        Segment s;
        s.time_ns = rng();
        s.family = e.family;
        s.src_addr = addr(v6);
        s.dst_addr = addr(v6);
        s.src_port = static_cast<std::uint16_t>(any(65536));
        s.dst_port = static_cast<std::uint16_t>(any(65536));
        s.flags = static_cast<std::uint8_t>(any(256));
        s.rel_seq = static_cast<std::uint32_t>(rng());
        s.rel_ack = static_cast<std::uint32_t>(rng());
        s.len = static_cast<std::uint32_t>(any(65536));
        s.win = static_cast<std::uint16_t>(any(65536));
        line.clear();
        append_json(line, s);
        EXPECT_EQ(nlohmann::json::parse(line), to_json(s)) << line;

        SyscallEvent c;
        c.time_ns = rng();
        c.pid = static_cast<std::int32_t>(any(1u << 22));
        c.tid = static_cast<std::int32_t>(any(1u << 22));
        name(c.comm);
        c.call = static_cast<SyscallKind>(any(kSyscallKinds));
        c.fd = static_cast<std::int32_t>(any(100)) - 1;
        c.result = static_cast<std::int64_t>(any(200)) - 100;
        if (c.result < 0) c.error = static_cast<std::int32_t>(-c.result);
        if (any(2)) c.key = SocketKey{};
        if (c.key) {
            c.key->local_port = static_cast<std::uint16_t>(any(65536));
            c.key->remote_port = static_cast<std::uint16_t>(any(65536));
        }
        line.clear();
        append_json(line, c);
        EXPECT_EQ(nlohmann::json::parse(line), to_json(c)) << line;
    }
}

TEST(Json, AStringOfAnyBytesStaysValidJson) {
    const auto written = [](std::string_view bytes) {
        std::string out;
        append_json_string(out, bytes);
        return out;
    };
    EXPECT_EQ(written("chat"), "\"chat\"");
    EXPECT_EQ(written("a\"b\\c"), "\"a\\\"b\\\\c\"");
    EXPECT_EQ(written(std::string_view("\x01\n\x7f", 3)), "\"\\u0001\\u000a\\u007f\"");
    // Korean as it is; a name the kernel cut inside a character gets U+FFFD for what is left.
    EXPECT_EQ(nlohmann::json::parse(written("\xec\xb1\x84\xed\x8c\x85")), "\xec\xb1\x84\xed\x8c\x85");
    EXPECT_EQ(nlohmann::json::parse(written("\xec\xb1\x84\xed\x8c")), "\xec\xb1\x84\xef\xbf\xbd\xef\xbf\xbd");
    // Not UTF-8 at all: an overlong '/', a surrogate, a lone continuation byte, 0xff.
    for (const std::string_view bad : {"\xc0\xaf", "\xed\xa0\x80", "\x80", "\xff"}) {
        const auto j = nlohmann::json::parse(written(bad));
        EXPECT_NE(j.get<std::string>().find("\xef\xbf\xbd"), std::string::npos) << written(bad);
    }
}

TEST(Json, ProcessesCookieAndTcpInfo) {
    SocketRecord r;
    r.family = AF_INET;
    r.state = 6;
    r.local_addr = *parse_ip("127.0.0.1");
    r.remote_addr = *parse_ip("127.0.0.1");
    r.timer = TimerKind::time_wait;
    r.timer_ms = 59000;
    r.cookie = 12345;
    r.tcp_info = TcpInfoLite{1, 2, 30, 40, 10, 0, 2};
    const ProcessRef owner{4321, 7, 0, "nc", "root"};
    const auto j = to_json(r, std::span(&owner, 1));
    auto expected = kDesignFields;
    expected.insert({"cookie", "tcp_info"});
    EXPECT_EQ(keys(j), expected) << j.dump();
    EXPECT_EQ(j["state"], "TIME_WAIT");
    EXPECT_EQ(j["family"], "ipv4");
    EXPECT_EQ(j["timer"], "timewait");
    EXPECT_EQ(j["timer_ms"], 59000);
    EXPECT_EQ(j["cookie"], 12345);
    ASSERT_EQ(j["processes"].size(), 1u);
    EXPECT_EQ(keys(j["processes"][0]), (std::set<std::string>{"pid", "command", "user", "fd"}));
    EXPECT_EQ(j["processes"][0]["pid"], 4321);
    EXPECT_EQ(j["processes"][0]["command"], "nc");
    EXPECT_EQ(j["processes"][0]["user"], "root");
    EXPECT_EQ(j["processes"][0]["fd"], 7);
    for (const char* f : {"rtt_us", "rttvar_us", "retransmits", "snd_cwnd"})
        EXPECT_TRUE(j["tcp_info"].contains(f)) << f;
    EXPECT_EQ(j["tcp_info"]["rtt_us"], 30);
    EXPECT_EQ(j["tcp_info"]["snd_cwnd"], 10);
}

TEST(Json, UnknownValuesStayReadable) {
    SocketRecord r;
    r.state = 77;
    r.family = 0;
    const auto j = to_json(r);
    EXPECT_EQ(j["state"], "UNKNOWN");
    EXPECT_EQ(j["family"], "unknown");
    EXPECT_EQ(j["local_addr"], "?");
    EXPECT_NO_THROW((void)j.dump());
}

}  // namespace
}  // namespace socklab

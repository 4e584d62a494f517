// The exporter's pure mapping (core/exporter): synthetic snapshots in, metric families out.
// Every expected number is counted from the records the test builds, never echoed.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "socklab/exporter.hpp"

namespace socklab::exporter {
namespace {

using Labels = std::map<std::string, std::string>;

using OwnerMap = std::map<std::uint64_t, std::vector<ProcessRef>>;

// Owners by inode from a map the test keeps alive.
OwnersOf owners_in(const OwnerMap& owners) {
    return [&owners](std::uint64_t inode) -> std::span<const ProcessRef> {
        const auto it = owners.find(inode);
        if (it == owners.end()) return {};
        return it->second;
    };
}

SocketRecord tcp(std::uint8_t state, const char* local, std::uint16_t lport, const char* remote,
                 std::uint16_t rport) {
    SocketRecord r;
    r.proto = Proto::tcp;
    r.family = AF_INET;
    r.state = state;
    r.local_addr = *parse_ip(local);
    r.local_port = lport;
    r.remote_addr = *parse_ip(remote);
    r.remote_port = rport;
    return r;
}

constexpr auto kEst = static_cast<std::uint8_t>(TcpState::established);
constexpr auto kListen = static_cast<std::uint8_t>(TcpState::listen);
constexpr auto kCloseWait = static_cast<std::uint8_t>(TcpState::close_wait);
constexpr auto kTimeWait = static_cast<std::uint8_t>(TcpState::time_wait);
constexpr auto kNewSynRecv = static_cast<std::uint8_t>(TcpState::new_syn_recv);

// The value of the one series of `name` whose labels are exactly `labels`.
std::optional<double> value(const std::vector<prometheus::MetricFamily>& fams,
                            const std::string& name, const Labels& labels) {
    std::optional<double> found;
    for (const auto& f : fams) {
        if (f.name != name) continue;
        for (const auto& m : f.metric) {
            Labels have;
            for (const auto& l : m.label) have[l.name] = l.value;
            if (have != labels) continue;
            EXPECT_FALSE(found) << "two series " << name << " with the same labels";
            found = f.type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value;
        }
    }
    return found;
}

std::size_t series(const std::vector<prometheus::MetricFamily>& fams, const std::string& name) {
    for (const auto& f : fams)
        if (f.name == name) return f.metric.size();
    return 0;
}

TEST(ExporterMapping, SocketsCountEveryStateAndShowZeros) {
    std::vector<SocketRecord> socks;
    socks.push_back(tcp(kListen, "0.0.0.0", 8080, "0.0.0.0", 0));
    for (std::uint16_t p = 40000; p < 40003; ++p)
        socks.push_back(tcp(kCloseWait, "127.0.0.1", 8080, "127.0.0.1", p));
    socks.push_back(tcp(kNewSynRecv, "127.0.0.1", 8080, "127.0.0.1", 40010));
    socks.push_back(tcp(static_cast<std::uint8_t>(TcpState::syn_recv), "127.0.0.1", 8080,
                        "127.0.0.1", 40011));
    SocketRecord udp = tcp(static_cast<std::uint8_t>(TcpState::close), "0.0.0.0", 53, "0.0.0.0", 0);
    udp.proto = Proto::udp;
    socks.push_back(udp);
    SocketInputs in;
    in.sockets = socks;
    const auto fams = socket_families(in);

    EXPECT_EQ(value(fams, "socklab_sockets", {{"proto", "tcp"}, {"state", "CLOSE_WAIT"}}), 3);
    EXPECT_EQ(value(fams, "socklab_sockets", {{"proto", "tcp"}, {"state", "LISTEN"}}), 1);
    // A request socket (NEW_SYN_RECV) is SYN_RECV, as ss counts it.
    EXPECT_EQ(value(fams, "socklab_sockets", {{"proto", "tcp"}, {"state", "SYN_RECV"}}), 2);
    EXPECT_EQ(value(fams, "socklab_sockets", {{"proto", "udp"}, {"state", "UNCONN"}}), 1);
    EXPECT_EQ(value(fams, "socklab_sockets", {{"proto", "udp"}, {"state", "ESTABLISHED"}}), 0);
    // Every TCP state ss shows is there, 0 when empty.
    for (const char* st : {"ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",
                           "TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING"})
        EXPECT_TRUE(value(fams, "socklab_sockets", {{"proto", "tcp"}, {"state", st}})) << st;
    EXPECT_EQ(series(fams, "socklab_sockets"), 13u);
    EXPECT_EQ(value(fams, "socklab_sockets", {{"proto", "tcp"}, {"state", "TIME_WAIT"}}), 0);
    // No owners function: no per-process family.
    EXPECT_EQ(series(fams, "socklab_process_sockets"), 0u);
}

TEST(ExporterMapping, PortKeyIsTheServicePortAndTheSide) {
    const std::vector<std::uint16_t> listening{8080};
    const PortRange eph{32768, 60999};
    // Accepted connection and the listener: local side.
    EXPECT_EQ(port_key(tcp(kEst, "127.0.0.1", 8080, "127.0.0.1", 45000), listening, eph),
              (PortKey{8080, true}));
    EXPECT_EQ(port_key(tcp(kListen, "0.0.0.0", 9999, "0.0.0.0", 0), listening, eph),
              (PortKey{9999, true}));
    // The client end of a loopback connection to our own listener, even on an ephemeral port.
    EXPECT_EQ(port_key(tcp(kEst, "127.0.0.1", 45000, "127.0.0.1", 8080), listening, eph),
              (PortKey{8080, false}));
    const std::vector<std::uint16_t> eph_listener{50000};
    EXPECT_EQ(port_key(tcp(kEst, "127.0.0.1", 45000, "127.0.0.1", 50000), eph_listener, eph),
              (PortKey{50000, false}));
    // No listener on either port: the end outside the ephemeral range is the service.
    EXPECT_EQ(port_key(tcp(kTimeWait, "10.0.0.1", 50123, "10.0.0.2", 5432), listening, eph),
              (PortKey{5432, false}));
    EXPECT_EQ(port_key(tcp(kTimeWait, "10.0.0.1", 443, "10.0.0.2", 50123), listening, eph),
              (PortKey{443, true}));
    // Both ephemeral, or neither: the local port.
    EXPECT_EQ(port_key(tcp(kTimeWait, "10.0.0.1", 50123, "10.0.0.2", 50124), listening, eph),
              (PortKey{50123, true}));
}

TEST(ExporterMapping, PerPortCountsAndOldestAges) {
    std::vector<SocketRecord> socks;
    socks.push_back(tcp(kListen, "0.0.0.0", 8080, "0.0.0.0", 0));
    auto tw1 = tcp(kTimeWait, "127.0.0.1", 8080, "127.0.0.1", 41000);
    tw1.timer = TimerKind::time_wait;
    tw1.timer_ms = 45'250;  // 14.75 s old
    auto tw2 = tw1;
    tw2.remote_port = 41001;
    tw2.timer_ms = 59'000;  // 1 s old
    socks.push_back(tw1);
    socks.push_back(tw2);
    const auto cw1 = tcp(kCloseWait, "127.0.0.1", 8080, "127.0.0.1", 42000);
    auto cw2 = cw1;
    cw2.remote_port = 42001;
    socks.push_back(cw1);

    FirstSeen seen(kCloseWait);
    seen.update(socks, 1'000'000'000);  // cw1 first seen at 1 s
    socks.push_back(cw2);
    seen.update(socks, 8'000'000'000);  // cw2 first seen at 8 s; cw1 kept at 1 s
    EXPECT_EQ(seen.size(), 2u);

    SocketInputs in;
    in.sockets = socks;
    in.close_wait = &seen;
    in.now_ns = 11'500'000'000;
    const auto fams = socket_families(in);
    const Labels port{{"port", "8080"}, {"side", "local"}};
    auto with = [](Labels l, const char* state) {
        l["state"] = state;
        return l;
    };
    EXPECT_EQ(value(fams, "socklab_port_sockets", with(port, "TIME_WAIT")), 2);
    EXPECT_EQ(value(fams, "socklab_port_sockets", with(port, "CLOSE_WAIT")), 2);
    EXPECT_EQ(value(fams, "socklab_port_sockets", with(port, "LISTEN")), 1);
    EXPECT_EQ(value(fams, "socklab_port_sockets", with(port, "ESTABLISHED")), 0);
    EXPECT_DOUBLE_EQ(*value(fams, "socklab_port_oldest_seconds", with(port, "TIME_WAIT")), 14.75);
    EXPECT_DOUBLE_EQ(*value(fams, "socklab_port_oldest_seconds", with(port, "CLOSE_WAIT")), 10.5);

    // cw1 leaves CLOSE_WAIT: it is forgotten; seen again later, its clock starts again.
    socks.erase(socks.begin() + 3);
    seen.update(socks, 12'000'000'000);
    EXPECT_EQ(seen.size(), 1u);
    EXPECT_FALSE(seen.since(cw1));
    socks.push_back(cw1);
    seen.update(socks, 13'000'000'000);
    EXPECT_EQ(seen.since(cw1), 13'000'000'000u);
    EXPECT_EQ(seen.since(cw2), 8'000'000'000u);
}

TEST(ExporterMapping, PortsBeyondTheLimitAreSummedUnderOther) {
    std::vector<SocketRecord> socks;
    // Per port: its listener and some CLOSE_WAIT. Totals 7001: 3, 7002: 2, 7003: 1, 7004: 1.
    const std::map<std::uint16_t, int> close_waits{{7001, 2}, {7002, 1}, {7003, 0}, {7004, 0}};
    std::uint16_t peer = 40000;
    for (const auto& [port, n] : close_waits) {
        socks.push_back(tcp(kListen, "0.0.0.0", port, "0.0.0.0", 0));
        for (int i = 0; i < n; ++i) socks.push_back(tcp(kCloseWait, "127.0.0.1", port, "127.0.0.1", peer++));
    }
    SocketInputs in;
    in.sockets = socks;
    in.limits.ports = 2;
    const auto fams = socket_families(in);
    auto cw = [](const char* port) {
        return Labels{{"port", port}, {"side", "local"}, {"state", "CLOSE_WAIT"}};
    };
    EXPECT_EQ(value(fams, "socklab_port_sockets", cw("7001")), 2);
    EXPECT_EQ(value(fams, "socklab_port_sockets", cw("7002")), 1);
    EXPECT_FALSE(value(fams, "socklab_port_sockets", cw("7003")));
    EXPECT_FALSE(value(fams, "socklab_port_sockets", cw("7004")));
    EXPECT_EQ(value(fams, "socklab_port_sockets",
                    {{"port", "other"}, {"side", "local"}, {"state", "LISTEN"}}),
              2);
    // Bounded: (2 ports + other) x 11 states.
    EXPECT_EQ(series(fams, "socklab_port_sockets"), 33u);
}

TEST(ExporterMapping, ListenersQueueBacklogAndTheirBound) {
    std::vector<SocketRecord> socks;
    auto l1 = tcp(kListen, "127.0.0.1", 9001, "0.0.0.0", 0);
    l1.recv_q = 5;
    l1.send_q = 4;
    auto l2 = l1;  // SO_REUSEPORT twin
    l2.recv_q = 1;
    auto l3 = tcp(kListen, "0.0.0.0", 9002, "0.0.0.0", 0);
    l3.send_q = 128;
    auto l4 = tcp(kListen, "0.0.0.0", 9003, "0.0.0.0", 0);
    l4.send_q = 10;
    socks = {l1, l2, l3, l4};
    SocketInputs in;
    in.sockets = socks;
    in.limits.listeners = 2;
    const auto fams = socket_families(in);
    const Labels a{{"addr", "127.0.0.1"}, {"port", "9001"}};
    EXPECT_EQ(value(fams, "socklab_listener_accept_queue", a), 6);
    EXPECT_EQ(value(fams, "socklab_listener_backlog", a), 8);
    EXPECT_EQ(value(fams, "socklab_listener_sockets", a), 2);
    // Equal queues (0): the smaller port stays, the other is summed.
    EXPECT_EQ(value(fams, "socklab_listener_backlog", {{"addr", "0.0.0.0"}, {"port", "9002"}}), 128);
    EXPECT_EQ(value(fams, "socklab_listener_backlog", {{"addr", "other"}, {"port", "other"}}), 10);
    EXPECT_EQ(series(fams, "socklab_listener_backlog"), 3u);
}

TEST(ExporterMapping, ProcessesCountEachSocketOncePerProcess) {
    auto a = tcp(kEst, "127.0.0.1", 8080, "127.0.0.1", 40000);
    a.inode = 11;
    auto b = tcp(kCloseWait, "127.0.0.1", 8080, "127.0.0.1", 40001);
    b.inode = 12;
    auto c = tcp(kEst, "127.0.0.1", 8080, "127.0.0.1", 40002);
    c.inode = 13;
    auto tw = tcp(kTimeWait, "127.0.0.1", 8080, "127.0.0.1", 40003);  // inode 0: nobody's
    const std::vector<SocketRecord> socks{a, b, c, tw};
    // Socket 11: pid 100 twice (dup'ed fd) and pid 200 (inherited); 12: pid 100; 13: pid 300.
    const OwnerMap owners{
        {11, {{100, 3, 0, "srv", "root"}, {100, 7, 0, "srv", "root"}, {200, 3, 0, "srv", "root"}}},
        {12, {{100, 4, 0, "srv", "root"}}},
        {13, {{300, 5, 0, "\xC3(" "bad", "root"}}},
    };
    SocketInputs in;
    in.sockets = socks;
    in.owners = owners_in(owners);
    in.limits.processes = 2;
    const auto fams = socket_families(in);
    auto p = [](const char* pid, const char* cmd, const char* state) {
        return Labels{{"pid", pid}, {"command", cmd}, {"proto", "tcp"}, {"state", state}};
    };
    EXPECT_EQ(value(fams, "socklab_process_sockets", p("100", "srv", "ESTABLISHED")), 1);
    EXPECT_EQ(value(fams, "socklab_process_sockets", p("100", "srv", "CLOSE_WAIT")), 1);
    // Ties (1 socket each): the smaller pid stays, 300 goes to "other" with its command.
    EXPECT_EQ(value(fams, "socklab_process_sockets", p("200", "srv", "ESTABLISHED")), 1);
    EXPECT_EQ(value(fams, "socklab_process_sockets", p("other", "other", "ESTABLISHED")), 1);
    EXPECT_EQ(series(fams, "socklab_process_sockets"), 4u);
}

TEST(ExporterMapping, TransitionsCountedByStatePair) {
    TransitionCounts counts;
    TransitionEvent e;
    e.old_state = kEst;
    e.new_state = kCloseWait;
    counts.add(e);
    counts.add(e);
    e.old_state = static_cast<std::uint8_t>(TcpState::syn_recv);
    e.new_state = kEst;
    counts.add(e);
    e.old_state = 200;  // out of range: counted apart, never indexed
    counts.add(e);
    EXPECT_EQ(counts.out_of_range(), 1u);
    const auto fams = tracer_families({true, &counts, 7});
    EXPECT_EQ(value(fams, "socklab_tracer_active", {}), 1);
    EXPECT_EQ(value(fams, "socklab_transitions_total", {{"from", "ESTABLISHED"}, {"to", "CLOSE_WAIT"}}), 2);
    EXPECT_EQ(value(fams, "socklab_transitions_total", {{"from", "SYN_RECV"}, {"to", "ESTABLISHED"}}), 1);
    EXPECT_EQ(series(fams, "socklab_transitions_total"), 2u);
    EXPECT_EQ(value(fams, "socklab_tracer_lost_events_total", {}), 7);

    const auto off = tracer_families({false, nullptr, 0});
    EXPECT_EQ(value(off, "socklab_tracer_active", {}), 0);
    EXPECT_EQ(series(off, "socklab_transitions_total"), 0u);
}

TEST(ExporterMapping, CommandLabelsAreValidUtf8) {
    // "x서버서버서" cut by the kernel at 15 bytes, inside its last syllable, and a name that is
    // not text at all: each label is valid UTF-8, what was whole kept as it was.
    std::vector<SocketRecord> socks{tcp(kEst, "127.0.0.1", 8080, "127.0.0.1", 50000),
                                    tcp(kEst, "127.0.0.1", 8081, "127.0.0.1", 50001)};
    socks[0].inode = 21;
    socks[1].inode = 22;
    const OwnerMap owners{
        {21, {{400, 3, 0, "x\xEC\x84\x9C\xEB\xB2\x84\xEC\x84\x9C\xEB\xB2\x84\xEC\x84", "root"}}},
        {22, {{401, 3, 0, "a\xFFz\xC0\xAF", "root"}}},
    };
    SocketInputs in;
    in.sockets = socks;
    in.owners = owners_in(owners);
    const auto fams = socket_families(in);
    const auto labels = [](const char* pid, const std::string& cmd) {
        return Labels{{"pid", pid}, {"command", cmd}, {"proto", "tcp"}, {"state", "ESTABLISHED"}};
    };
    EXPECT_EQ(value(fams, "socklab_process_sockets",
                    labels("400", "x\xEC\x84\x9C\xEB\xB2\x84\xEC\x84\x9C\xEB\xB2\x84\xEF\xBF\xBD\xEF\xBF\xBD")),
              1);  // x서버서버, then the two bytes of the cut 서
    EXPECT_EQ(value(fams, "socklab_process_sockets",
                    labels("401", "a\xEF\xBF\xBDz\xEF\xBF\xBD\xEF\xBF\xBD")),
              1);
}

TEST(ExporterMapping, SerializedTextHasEveryFamilyOnce) {
    std::vector<SocketRecord> socks{tcp(kListen, "0.0.0.0", 8080, "0.0.0.0", 0)};
    SocketInputs in;
    in.sockets = socks;
    in.owners = [](std::uint64_t) { return std::span<const ProcessRef>{}; };
    auto fams = socket_families(in);
    for (auto& f : cost_families({0.001, 0.002, 0.0005, 1, 0, true})) fams.push_back(std::move(f));
    std::ostringstream text;
    prometheus::TextSerializer().Serialize(text, fams);
    for (const char* name :
         {"socklab_sockets", "socklab_port_sockets", "socklab_port_oldest_seconds",
          "socklab_listener_accept_queue", "socklab_listener_backlog", "socklab_listener_sockets",
          "socklab_process_sockets", "socklab_scrape_ok", "socklab_scrape_duration_seconds",
          "socklab_scrape_sockets", "socklab_scrape_unreadable_processes"}) {
        const std::string type = std::string("# TYPE ") + name + " gauge\n";
        const auto at = text.str().find(type);
        ASSERT_NE(at, std::string::npos) << name;
        EXPECT_EQ(text.str().find(type, at + 1), std::string::npos) << name;
    }
}

TEST(ListenAddress, AcceptsNumericAddressesOnly) {
    struct Case {
        const char* text;
        std::optional<std::string> canonical;  // nullopt: refused
    };
    const std::vector<Case> cases{
        {"127.0.0.1:9469", "127.0.0.1:9469"},
        {"0.0.0.0:0", "0.0.0.0:0"},
        {"[::1]:9469", "[::1]:9469"},
        {"[::]:65535", "[::]:65535"},
        {"127.0.0.1:65536", std::nullopt},
        {"127.0.0.1:", std::nullopt},
        {"127.0.0.1", std::nullopt},
        {":9469", std::nullopt},
        {"localhost:9469", std::nullopt},
        {"::1:9469", std::nullopt},
        {"[127.0.0.1]:9469", std::nullopt},
        {"127.0.0.1:9469,8080", std::nullopt},
        {"127.0.0.1:+80", std::nullopt},
        {"127.0.0.1:123456", std::nullopt},
        {"[::1]x:80", std::nullopt},
        {"1.2.3:80", std::nullopt},
    };
    for (const auto& c : cases) {
        std::string why;
        const auto got = parse_listen_address(c.text, &why);
        ASSERT_EQ(got.has_value(), c.canonical.has_value()) << c.text;
        if (got) {
            EXPECT_EQ(got->to_string(), *c.canonical);
        } else {
            EXPECT_FALSE(why.empty()) << c.text;
        }
    }
    // An embedded NUL must not cut the text short.
    EXPECT_FALSE(parse_listen_address(std::string_view("127.0.0.1\0:80", 13)));
}

}  // namespace
}  // namespace socklab::exporter

// ss as an oracle: inside a private network namespace, build a varied population (listeners,
// established pairs, CLOSE_WAIT/FIN_WAIT2, TIME_WAIT, SYN_SENT, SYN_RECV, FIN_WAIT1, UDP,
// IPv6, v4-mapped), then the set of (proto, state, local, remote) that socklab reports must
// equal what `ss -tuanH` prints.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "population.hpp"
#include "socklab/source.hpp"
#include "ss.hpp"
#include "testsupport.hpp"

namespace socklab {
namespace {

using namespace socklab::test;

// One row as both sides can say it: protocol, state (our spelling), local and remote
// endpoints with the address normalised (see endpoint()).
using Row = std::tuple<std::string, std::string, std::string, std::string>;

// "0.0.0.0", "::" and ss's "*" are all "*": ss prints a dual-stack wildcard as "*" and an
// IPv6-only one as "[::]", which socklab cannot (and need not) tell apart by address alone.
std::string norm_addr(std::string a) {
    if (a.size() >= 2 && a.front() == '[' && a.back() == ']') a = a.substr(1, a.size() - 2);
    if (const auto pct = a.find('%'); pct != std::string::npos) a.resize(pct);  // "%lo"
    if (a == "*" || a == "0.0.0.0" || a == "::") return "*";
    return a;
}

std::string endpoint(const std::string& addr, std::uint16_t port) {
    return norm_addr(addr) + ":" + (port == 0 ? std::string("*") : std::to_string(port));
}

// ss prints "127.0.0.1:5001", "[::ffff:127.0.0.1]:6002", "*:6002", "0.0.0.0:*".
std::string ss_endpoint(const std::string& text) {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos) throw std::runtime_error("ss endpoint without ':': " + text);
    const auto port = text.substr(colon + 1);
    return norm_addr(text.substr(0, colon)) + ":" + (port == "0" ? "*" : port);
}

std::multiset<Row> from_records(const std::vector<SocketRecord>& recs) {
    std::multiset<Row> rows;
    for (const auto& r : recs)
        rows.emplace(std::string(proto_name(r.proto)), std::string(r.state_name()),
                     endpoint(r.local_addr.to_string(), r.local_port),
                     endpoint(r.remote_addr.to_string(), r.remote_port));
    return rows;
}

std::multiset<Row> from_json(const nlohmann::json& list) {
    std::multiset<Row> rows;
    for (const auto& r : list)
        rows.emplace(r.at("proto").get<std::string>(), r.at("state").get<std::string>(),
                     endpoint(r.at("local_addr").get<std::string>(),
                              r.at("local_port").get<std::uint16_t>()),
                     endpoint(r.at("remote_addr").get<std::string>(),
                              r.at("remote_port").get<std::uint16_t>()));
    return rows;
}

std::string dump(const std::multiset<Row>& rows) {
    std::string s;
    for (const auto& [p, st, l, r] : rows) s += "  " + p + " " + st + " " + l + " " + r + "\n";
    return s;
}

// What one side has that the other lacks, for a readable failure.
std::string diff(const std::multiset<Row>& want, const std::multiset<Row>& got) {
    std::multiset<Row> missing, extra;
    std::set_difference(want.begin(), want.end(), got.begin(), got.end(),
                        std::inserter(missing, missing.end()));
    std::set_difference(got.begin(), got.end(), want.begin(), want.end(),
                        std::inserter(extra, extra.end()));
    return "only in ss:\n" + dump(missing) + "only in socklab:\n" + dump(extra);
}

std::multiset<Row> ss_all() {
    std::multiset<Row> rows;
    for (const auto& r : ss_rows()) rows.emplace(r.proto, r.state, ss_endpoint(r.local), ss_endpoint(r.peer));
    return rows;
}

void expect_variety(const std::multiset<Row>& rows) {
    std::set<std::string> states;
    for (const auto& r : rows) states.insert(std::get<0>(r) + " " + std::get<1>(r));
    for (const char* s : {"tcp LISTEN", "tcp ESTABLISHED", "tcp SYN_SENT", "tcp SYN_RECV",
                          "tcp FIN_WAIT1", "tcp FIN_WAIT2", "tcp CLOSE_WAIT", "tcp TIME_WAIT",
                          "udp UNCONN", "udp ESTABLISHED"})
        EXPECT_TRUE(states.count(s)) << "the population lacks " << s;
    EXPECT_GE(rows.size(), 30u);
}

TEST(Oracle, SourcesMatchSs) {
    SOCKLAB_REQUIRE_ROOT();
    PrivateNetns ns;
    const auto pop = population::build();
    const auto ss = ss_all();
    expect_variety(ss);

    auto nl = make_netlink_source();
    const auto mine = from_records(nl->snapshot(Query{}).sockets);
    EXPECT_EQ(mine, ss) << diff(ss, mine);

    // /proc/thread-self: /proc/net follows the main thread's namespace, not this thread's.
    auto proc = make_proc_source("/proc/thread-self");
    const auto from_proc = from_records(proc->snapshot(Query{}).sockets);
    EXPECT_EQ(from_proc, ss) << diff(ss, from_proc);
}

TEST(Oracle, ListJsonMatchesSs) {
    SOCKLAB_REQUIRE_ROOT();
    PrivateNetns ns;
    const auto pop = population::build();
    const auto ss = ss_all();
    const auto res = run_command({bin("socklab"), "list", "--json"});
    ASSERT_EQ(res.exit_code, 0) << res.err;
    nlohmann::json list;
    ASSERT_NO_THROW(list = nlohmann::json::parse(res.out)) << res.out.substr(0, 400);
    ASSERT_TRUE(list.is_array()) << res.out.substr(0, 400);
    const auto mine = from_json(list);
    EXPECT_EQ(mine, ss) << diff(ss, mine);
    expect_variety(mine);
}

// `socklab list` as text, the way people read it: every row, parsed back by its columns, is
// a row of ss. 2,000 TIME_WAIT sockets on top of the population make the table several
// times the 64 KiB output chunk, so rows that straddle a chunk's end are checked too.
TEST(Oracle, ListTextMatchesSs) {
    SOCKLAB_REQUIRE_ROOT();
    PrivateNetns ns;
    const auto pop = population::build();
    {
        const UniqueFd listener = tcp_listen("127.0.0.1", 0);
        const auto port = local_port(listener.get());
        for (int i = 0; i < 2000; ++i) {
            const UniqueFd client = tcp_connect("127.0.0.1", port);
            const UniqueFd server = tcp_accept(listener.get());
            // Both close here, the server first (declared last): its end keeps TIME_WAIT.
        }
    }
    auto source = make_netlink_source();
    Query tw;
    tw.udp = false;
    tw.states = state_bit(TcpState::time_wait);
    ASSERT_TRUE(wait_until([&] { return source->snapshot(tw).sockets.size() >= 2000; }))
        << "the 2,000 TIME_WAIT sockets did not all appear";

    const auto ss = ss_all();
    const auto res = run_command({bin("socklab"), "list"});
    ASSERT_EQ(res.exit_code, 0) << res.err;
    ASSERT_GT(res.out.size(), 2 * 64 * 1024u) << "the table is smaller than two output chunks";
    std::istringstream in(res.out);
    std::string line;
    ASSERT_TRUE(std::getline(in, line));
    EXPECT_EQ(line.rfind("Netid State", 0), 0u) << line;
    std::multiset<Row> mine;
    for (std::size_t n = 2; std::getline(in, line); ++n) {
        std::istringstream f(line);
        std::string proto, state, rq, sq, local, peer, rest;
        ASSERT_TRUE(f >> proto >> state >> rq >> sq >> local >> peer) << "line " << n << ": " << line;
        EXPECT_FALSE(f >> rest) << "line " << n << " has more columns than asked for: " << line;
        mine.emplace(proto, state, ss_endpoint(local), ss_endpoint(peer));
    }
    EXPECT_EQ(mine.size(), ss.size());
    EXPECT_EQ(mine, ss) << diff(ss, mine);
}

}  // namespace
}  // namespace socklab

// The pure half of `socklab run` / `socklab check` (core/src/program.cpp) on constructed
// sequences of polls, traced transitions, calls and data counts: each finding appears when
// the evidence is there and not when it is one step short of it.
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "socklab/program.hpp"
#include "socklab/state.hpp"

namespace socklab::program {
namespace {

constexpr std::uint64_t kS = 1'000'000'000;
constexpr std::uint16_t kServer = 9000, kPeer = 41022;

std::uint8_t st(TcpState s) { return static_cast<std::uint8_t>(s); }

SocketRecord record(std::uint64_t inode, TcpState state, std::uint16_t remote = kPeer) {
    SocketRecord r;
    r.family = AF_INET;
    r.state = st(state);
    r.local_addr = *parse_ip("127.0.0.1");
    r.local_port = kServer;
    if (state != TcpState::listen) {
        r.remote_addr = *parse_ip("127.0.0.1");
        r.remote_port = remote;
    } else {
        r.remote_addr = *parse_ip("0.0.0.0");
    }
    r.inode = inode;
    return r;
}

Observation poll_at(std::uint64_t t, std::vector<HeldSocket> held) {
    Observation o;
    o.time_ns = t;
    o.sockets = std::move(held);
    return o;
}

TransitionEvent transition(std::uint64_t t, TcpState from, TcpState to) {
    TransitionEvent e;
    e.time_ns = t;
    e.family = AF_INET;
    e.protocol = IPPROTO_TCP;
    e.local_addr = *parse_ip("127.0.0.1");
    e.remote_addr = *parse_ip("127.0.0.1");
    e.local_port = kServer;
    e.remote_port = kPeer;
    e.old_state = st(from);
    e.new_state = st(to);
    return e;
}

std::multiset<FindingKind> kinds(const Report& r) {
    std::multiset<FindingKind> k;
    for (const auto& f : r.findings) k.insert(f.kind);
    return k;
}

const Finding* find(const Report& r, FindingKind k) {
    for (const auto& f : r.findings)
        if (f.kind == k) return &f;
    return nullptr;
}

// A server: listener fd 3, one connection fd 4 whose peer closes at 1 s.
Input leaking_server(std::uint64_t last_poll_s) {
    Input in;
    in.root_pid = 100;
    in.polls.push_back(poll_at(0, {{100, 3, record(10, TcpState::listen)},
                                   {100, 4, record(11, TcpState::established)}}));
    for (std::uint64_t s = 1; s <= last_poll_s; ++s)
        in.polls.push_back(poll_at(s * kS, {{100, 3, record(10, TcpState::listen)},
                                            {100, 4, record(11, TcpState::close_wait)}}));
    in.end_ns = last_poll_s * kS + kS / 2;
    in.ending.stopped_by_us = true;
    return in;
}

TEST(ProgramAnalysis, CloseWaitHeldLongIsALeakWithPidFdAndSeconds) {
    const auto r = analyse(leaking_server(4));
    const auto* f = find(r, FindingKind::close_wait_leak);
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->pid, 100);
    EXPECT_EQ(f->fd, 4);
    EXPECT_EQ(f->local_port, kServer);
    EXPECT_EQ(f->remote_port, kPeer);
    ASSERT_TRUE(f->seconds);
    EXPECT_NEAR(*f->seconds, 3.5, 1e-9);  // from the first poll in CLOSE_WAIT to the end
    // Polling only: said so, and no finding that needs the tracer.
    EXPECT_FALSE(r.missing.empty());
    EXPECT_EQ(find(r, FindingKind::recv_zero_loop), nullptr);
    // The listener is open at the end; the leaked socket is not reported twice.
    EXPECT_EQ(kinds(r).count(FindingKind::open_at_exit), 1u);
    EXPECT_EQ(find(r, FindingKind::open_at_exit)->fd, 3);
}

TEST(ProgramAnalysis, CloseWaitShorterThanTheThresholdIsNot) {
    auto in = leaking_server(1);
    in.end_ns = 1 * kS + kS / 2;  // 1.5 s < 2 s
    EXPECT_EQ(find(analyse(in), FindingKind::close_wait_leak), nullptr);
    // A socket the program closed 0.5 s after the peer did is fine, however long the run.
    auto closed = leaking_server(1);
    closed.polls.push_back(poll_at(kS + kS / 2, {{100, 3, record(10, TcpState::listen)}}));
    closed.polls.push_back(poll_at(10 * kS, {{100, 3, record(10, TcpState::listen)}}));
    closed.end_ns = 10 * kS;
    const auto r = analyse(closed);
    EXPECT_EQ(find(r, FindingKind::close_wait_leak), nullptr);
    EXPECT_TRUE(std::any_of(r.sockets.begin(), r.sockets.end(),
                            [](const SocketLife& l) { return l.inode == 11 && l.closed_by_program; }));
}

TEST(ProgramAnalysis, TracedTransitionTimesTheCloseWait) {
    auto in = leaking_server(4);
    in.traced = true;
    in.streams_seen = true;
    in.transitions.push_back(transition(kS / 4, TcpState::established, TcpState::close_wait));
    const auto r = analyse(in);
    ASSERT_NE(find(r, FindingKind::close_wait_leak), nullptr);
    EXPECT_NEAR(*find(r, FindingKind::close_wait_leak)->seconds, 4.25, 1e-9);
    EXPECT_TRUE(r.missing.empty());
    const auto& life = *std::find_if(r.sockets.begin(), r.sockets.end(),
                                     [](const SocketLife& l) { return l.inode == 11; });
    EXPECT_EQ(life.states, (std::vector<std::uint8_t>{st(TcpState::established), st(TcpState::close_wait)}));
}

TEST(ProgramAnalysis, RecvZeroLoopNeedsTheCount) {
    auto in = leaking_server(1);
    DataOnSocket d;
    d.inode = 11;
    d.pid = 100;
    d.tid = 104;
    d.fd = 4;
    d.counts.receives = 5001;
    d.counts.receive_zero = 5000;
    in.data.push_back(d);
    auto r = analyse(in);
    const auto* f = find(r, FindingKind::recv_zero_loop);
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->pid, 100);
    EXPECT_EQ(f->tid, 104);
    EXPECT_EQ(f->fd, 4);
    EXPECT_EQ(f->count, 5000u);
    EXPECT_EQ(f->local_port, kServer);
    in.data[0].counts.receive_zero = 1;  // one end-of-stream read, then close: correct
    EXPECT_EQ(find(analyse(in), FindingKind::recv_zero_loop), nullptr);
}

Input connection_then(std::vector<TransitionEvent> events, std::vector<SyscallEvent> calls) {
    Input in;
    in.root_pid = 100;
    in.traced = true;
    in.polls.push_back(poll_at(0, {{100, 4, record(11, TcpState::established)}}));
    in.polls.push_back(poll_at(3 * kS, {}));
    in.transitions = std::move(events);
    in.calls = std::move(calls);
    in.end_ns = 4 * kS;
    in.ending.exited = true;
    return in;
}

SyscallEvent call(SyscallKind k, std::uint64_t enter, std::uint64_t exit, int fd, long result,
                  std::uint64_t inode = 11, int err = 0) {
    SyscallEvent c;
    c.call = k;
    c.enter_ns = enter;
    c.time_ns = exit;
    c.pid = 100;
    c.tid = 100;
    c.fd = fd;
    c.result = result;
    c.error = err;
    c.inode = inode;
    return c;
}

TEST(ProgramAnalysis, ResetsSentAndReceivedAreToldApart) {
    // ESTABLISHED -> CLOSE inside the program's close(): its close() sent the RST.
    auto sent = analyse(connection_then({transition(kS + 10, TcpState::established, TcpState::close)},
                                        {call(SyscallKind::close, kS, kS + 20, 4, 0)}));
    EXPECT_EQ(kinds(sent), (std::multiset<FindingKind>{FindingKind::rst_sent}));
    // The same transition with no close() around it: the peer's RST.
    auto received = analyse(connection_then(
        {transition(kS, TcpState::established, TcpState::close)},
        {call(SyscallKind::close, 2 * kS, 2 * kS + 20, 4, 0)}));
    EXPECT_EQ(kinds(received), (std::multiset<FindingKind>{FindingKind::rst_received}));
    EXPECT_EQ(received.findings[0].fd, 4);
    EXPECT_EQ(received.findings[0].remote_port, kPeer);
    // After the last poll of a program that ended: its exit closing the descriptor sent the
    // RST when the transition ran in the program's task, the peer did when it ran in another.
    auto at_exit = connection_then({transition(3 * kS + 5, TcpState::established, TcpState::close)}, {});
    at_exit.polls.pop_back();
    at_exit.transitions[0].pid = 100;
    const auto own_exit = analyse(at_exit);
    EXPECT_EQ(kinds(own_exit).count(FindingKind::rst_sent), 1u);
    EXPECT_EQ(kinds(own_exit).count(FindingKind::rst_received), 0u);
    at_exit.transitions[0].pid = 555;  // the peer's task
    const auto peer_reset = analyse(at_exit);
    EXPECT_EQ(kinds(peer_reset).count(FindingKind::rst_received), 1u);
    EXPECT_EQ(kinds(peer_reset).count(FindingKind::rst_sent), 0u);
    // An orderly passive close is no reset.
    auto orderly = analyse(connection_then(
        {transition(kS, TcpState::established, TcpState::close_wait),
         transition(kS + 5, TcpState::close_wait, TcpState::last_ack),
         transition(kS + 9, TcpState::last_ack, TcpState::close)},
        {call(SyscallKind::close, kS + 1, kS + 6, 4, 0)}));
    EXPECT_TRUE(orderly.findings.empty());
}

// The program ended before its calls were read: its accepts have no inode (/proc had no
// link left) and no name. The accept queue names them, in order, from the transitions: the
// peer's reset is still told, on the right descriptor, and the inode is said to be unknown.
TEST(ProgramAnalysis, AcceptsUnnamedByProcAreNamedByTheAcceptQueue) {
    Input in;
    in.root_pid = 100;
    in.traced = true;
    in.ending.exited = true;
    in.end_ns = 3 * kS;
    auto listen = call(SyscallKind::listen, 10, 20, 3, 0, 10);
    listen.key = SocketKey{};
    listen.key->family = AF_INET;
    listen.key->local_addr = *parse_ip("127.0.0.1");
    listen.key->local_port = kServer;
    auto established = [](std::uint64_t t, std::uint16_t peer) {
        auto e = transition(t, TcpState::syn_recv, TcpState::established);
        e.remote_port = peer;
        return e;
    };
    in.transitions = {established(100, kPeer), established(110, kPeer + 1)};
    auto reset = transition(2 * kS, TcpState::established, TcpState::close);
    reset.remote_port = kPeer + 1;
    reset.pid = 555;  // the peer's task
    in.transitions.push_back(reset);
    in.calls = {listen, call(SyscallKind::accept4, 50, 200, 3, 7, 0), call(SyscallKind::accept4, 210, 220, 3, 8, 0)};
    const auto r = analyse(in);
    const auto* f = find(r, FindingKind::rst_received);
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->fd, 8);  // the second accept took the second connection
    EXPECT_EQ(f->remote_port, kPeer + 1);
    std::set<int> unknown_inode_fds;
    for (const auto& life : r.sockets)
        if (life.inode == 0) unknown_inode_fds.insert(life.fd);
    EXPECT_EQ(unknown_inode_fds, (std::set<int>{7, 8}));
    // An accept that returned before any connection was established names none.
    in.calls[1].time_ns = 90;
    in.calls[2].time_ns = 95;
    EXPECT_EQ(find(analyse(in), FindingKind::rst_received), nullptr);
}

TEST(ProgramAnalysis, FailedCallsAndTheEnding) {
    Input in;
    in.root_pid = 100;
    in.traced = true;
    in.end_ns = kS;
    in.ending.exited = true;
    in.ending.signal = SIGPIPE;
    in.port_hint = 9000;
    in.bind_diagnosis = "1 socket(s) in TIME_WAIT on port 9000";
    in.calls.push_back(call(SyscallKind::bind, 1, 2, 3, -EADDRINUSE, 0, EADDRINUSE));
    in.calls.push_back(call(SyscallKind::connect, 3, 4, 5, -ECONNREFUSED, 0, ECONNREFUSED));
    const auto r = analyse(in);
    EXPECT_EQ(kinds(r), (std::multiset<FindingKind>{FindingKind::bind_in_use, FindingKind::sigpipe,
                                                     FindingKind::refused}));
    const auto* bind = find(r, FindingKind::bind_in_use);
    EXPECT_EQ(bind->local_port, 9000);
    EXPECT_EQ(bind->fd, 3);
    EXPECT_NE(bind->evidence.find("TIME_WAIT on port 9000"), std::string::npos) << bind->evidence;
    EXPECT_EQ(find(r, FindingKind::sigpipe)->pid, 100);
    EXPECT_EQ(find(r, FindingKind::refused)->fd, 5);
}

TEST(ProgramAnalysis, DescriptorGrowth) {
    Input in;
    in.root_pid = 100;
    std::vector<HeldSocket> many;
    for (int i = 0; i < 20; ++i)
        many.push_back({100, 5 + i, record(50 + static_cast<std::uint64_t>(i), TcpState::close_wait,
                                           static_cast<std::uint16_t>(40000 + i))});
    in.polls.push_back(poll_at(0, {{100, 3, record(10, TcpState::listen)}}));
    auto grown = many;
    grown.push_back({100, 3, record(10, TcpState::listen)});
    in.polls.push_back(poll_at(kS, grown));
    in.end_ns = kS;
    const auto report = analyse(in);  // kept: `f` points into it
    const auto* f = find(report, FindingKind::fd_growth);
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->count, 20u);
    in.polls.back().sockets.resize(10);  // grew by 9: below the threshold
    EXPECT_EQ(find(analyse(in), FindingKind::fd_growth), nullptr);
}

TEST(ProgramAnalysis, ReportJsonHasTheContractFields) {
    auto in = leaking_server(4);
    const auto r = analyse(in);
    const std::vector<std::string> cmd{"python3", "chat.py"};
    const auto j = report_json(cmd, 143, r);
    EXPECT_EQ(j["command"], nlohmann::json(cmd));
    EXPECT_EQ(j["exit_code"], 143);
    ASSERT_TRUE(j["sockets"].is_array());
    ASSERT_TRUE(j["findings"].is_array());
    for (const auto& f : j["findings"]) {
        for (const char* key : {"kind", "pid", "fd", "local_port", "remote_port", "evidence"})
            EXPECT_TRUE(f.contains(key)) << key << " in " << f.dump();
    }
    const auto leak = std::find_if(j["findings"].begin(), j["findings"].end(),
                                   [](const auto& f) { return f["kind"] == "close_wait_leak"; });
    ASSERT_NE(leak, j["findings"].end());
    EXPECT_TRUE(leak->contains("seconds"));
    EXPECT_FALSE(leak->contains("count"));
    std::set<std::string> names;
    for (std::size_t i = 0; i < kFindingKinds; ++i)
        names.insert(std::string(kind_name(static_cast<FindingKind>(i))));
    EXPECT_EQ(names, (std::set<std::string>{"close_wait_leak", "recv_zero_loop", "framing_hint",
                                            "bind_in_use", "rst_sent", "rst_received", "sigpipe",
                                            "refused", "open_at_exit", "fd_growth"}));
}

TEST(ScenarioJudge, EachScenarioPassesOnGoodEvidenceAndFailsWithItsFinding) {
    ScenarioObservation o;
    o.id = "peer-closes-first";
    o.peer_got_eof = true;
    EXPECT_TRUE(judge(o).ok);
    o.peer_got_eof = false;
    o.close_wait_s = 2.0;
    o.recv_zero = 30000;
    auto r = judge(o);
    EXPECT_FALSE(r.ok);
    ASSERT_EQ(r.findings.size(), 2u);
    EXPECT_EQ(r.findings[0].kind, FindingKind::close_wait_leak);
    EXPECT_EQ(r.findings[1].kind, FindingKind::recv_zero_loop);
    EXPECT_EQ(r.lab, "close-wait-leak");

    ScenarioObservation q;
    q.id = "quit-split";
    r = judge(q);
    EXPECT_FALSE(r.ok);
    ASSERT_EQ(r.findings.size(), 1u);
    EXPECT_EQ(r.findings[0].kind, FindingKind::framing_hint);
    q.peer_got_eof = true;
    EXPECT_TRUE(judge(q).ok);

    ScenarioObservation reset;
    reset.id = "peer-reset";
    reset.program_alive = false;
    reset.program_signal = SIGPIPE;
    r = judge(reset);
    EXPECT_FALSE(r.ok);
    ASSERT_EQ(r.findings.size(), 1u);
    EXPECT_EQ(r.findings[0].kind, FindingKind::sigpipe);

    ScenarioObservation restart;
    restart.id = "restart-within-60s";
    restart.bind_failed_in_use = true;
    restart.diagnosis = "1 socket(s) in TIME_WAIT";
    r = judge(restart);
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.findings.at(0).kind, FindingKind::bind_in_use);
    EXPECT_EQ(r.lab, "address-in-use");

    ScenarioObservation two;
    two.id = "two-clients";
    EXPECT_FALSE(judge(two).ok);
    two.second_client_refused = true;
    EXPECT_TRUE(judge(two).ok);

    ScenarioObservation dead;
    dead.id = "exchange";
    dead.server_started = false;
    dead.line_delivered = true;
    EXPECT_FALSE(judge(dead).ok);
}

TEST(ScenarioJudge, CheckJsonCountsPassed) {
    std::vector<ScenarioResult> rs;
    for (const auto id : kServerScenarios) {
        ScenarioObservation o;
        o.id = std::string(id);
        rs.push_back(judge(o));
    }
    rs[0].ok = true;
    const auto j = check_json("server", 9000, rs);
    EXPECT_EQ(j["role"], "server");
    EXPECT_EQ(j["port"], 9000);
    EXPECT_EQ(j["total"], 8);
    EXPECT_EQ(j["passed"], 1);
    for (const auto& s : j["scenarios"])
        for (const char* key : {"id", "ok", "evidence", "lab"}) EXPECT_TRUE(s.contains(key)) << key;
}

// ---- framing hints: captured bytes and the lengths of the program's reads ---------------

TEST(ProgramFraming, RebuildPlacesChunksBySequenceAndStopsAtAGap) {
    // Out of order, with a retransmission overlapping what is already placed.
    const std::vector<StreamChunk> chunks{{3, "it\n"}, {0, "/qu"}, {1, "qui"}, {6, "hi\n"}};
    EXPECT_EQ(rebuild_stream(chunks), "/quit\nhi\n");
    // Bytes 3..5 never captured: what follows them is not known.
    const std::vector<StreamChunk> gap{{0, "/qu"}, {6, "hi\n"}};
    EXPECT_EQ(rebuild_stream(gap), "/qu");
    EXPECT_EQ(rebuild_stream({}), "");
    // Nothing from offset 0 (the first segment was missed): nothing is known.
    const std::vector<StreamChunk> late{{3, "it\n"}};
    EXPECT_EQ(rebuild_stream(late), "");
}

ReceivedStream stream(std::string bytes, std::vector<std::uint64_t> reads) {
    ReceivedStream s;
    s.pid = 100;
    s.tid = 101;
    s.fd = 4;
    s.key.local_port = kServer;
    s.key.remote_port = kPeer;
    s.bytes = std::move(bytes);
    s.reads = std::move(reads);
    return s;
}

TEST(ProgramFraming, AReadEndingMidLineFollowedByAnotherIsAHint) {
    const std::vector<ReceivedStream> split{stream("hello\n/quit\n", {6, 3, 3})};
    const auto f = framing_hints(split);
    ASSERT_EQ(f.size(), 1u);
    EXPECT_EQ(f[0].kind, FindingKind::framing_hint);
    EXPECT_EQ(f[0].pid, 100);
    EXPECT_EQ(f[0].tid, 101);
    EXPECT_EQ(f[0].fd, 4);
    EXPECT_EQ(f[0].local_port, kServer);
    EXPECT_EQ(f[0].remote_port, kPeer);
    EXPECT_EQ(f[0].count, 1u);
    // Which read, where in the stream, and the line cut in two, escaped.
    EXPECT_NE(f[0].evidence.find("receive 2 on fd 4"), std::string::npos) << f[0].evidence;
    EXPECT_NE(f[0].evidence.find("byte 9"), std::string::npos) << f[0].evidence;
    EXPECT_NE(f[0].evidence.find(R"("/qu" + "it\n")"), std::string::npos) << f[0].evidence;

    // Two reads ended mid-line: counted, the first one described.
    const std::vector<ReceivedStream> twice{stream("ab\ncd\n", {1, 3, 2})};
    const auto t = framing_hints(twice);
    ASSERT_EQ(t.size(), 1u);
    EXPECT_EQ(t[0].count, 2u);
    EXPECT_NE(t[0].evidence.find(R"("a" + "b\n")"), std::string::npos) << t[0].evidence;
}

TEST(ProgramFraming, AReadHoldingMoreThanOneLineIsAHint) {
    // "/quit\n" and "hello\n" in one read: a whole-read comparison never sees "/quit".
    const std::vector<ReceivedStream> merged{stream("hi\n/quit\nhello\n", {3, 12})};
    const auto f = framing_hints(merged);
    ASSERT_EQ(f.size(), 1u);
    EXPECT_EQ(f[0].kind, FindingKind::framing_hint);
    EXPECT_EQ(f[0].fd, 4);
    EXPECT_EQ(f[0].count, 1u);
    EXPECT_NE(f[0].evidence.find("receive 2 on fd 4 returned more than one line"), std::string::npos)
        << f[0].evidence;
    EXPECT_NE(f[0].evidence.find(R"("/quit\n" + "hello\n")"), std::string::npos) << f[0].evidence;

    // Split and merged in one stream: one hint of each, each with its own count.
    const std::vector<ReceivedStream> both{stream("/qu" "it\nab\ncd\n", {3, 3, 6})};
    const auto b = framing_hints(both);
    ASSERT_EQ(b.size(), 2u);
    EXPECT_NE(b[0].evidence.find("ended mid-line"), std::string::npos) << b[0].evidence;
    EXPECT_NE(b[1].evidence.find(R"("ab\n" + "cd\n")"), std::string::npos) << b[1].evidence;
    // A read that ends mid-line after a whole line is merged (and, continued, split as well).
    const std::vector<ReceivedStream> tail{stream("ab\ncd\n", {4, 2})};
    const auto t = framing_hints(tail);
    ASSERT_EQ(t.size(), 2u);
    EXPECT_NE(t[1].evidence.find(R"("ab\n" + "c")"), std::string::npos) << t[1].evidence;
}

TEST(ProgramFraming, MergedExcerptQuotesTheFirstLineAndTheNext) {
    EXPECT_EQ(merged_excerpt("/quit\nhello\nbye\n", 0, 16, 5), R"("/quit\n" + "hello\n")");
    const std::string longline(40, 'x');
    EXPECT_EQ(merged_excerpt(longline + "\n" + longline, 0, 81, 40, 4), R"("...xxx\n" + "xxxx...")");
    // Offsets that describe no read with a line inside it.
    EXPECT_EQ(merged_excerpt("ab\n", 0, 3, 2), R"("" + "")");
    EXPECT_EQ(merged_excerpt("ab\ncd", 4, 2, 2), R"("" + "")");
    EXPECT_EQ(merged_excerpt("", 0, 0, 0), R"("" + "")");
}

TEST(ProgramFraming, ReadsOnLineBoundariesOrBeyondTheBytesAreNotHints) {
    // Every read ended on a newline and held one line.
    const std::vector<ReceivedStream> whole{stream("hello\n/quit\nbye\n", {6, 6, 4})};
    EXPECT_TRUE(framing_hints(whole).empty());
    // The last read ended mid-line but no read followed it (the program stopped reading).
    const std::vector<ReceivedStream> last{stream("/qu", {3})};
    EXPECT_TRUE(framing_hints(last).empty());
    // The next read returned 0 (end of stream): nothing continued the line.
    const std::vector<ReceivedStream> eof{stream("/qu", {3, 0})};
    EXPECT_TRUE(framing_hints(eof).empty());
    // The read ended where the captured bytes end: the next byte is not known, no guess.
    const std::vector<ReceivedStream> unknown{stream("/qu", {3, 3})};
    EXPECT_TRUE(framing_hints(unknown).empty());
    EXPECT_TRUE(framing_hints({}).empty());
}

TEST(ProgramFraming, ExcerptEscapesAndCutsLongLines) {
    EXPECT_EQ(split_excerpt("a\"b\\\tc\x01\r\nz", 3), R"("a\"b" + "\\\tc\x01\r\n")");
    const std::string longline(40, 'x');
    EXPECT_EQ(split_excerpt(longline + "\n", 30, 4), R"("...xxxx" + "xxxx...")");
    EXPECT_EQ(split_excerpt("", 0), R"("" + "")");
}

TEST(ProgramFraming, AnalyseAddsTheHintAndSaysWhenTheBytesWereMissing) {
    auto in = leaking_server(1);
    in.traced = true;
    in.streams.push_back(stream("/quit\n", {3, 3}));
    in.streams_seen = true;
    auto r = analyse(in);
    ASSERT_NE(find(r, FindingKind::framing_hint), nullptr);
    EXPECT_EQ(find(r, FindingKind::framing_hint)->fd, 4);
    EXPECT_TRUE(r.missing.empty());
    // Traced, but the payload not captured: no hint, and the report says what is missing.
    in.streams.clear();
    in.streams_seen = false;
    r = analyse(in);
    EXPECT_EQ(find(r, FindingKind::framing_hint), nullptr);
    ASSERT_EQ(r.missing.size(), 1u);
    EXPECT_NE(r.missing[0].find("framing"), std::string::npos);
}

}  // namespace
}  // namespace socklab::program

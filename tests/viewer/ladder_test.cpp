// The ladder's model without a window: layout_ladder() on made-up conversations (order, gap
// compression, badges and calls on the right side, labels) and LadderModel's selection and
// snapshots. The live ladder of a real connection is tested headless in headless_test.cpp.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <cerrno>
#include <string>
#include <vector>

#include "model/ladder.hpp"
#include "model/ladder_feed.hpp"
#include "socklab/state.hpp"

namespace socklab::viewer {
namespace {

constexpr std::uint64_t kMs = 1'000'000;
constexpr std::uint64_t kS = 1'000'000'000;
constexpr std::uint16_t kClientPort = 41000, kServerPort = 9005;
constexpr std::uint32_t kClientIsn = 1000, kServerIsn = 500000;

IpAddr lo() {
    in_addr a{};
    ::inet_pton(AF_INET, "127.0.0.1", &a);
    return IpAddr::v4(&a);
}

constexpr auto st(TcpState s) { return static_cast<std::uint8_t>(s); }

// A segment from the client (to_server) or the server, with sequence numbers relative to the
// sender's and the receiver's ISNs given as offsets.
Segment seg(std::uint64_t t, bool from_client, std::uint8_t flags, std::uint32_t seq_off,
            std::uint32_t ack_off, std::uint32_t len = 0) {
    Segment s;
    s.time_ns = t;
    s.family = AF_INET;
    s.src_addr = s.dst_addr = lo();
    s.src_port = from_client ? kClientPort : kServerPort;
    s.dst_port = from_client ? kServerPort : kClientPort;
    s.flags = flags;
    s.seq = (from_client ? kClientIsn : kServerIsn) + seq_off;
    s.ack = (from_client ? kServerIsn : kClientIsn) + ack_off;
    s.len = len;
    s.win = 65495;
    if ((flags & tcp_flag::SYN) != 0) s.options.mss = 65495;
    return s;
}

TransitionEvent tr(std::uint64_t t, bool client, TcpState from, TcpState to) {
    TransitionEvent e;
    e.time_ns = t;
    e.family = AF_INET;
    e.protocol = 6;
    e.local_addr = e.remote_addr = lo();
    e.local_port = client ? kClientPort : kServerPort;
    e.remote_port = client ? kServerPort : kClientPort;
    e.old_state = st(from);
    e.new_state = st(to);
    e.skaddr = client ? 0x1000 : 0x2000;
    return e;
}

SyscallEvent call(std::uint64_t t, bool client, SyscallKind k, std::int64_t result, int err = 0) {
    SyscallEvent c;
    c.time_ns = t;
    c.pid = client ? 4242 : 4343;
    c.tid = c.pid;
    c.call = k;
    c.fd = 3;
    c.result = result;
    c.error = err;
    SocketKey key;
    key.family = AF_INET;
    key.local_addr = key.remote_addr = lo();
    key.local_port = client ? kClientPort : kServerPort;
    key.remote_port = client ? kServerPort : kClientPort;
    c.key = key;
    return c;
}

using F = std::uint8_t;
constexpr F SYN = tcp_flag::SYN, ACK = tcp_flag::ACK, FIN = tcp_flag::FIN, PSH = tcp_flag::PSH,
            RST = tcp_flag::RST;

// Lab 5's connection: handshake, 5 bytes, the client closes, a minute later the server does.
Conversation active_close() {
    std::vector<Segment> s{
        seg(0, true, SYN, 0, 0),
        seg(40'000, false, SYN | ACK, 0, 1),
        seg(80'000, true, ACK, 1, 1),
        seg(1 * kMs, true, PSH | ACK, 1, 1, 5),
        seg(1 * kMs + 30'000, false, ACK, 1, 6),
        seg(2 * kMs, true, FIN | ACK, 6, 1),
        seg(2 * kMs + 30'000, false, ACK, 1, 7),
        seg(62 * kS, false, FIN | ACK, 1, 7),
        seg(62 * kS + 30'000, true, ACK, 7, 2),
    };
    std::vector<TransitionEvent> t{
        tr(60'000, true, TcpState::syn_sent, TcpState::established),
        tr(90'000, false, TcpState::syn_recv, TcpState::established),
        tr(2 * kMs - 10'000, true, TcpState::established, TcpState::fin_wait1),
        tr(2 * kMs + 10'000, false, TcpState::established, TcpState::close_wait),
        tr(2 * kMs + 40'000, true, TcpState::fin_wait1, TcpState::fin_wait2),
        tr(62 * kS - 10'000, false, TcpState::close_wait, TcpState::last_ack),
        tr(62 * kS + 10'000, true, TcpState::fin_wait2, TcpState::time_wait),
        tr(62 * kS + 40'000, false, TcpState::last_ack, TcpState::close),
    };
    std::vector<SyscallEvent> c{
        call(2 * kMs - 20'000, true, SyscallKind::close, 0),
        call(62 * kS - 20'000, false, SyscallKind::close, 0),
    };
    auto all = conversation::build(s, t, c);
    EXPECT_EQ(all.size(), 1u);
    return all.empty() ? Conversation{} : all.front();
}

// "kind side label" per row, for readable expectations.
std::vector<std::string> lines(const LadderLayout& l) {
    std::vector<std::string> out;
    for (const auto& r : l.rows) {
        std::string s(ladder_kind_name(r.kind));
        if (r.kind != LadderKind::gap) s += std::string(" ") + std::string(side_name(r.side));
        out.push_back(s + " " + r.label);
    }
    return out;
}

TEST(LadderLayout, ActiveCloseInTimeOrderWithBadgesAndCallsOnTheirSide) {
    const auto c = active_close();
    const auto l = layout_ladder(c);
    const std::vector<std::string> want{
        "arrow client SYN seq 0",
        "badge client ESTABLISHED",  // the SYN-ACK arrives at 40 us: see below for order
        "arrow server SYN-ACK seq 0 ack 1",
        "arrow client ACK seq 1 ack 1",
        "badge server ESTABLISHED",
        "arrow client PSH-ACK seq 1 ack 1 len 5",
        "arrow server ACK seq 1 ack 6",
        "call client close(fd 3) = 0",
        "badge client FIN_WAIT1",
        "arrow client FIN-ACK seq 6 ack 1",
        "badge server CLOSE_WAIT",
        "arrow server ACK seq 1 ack 7",
        "badge client FIN_WAIT2",
        "gap \u2026 62.0 s \u2026",
        "call server close(fd 3) = 0",
        "badge server LAST_ACK",
        "arrow server FIN-ACK seq 1 ack 7",
        "badge client TIME_WAIT",
        "arrow client ACK seq 7 ack 2",
        "badge server CLOSE",
    };
    // The made-up times put the client's ESTABLISHED at 60 us, after the SYN-ACK at 40 us.
    auto expected = want;
    std::swap(expected[1], expected[2]);
    EXPECT_EQ(lines(l), expected);
    EXPECT_EQ(l.arrows, 9u);
    EXPECT_EQ(l.badges, 8u);
    EXPECT_EQ(l.calls, 2u);
    EXPECT_EQ(l.gaps, 1u);
}

TEST(LadderLayout, RowsStackWithoutOverlapAndTheGapIsShort) {
    const auto c = active_close();
    LadderOptions o;
    const auto l = layout_ladder(c, o);
    float y = 0;
    for (const auto& r : l.rows) {
        EXPECT_FLOAT_EQ(r.y, y) << r.label;
        y += r.height;
        if (r.kind == LadderKind::gap) {
            EXPECT_FLOAT_EQ(r.height, o.gap_height);
            EXPECT_EQ(r.item, -1);
        } else {
            EXPECT_GE(r.item, 0);
            EXPECT_EQ(c.items[static_cast<std::size_t>(r.item)].time_ns, r.time_ns);
        }
    }
    EXPECT_FLOAT_EQ(l.height, y);
    // 62 s of silence takes less room than one arrow.
    EXPECT_LT(o.gap_height, o.arrow_height);
    // Times are offsets from the first item.
    EXPECT_DOUBLE_EQ(l.rows.front().offset_s, 0.0);
    EXPECT_NEAR(l.rows.back().offset_s, 62.00004, 1e-9);
}

TEST(LadderLayout, GapThresholdDecidesWhatIsCompressed) {
    const auto c = active_close();
    LadderOptions o;
    o.gap_ns = 100 * kS;  // nothing is that quiet
    EXPECT_EQ(layout_ladder(c, o).gaps, 0u);
    o.gap_ns = 500'000;  // 0.5 ms: the pause before the data and before the FIN count too
    const auto l = layout_ladder(c, o);
    EXPECT_EQ(l.gaps, 3u);
    std::vector<std::string> gaps;
    for (const auto& r : l.rows)
        if (r.kind == LadderKind::gap) gaps.push_back(r.label);
    EXPECT_EQ(gaps, (std::vector<std::string>{"\u2026 0.0 s \u2026", "\u2026 0.0 s \u2026", "\u2026 62.0 s \u2026"}));
}

TEST(LadderLayout, AnOpenConnectionEndsInAStillOpenGap) {
    std::vector<Segment> s{seg(0, true, SYN, 0, 0), seg(10'000, false, SYN | ACK, 0, 1),
                           seg(20'000, true, ACK, 1, 1)};
    const auto all = conversation::build(s, {}, {});
    ASSERT_EQ(all.size(), 1u);
    LadderOptions o;
    o.open = true;
    o.now_ns = 58 * kS + 700 * kMs + 20'000;
    const auto l = layout_ladder(all.front(), o);
    ASSERT_EQ(l.rows.size(), 4u);
    EXPECT_EQ(l.rows.back().kind, LadderKind::gap);
    EXPECT_EQ(l.rows.back().label, "\u2026 58.7 s, still open \u2026");
    o.now_ns = 500 * kMs;  // not quiet long enough yet
    EXPECT_EQ(layout_ladder(all.front(), o).gaps, 0u);
    o.open = false;  // an ended connection has no "now"
    o.now_ns = 58 * kS;
    EXPECT_EQ(layout_ladder(all.front(), o).gaps, 0u);
}

TEST(LadderLayout, LabelsAndTheWholeHeader) {
    auto s = seg(0, true, SYN, 0, 0);
    s.options.wscale = 7;
    s.options.sack_permitted = true;
    s.options.ts_val = 123;
    s.options.ts_ecr = 0;
    // Not yet made relative: the raw numbers, said so.
    EXPECT_EQ(arrow_label(s), "SYN seq 1000");
    const auto h = header_text(s);
    EXPECT_NE(h.find("127.0.0.1:41000 -> 127.0.0.1:9005"), std::string::npos) << h;
    EXPECT_NE(h.find("flags   SYN\n"), std::string::npos) << h;
    EXPECT_NE(h.find("raw: the ISN was not seen"), std::string::npos) << h;
    EXPECT_NE(h.find("no ACK flag"), std::string::npos) << h;
    EXPECT_NE(h.find("MSS     65495 bytes"), std::string::npos) << h;
    EXPECT_NE(h.find("wscale  7 (window x 128)"), std::string::npos) << h;
    EXPECT_NE(h.find("SACK permitted"), std::string::npos) << h;
    EXPECT_NE(h.find("TSval   123  TSecr 0"), std::string::npos) << h;

    const auto c = active_close();
    const auto* data = c.items[5].segment();
    ASSERT_NE(data, nullptr);
    const auto dh = header_text(*data);
    EXPECT_NE(dh.find("seq     1 (relative; raw 1001)"), std::string::npos) << dh;
    EXPECT_NE(dh.find("ack     1 (relative; raw 500001)"), std::string::npos) << dh;
    EXPECT_NE(dh.find("flags   ACK PSH\n"), std::string::npos) << dh;
    EXPECT_NE(dh.find("len     5 payload bytes"), std::string::npos) << dh;

    EXPECT_EQ(call_label(call(0, true, SyscallKind::connect, -1, ECONNREFUSED)),
              "connect(fd 3) = -1 ECONNREFUSED");
    EXPECT_EQ(gap_label(58'700 * kMs), "\u2026 58.7 s \u2026");
    EXPECT_EQ(gap_label(150 * kS), "\u2026 2.5 min \u2026");
}

TEST(LadderLayout, HeadsNameAddressAndProcessWhenKnown) {
    const auto c = active_close();
    const auto l = layout_ladder(c);
    EXPECT_EQ(l.client_head.substr(0, l.client_head.find('\n')), "127.0.0.1:41000");
    EXPECT_EQ(l.server_head.substr(0, l.server_head.find('\n')), "127.0.0.1:9005");
    // The calls named the processes.
    EXPECT_NE(l.client_head.find("[4242]"), std::string::npos) << l.client_head;
    EXPECT_NE(l.server_head.find("[4343]"), std::string::npos) << l.server_head;
}

TEST(LadderLayout, AClosedSocketsHandoverToATimewaitSocketIsExplained) {
    std::vector<Segment> s{seg(0, true, SYN, 0, 0)};
    std::vector<TransitionEvent> t{tr(10'000, true, TcpState::fin_wait1, TcpState::fin_wait2),
                                   tr(20'000, true, TcpState::fin_wait2, TcpState::close),
                                   tr(30'000, false, TcpState::last_ack, TcpState::close)};
    const auto all = conversation::build(s, t, {});
    ASSERT_EQ(all.size(), 1u);
    const auto l = layout_ladder(all.front());
    ASSERT_EQ(l.rows.size(), 4u);
    EXPECT_EQ(l.rows[1].note, "");
    EXPECT_EQ(l.rows[2].note, "timewait socket takes over");
    EXPECT_NE(l.rows[2].detail.find("TIME_WAIT"), std::string::npos);
    EXPECT_EQ(l.rows[3].note, "");  // LAST_ACK -> CLOSE is the end of the socket itself
}

ObservedTransition observed(const TransitionEvent& e, bool traced) {
    ObservedTransition o;
    o.time_ns = e.time_ns;
    o.traced = traced;
    o.key.family = e.family;
    o.key.local_addr = e.local_addr;
    o.key.local_port = e.local_port;
    o.key.remote_addr = e.remote_addr;
    o.key.remote_port = e.remote_port;
    o.old_state = e.old_state;
    o.new_state = e.new_state;
    o.skaddr = e.skaddr;
    return o;
}

TEST(LadderModel, PicksTheNewestOnAPortAndReusesAnUnchangedCopy) {
    LadderModel m;
    m.add(seg(0, true, SYN, 0, 0));
    auto other = seg(5 * kMs, true, SYN, 0, 0);
    other.src_port = 41001;
    m.add(other);
    auto elsewhere = seg(6 * kMs, true, SYN, 0, 0);
    elsewhere.src_port = 41002;
    elsewhere.dst_port = 8080;
    m.add(elsewhere);

    LadderSelection sel;
    sel.mode = LadderSelection::Mode::latest;
    sel.ports = {kServerPort};
    auto a = m.snapshot(sel, nullptr);
    ASSERT_TRUE(a->selected);
    EXPECT_EQ(a->selected->client.port, 41001);  // newest on 9005, not the 8080 one
    ASSERT_EQ(a->recent.size(), 3u);
    EXPECT_EQ(a->recent.front().server, "127.0.0.1:8080");  // newest first

    // Nothing new on it: the same copy.
    auto b = m.snapshot(sel, a.get());
    EXPECT_EQ(b->selected, a->selected);
    // A segment on it: a fresh copy holding it.
    auto synack = seg(5 * kMs + 10'000, false, SYN | ACK, 0, 1);
    synack.dst_port = 41001;
    m.add(synack);
    auto c = m.snapshot(sel, b.get());
    EXPECT_NE(c->selected, b->selected);
    EXPECT_EQ(c->selected->items.size(), 2u);

    LadderSelection none;
    EXPECT_FALSE(m.snapshot(none, nullptr)->selected);
    LadderSelection exact;
    exact.mode = LadderSelection::Mode::exact;
    exact.id = conversation::make_id(AF_INET, Endpoint{lo(), 41000}, Endpoint{lo(), kServerPort});
    ASSERT_TRUE(m.snapshot(exact, nullptr)->selected);
    EXPECT_EQ(m.snapshot(exact, nullptr)->selected->client.port, 41000);
}

TEST(LadderModel, OnlyTracedTransitionsJoinAndEndsAreRecognised) {
    LadderModel m;
    m.add(seg(0, true, SYN, 0, 0));
    const auto est = tr(10'000, true, TcpState::syn_sent, TcpState::established);
    EXPECT_FALSE(m.add(observed(est, false)));  // inferred from a poll: its time is the poll's
    EXPECT_TRUE(m.add(observed(est, true)));
    auto no_port = observed(tr(0, true, TcpState::close, TcpState::syn_sent), true);
    no_port.key.local_port = 0;
    no_port.skaddr = 0;
    EXPECT_FALSE(m.add(no_port));
    LadderSelection sel;
    sel.mode = LadderSelection::Mode::latest;
    auto snap = m.snapshot(sel, nullptr);
    ASSERT_TRUE(snap->selected);
    EXPECT_EQ(snap->selected->items.size(), 2u);
    EXPECT_FALSE(snap->selected_ended);
    EXPECT_EQ(snap->recent.front().client_state, st(TcpState::established));

    // With the capture on, a connection no segment started (another namespace's) is left out.
    auto elsewhere = observed(tr(15'000, true, TcpState::syn_sent, TcpState::established), true);
    elsewhere.key.local_port = 50000;
    EXPECT_FALSE(m.add(elsewhere, true));
    EXPECT_TRUE(m.add(observed(tr(16'000, false, TcpState::syn_recv, TcpState::established), true), true));
    EXPECT_EQ(m.set().size(), 1u);

    auto rst = seg(20'000, false, RST | ACK, 0, 1);
    m.add(rst);
    EXPECT_TRUE(m.snapshot(sel, nullptr)->selected_ended);
    EXPECT_TRUE(summarize(active_close()).ended);
}

TEST(LadderModel, ASynSentWithoutALocalPortWaitsForItsSocketsNextEvent) {
    LadderModel m;
    auto early = observed(tr(0, true, TcpState::close, TcpState::syn_sent), true);
    early.key.local_port = 0;  // connect() has not picked the source port yet
    EXPECT_TRUE(m.add(early));  // taken: held for its socket
    EXPECT_EQ(m.set().size(), 0u);
    auto nameless = early;
    nameless.skaddr = 0;  // nothing ties it to a later event: dropped
    EXPECT_FALSE(m.add(nameless));

    m.add(seg(1'000, true, SYN, 0, 0));
    EXPECT_TRUE(m.add(observed(tr(10'000, true, TcpState::syn_sent, TcpState::established), true), true));
    LadderSelection sel;
    sel.mode = LadderSelection::Mode::latest;
    const auto snap = m.snapshot(sel, nullptr);
    ASSERT_TRUE(snap->selected);
    const auto& items = snap->selected->items;
    ASSERT_EQ(items.size(), 3u);
    ASSERT_NE(items[0].transition(), nullptr);
    EXPECT_EQ(items[0].transition()->new_state, st(TcpState::syn_sent));
    EXPECT_EQ(items[0].transition()->local_port, kClientPort);
    EXPECT_EQ(items[0].side, Side::client);
    EXPECT_NE(items[1].segment(), nullptr);
    ASSERT_NE(items[2].transition(), nullptr);
    EXPECT_EQ(items[2].transition()->new_state, st(TcpState::established));
}

TEST(LadderModel, ASocketKeptOutLetsGoOfItsHeldSynSent) {
    LadderModel m;
    m.add(seg(0, true, SYN, 0, 0));
    ASSERT_TRUE(m.add(observed(tr(10'000, true, TcpState::syn_sent, TcpState::established), true), true));
    // Another namespace's connect() towards the same address and port, at 0x3000: held...
    auto early = observed(tr(20'000, true, TcpState::close, TcpState::syn_sent), true);
    early.key.local_port = 0;
    early.skaddr = 0x3000;
    EXPECT_TRUE(m.add(early));
    // ...and its next event, of a connection the capture never saw, is kept out.
    auto theirs = observed(tr(21'000, true, TcpState::syn_sent, TcpState::established), true);
    theirs.key.local_port = 50000;
    theirs.skaddr = 0x3000;
    EXPECT_FALSE(m.add(theirs, true));
    // The address is reused by the shown connection's client: no SYN_SENT comes with it.
    auto reused = observed(tr(30'000, true, TcpState::established, TcpState::fin_wait1), true);
    reused.skaddr = 0x3000;
    EXPECT_TRUE(m.add(reused, true));
    LadderSelection sel;
    sel.mode = LadderSelection::Mode::latest;
    const auto snap = m.snapshot(sel, nullptr);
    ASSERT_TRUE(snap->selected);
    for (const auto& item : snap->selected->items) {
        if (const auto* t = item.transition()) {
            EXPECT_NE(t->new_state, st(TcpState::syn_sent));
        }
    }
    EXPECT_EQ(snap->selected->items.size(), 3u);
}

}  // namespace
}  // namespace socklab::viewer

// The record decoder and the format parser on real records captured from Linux 6.18
// (tests/fixtures/trace), and on truncated and malformed input.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "socklab/error.hpp"
#include "socklab/state.hpp"
#include "socklab/tracer.hpp"

namespace socklab {
namespace {

using trace::RecordLayout;

std::string read_fixture(const std::string& name) {
    std::ifstream in(std::string(SOCKLAB_FIXTURES) + "/trace/" + name);
    EXPECT_TRUE(in) << "missing fixture " << name;
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

struct RawRecord {
    std::uint32_t cpu = 0;
    std::uint64_t time_ns = 0;
    std::vector<std::byte> bytes;
};

std::vector<RawRecord> read_records(const std::string& name) {
    std::vector<RawRecord> out;
    std::istringstream in(read_fixture(name));
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream fields(line);
        RawRecord r;
        std::string hex;
        fields >> r.cpu >> r.time_ns >> hex;
        EXPECT_EQ(hex.size() % 2, 0u) << line;
        for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
            r.bytes.push_back(static_cast<std::byte>(std::stoul(hex.substr(i, 2), nullptr, 16)));
        out.push_back(std::move(r));
    }
    return out;
}

std::uint16_t fixture_port(const std::string& name) {
    std::istringstream in(read_fixture(name));
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("# port ", 0) == 0) return static_cast<std::uint16_t>(std::stoul(line.substr(7)));
    ADD_FAILURE() << "no '# port' line in " << name;
    return 0;
}

RecordLayout fixture_layout() { return trace::parse_format(read_fixture("inet_sock_set_state.format")); }

using Seq = std::vector<std::pair<TcpState, TcpState>>;

std::vector<std::pair<TcpState, TcpState>> states_of(const std::vector<TransitionEvent>& events,
                                                     std::uint64_t skaddr) {
    Seq out;
    for (const auto& e : events)
        if (e.skaddr == skaddr)
            out.emplace_back(static_cast<TcpState>(e.old_state), static_cast<TcpState>(e.new_state));
    return out;
}

std::vector<TransitionEvent> decode_all(const std::string& name) {
    const auto layout = fixture_layout();
    std::vector<TransitionEvent> events;
    for (const auto& r : read_records(name)) {
        const auto d = trace::decode_record(r.bytes, layout, r.time_ns, r.cpu);
        EXPECT_TRUE(d) << d.error;
        if (d) events.push_back(*d.event);
    }
    return events;
}

TEST(TraceFormat, ParsesTheKernelsFormatFile) {
    const auto layout = fixture_layout();
    EXPECT_EQ(layout.event_id, 2287);
    EXPECT_EQ(layout.common_pid.offset, 4u);
    EXPECT_EQ(layout.skaddr.offset, 8u);
    EXPECT_EQ(layout.skaddr.size, 8u);
    EXPECT_EQ(layout.oldstate.offset, 16u);
    EXPECT_EQ(layout.newstate.offset, 20u);
    EXPECT_EQ(layout.sport.offset, 24u);
    EXPECT_EQ(layout.dport.offset, 26u);
    EXPECT_EQ(layout.family.offset, 28u);
    EXPECT_EQ(layout.protocol.offset, 30u);
    EXPECT_EQ(layout.saddr.offset, 32u);
    EXPECT_EQ(layout.daddr.offset, 36u);
    EXPECT_EQ(layout.saddr_v6.offset, 40u);
    EXPECT_EQ(layout.saddr_v6.size, 16u);
    EXPECT_EQ(layout.daddr_v6.offset, 56u);
}

TEST(TraceFormat, RejectsAFormatWithoutTheFields) {
    EXPECT_THROW((void)trace::parse_format(""), ParseError);
    EXPECT_THROW((void)trace::parse_format("name: sched_switch\nID: 300\nformat:\n"
                                           "\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n"),
                 ParseError);
    std::string text = read_fixture("inet_sock_set_state.format");
    // A field the decoder cannot read with the size it knows.
    const auto pos = text.find("offset:24;\tsize:2;");
    ASSERT_NE(pos, std::string::npos);
    std::string bad = text;
    bad.replace(pos, 18, "offset:24;\tsize:3;");
    EXPECT_THROW((void)trace::parse_format(bad), ParseError);
    // A missing ID.
    std::string no_id = text;
    no_id.replace(no_id.find("ID:"), 3, "XX:");
    EXPECT_THROW((void)trace::parse_format(no_id), ParseError);
}

// What `socklab trace` prints after "state transitions are not traced: " when the kernel
// describes the tracepoint in a layout this socklab does not read.
std::string format_error(const std::string& text) {
    try {
        (void)trace::parse_format(text);
    } catch (const ParseError& e) {
        return e.what();
    }
    return "(no error)";
}

TEST(TraceFormat, RejectionsSayWhatIsWrong) {
    const std::string text = read_fixture("inet_sock_set_state.format");
    std::string no_id = text;
    no_id.replace(no_id.find("ID:"), 3, "XX:");
    EXPECT_EQ(format_error(no_id), "failed to parse the tracepoint format: no ID line");

    std::string bad_id = text;
    const auto id_at = bad_id.find("ID:");
    bad_id.replace(id_at, bad_id.find('\n', id_at) - id_at, "ID: twelve");
    EXPECT_EQ(format_error(bad_id), "failed to parse the tracepoint format: bad ID line 'ID: twelve'");

    std::string wide = text;
    wide.replace(wide.find("offset:24;\tsize:2;"), 18, "offset:24;\tsize:3;");
    EXPECT_EQ(format_error(wide),
              "failed to parse the tracepoint format: field 'sport' has size 3, this socklab "
              "reads 2");

    EXPECT_EQ(format_error("name: sched_switch\nID: 300\nformat:\n"),
              "failed to parse the tracepoint format: field 'common_type' is missing (is this "
              "sock:inet_sock_set_state?)");
}

TEST(TraceDecode, ClientClosesFirstOnIpv4) {
    const auto events = decode_all("client_closes_first_v4.records");
    const auto port = fixture_port("client_closes_first_v4.records");
    ASSERT_EQ(events.size(), 11u);
    // The first event is the client's connect(): sport 0, skaddr is the only key.
    const auto& syn = events.front();
    EXPECT_EQ(syn.old_state, static_cast<std::uint8_t>(TcpState::close));
    EXPECT_EQ(syn.new_state, static_cast<std::uint8_t>(TcpState::syn_sent));
    EXPECT_EQ(syn.local_port, 0);
    EXPECT_EQ(syn.remote_port, port);
    EXPECT_EQ(syn.family, AF_INET);
    EXPECT_EQ(syn.protocol, 6);
    EXPECT_EQ(syn.local_addr.to_string(), "127.0.0.1");
    EXPECT_EQ(syn.remote_addr.to_string(), "127.0.0.1");
    EXPECT_EQ(syn.cpu, 1u);
    EXPECT_EQ(syn.time_ns, 1190478176591u);
    EXPECT_GT(syn.pid, 0);

    const std::uint64_t client = syn.skaddr;
    std::uint64_t server = 0;
    for (const auto& e : events)
        if (e.old_state == static_cast<std::uint8_t>(TcpState::listen) &&
            e.new_state == static_cast<std::uint8_t>(TcpState::syn_recv))
            server = e.skaddr;
    ASSERT_NE(server, 0u);
    EXPECT_EQ(states_of(events, client),
              (Seq{{TcpState::close, TcpState::syn_sent},
                   {TcpState::syn_sent, TcpState::established},
                   {TcpState::established, TcpState::fin_wait1},
                   {TcpState::fin_wait1, TcpState::fin_wait2},
                   {TcpState::fin_wait2, TcpState::close}}));
    EXPECT_EQ(states_of(events, server),
              (Seq{{TcpState::listen, TcpState::syn_recv},
                   {TcpState::syn_recv, TcpState::established},
                   {TcpState::established, TcpState::close_wait},
                   {TcpState::close_wait, TcpState::last_ack},
                   {TcpState::last_ack, TcpState::close}}));
    // The last record is the listener's close: local port only.
    EXPECT_EQ(events.back().local_port, port);
    EXPECT_EQ(events.back().remote_port, 0);
    EXPECT_EQ(events.back().old_state, static_cast<std::uint8_t>(TcpState::listen));
    for (const auto& e : events)
        if (e.skaddr == server) {
            EXPECT_EQ(e.local_port, port);
        }
}

TEST(TraceDecode, ServerClosesFirstOnIpv6) {
    const auto events = decode_all("server_closes_first_v6.records");
    const auto port = fixture_port("server_closes_first_v6.records");
    ASSERT_EQ(events.size(), 11u);
    for (const auto& e : events) {
        EXPECT_EQ(e.family, AF_INET6);
        EXPECT_TRUE(e.local_addr.is_loopback()) << e.local_addr.to_string();
        EXPECT_EQ(e.local_addr.to_string(), "::1");
    }
    const std::uint64_t client = events.front().skaddr;
    EXPECT_EQ(events.front().remote_port, port);
    EXPECT_EQ(states_of(events, client),
              (Seq{{TcpState::close, TcpState::syn_sent},
                   {TcpState::syn_sent, TcpState::established},
                   {TcpState::established, TcpState::close_wait},
                   {TcpState::close_wait, TcpState::last_ack},
                   {TcpState::last_ack, TcpState::close}}));
}

TEST(TraceDecode, TrackerFillsTimeInOldStatePerSocket) {
    auto events = decode_all("client_closes_first_v4.records");
    trace::SocketTracker tracker;
    for (auto& e : events) tracker.observe(e);
    // connect() -> SYN_SENT: never saw the socket enter CLOSE.
    EXPECT_EQ(events[0].old_state_ns, 0u);
    // SYN_SENT -> ESTABLISHED: the handshake time, from the two records' stamps.
    EXPECT_EQ(events[1].old_state_ns, events[1].time_ns - events[0].time_ns);
    // The listener was open before the capture: its close has no start.
    EXPECT_EQ(events.back().old_state_ns, 0u);
    // Every socket reached CLOSE, so nothing is left to track.
    EXPECT_EQ(tracker.tracked(), 0u);
}

TEST(TraceDecode, TrackerKeysTheSynSentSocketOnceItsPortIsKnown) {
    auto events = decode_all("client_closes_first_v4.records");
    trace::SocketTracker tracker;
    tracker.observe(events[0]);
    EXPECT_FALSE(tracker.key_of_socket(events[0].skaddr).has_value());
    tracker.observe(events[1]);
    const auto key = tracker.key_of_socket(events[0].skaddr);
    ASSERT_TRUE(key.has_value());
    EXPECT_EQ(key->local_port, events[1].local_port);
    EXPECT_NE(key->local_port, 0);
    EXPECT_EQ(*key, trace::key_of(events[1]));
}

TEST(TraceDecode, EveryTruncationIsAnErrorNotACrash) {
    const auto layout = fixture_layout();
    const auto records = read_records("client_closes_first_v4.records");
    ASSERT_FALSE(records.empty());
    const auto& full = records.front().bytes;
    for (std::size_t n = 0; n < full.size(); ++n) {
        const auto d = trace::decode_record({full.data(), n}, layout, 1, 0);
        EXPECT_FALSE(d) << "decoded " << n << " of " << full.size() << " bytes";
        EXPECT_FALSE(d.error.empty());
    }
    EXPECT_TRUE(trace::decode_record(full, layout, 1, 0));
}

TEST(TraceDecode, MalformedFieldsAreErrors) {
    const auto layout = fixture_layout();
    const auto good = read_records("client_closes_first_v4.records").front().bytes;

    auto other_event = good;
    other_event[0] = std::byte{0x01};  // common_type of another event
    EXPECT_FALSE(trace::decode_record(other_event, layout, 0, 0));

    auto bad_family = good;
    bad_family[28] = std::byte{99};
    const auto f = trace::decode_record(bad_family, layout, 0, 0);
    EXPECT_FALSE(f);
    EXPECT_NE(f.error.find("family"), std::string::npos) << f.error;

    auto bad_state = good;
    bad_state[19] = std::byte{0x80};  // oldstate negative
    EXPECT_FALSE(trace::decode_record(bad_state, layout, 0, 0));

    // A future state number still decodes and prints as UNKNOWN, never an out-of-table read.
    auto new_state = good;
    new_state[20] = std::byte{42};
    const auto n = trace::decode_record(new_state, layout, 0, 0);
    ASSERT_TRUE(n) << n.error;
    EXPECT_EQ(state_name(n.event->new_state), "UNKNOWN");

    // A layout pointing past any record is rejected, not followed.
    RecordLayout broken = layout;
    broken.daddr_v6.offset = 0xfffffff0u;
    EXPECT_FALSE(trace::decode_record(good, broken, 0, 0));
    RecordLayout zero;
    EXPECT_FALSE(trace::decode_record(good, zero, 0, 0));
}

TEST(TraceInstanceName, RoundTripsAndRejectsForeignNames) {
    const trace::InstanceOwner owner{1234, 5678, 9};
    const auto name = trace::instance_name(owner);
    EXPECT_EQ(name, "socklab-1234-5678-9");
    const auto back = trace::parse_instance_name(name);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->pid, 1234);
    EXPECT_EQ(back->start_time, 5678u);
    EXPECT_EQ(back->seq, 9u);
    for (const char* foreign : {"socklab", "socklab-", "socklab-12", "socklab-12-3",
                                "socklab-12-3-4-5", "socklab-a-3-4", "socklab-12--4",
                                "socklab-0-1-2", "socklab-12-3-4x", "socklab-012-3-4", "socklab-12-03-4", "perf-123", "trace-cmd",
                                "Socklab-1-2-3", " socklab-1-2-3",
                                "socklab-99999999999999999999-1-1"})
        EXPECT_FALSE(trace::parse_instance_name(foreign)) << foreign;
}

TEST(TraceCorrelation, SeenByPollingOnlyWhenASnapshotFellInside) {
    const std::vector<std::uint64_t> snaps{100, 200, 300};
    EXPECT_TRUE(trace::seen_by_polling(150, 250, snaps));
    EXPECT_TRUE(trace::seen_by_polling(100, 101, snaps));   // snapshot at the very start
    EXPECT_FALSE(trace::seen_by_polling(101, 200, snaps));  // left as the snapshot was taken
    EXPECT_FALSE(trace::seen_by_polling(201, 299, snaps));  // a SYN_RECV between two polls
    EXPECT_FALSE(trace::seen_by_polling(301, 900, snaps));
    EXPECT_FALSE(trace::seen_by_polling(250, 250, snaps));
    EXPECT_FALSE(trace::seen_by_polling(150, 250, {}));
}

}  // namespace
}  // namespace socklab

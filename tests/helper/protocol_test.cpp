// The socklab-helper protocol as bytes: every message survives a round trip, and every kind
// of broken frame is told apart (need more / unknown verb / bad frame) with its reason.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "socklab/helper_protocol.hpp"

namespace h = socklab::helper;
using Status = h::Decoded::Status;

namespace {

std::vector<std::byte> raw(std::initializer_list<int> bytes) {
    std::vector<std::byte> out;
    for (int b : bytes) out.push_back(static_cast<std::byte>(b));
    return out;
}

socklab::IpAddr v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
    const std::uint8_t x[4] = {a, b, c, d};
    return socklab::IpAddr::v4(x);
}

// Every field set, none to its default, so a field the codec forgets shows.
socklab::SyscallEvent connect_call() {
    socklab::SyscallEvent c;
    c.time_ns = 123456789012345;
    c.enter_ns = 123456789000000;
    c.pid = 4242;
    c.tid = 4243;
    std::strcpy(c.comm.data(), "curl");
    c.call = socklab::SyscallKind::connect;
    c.fd = 5;
    c.result = -1;
    c.error = ECONNREFUSED;
    c.arg0 = -2;
    c.arg1 = 0x7fffffffffffffffll;
    c.arg2 = 3;
    c.arg3 = 4;
    c.inode = 0xfedcba9876ull;
    const std::uint8_t six[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7};
    c.key = socklab::SocketKey{socklab::Proto::tcp, AF_INET6, socklab::IpAddr::v6(six), 41000,
                               socklab::IpAddr::v6(six), 8080};
    return c;
}

// A call whose socket was not named (socket() before bind, a failed accept).
// A busy reader's socket: every count distinct and wide, so a field that crosses in the
// wrong place or truncated shows.
socklab::DataCallCounts data_counts() {
    socklab::DataCallCounts c;
    c.pid = 4242;
    c.tid = 4243;
    c.fd = 7;
    c.sends = 3;
    c.send_bytes = 0x1'0000'0001ull;
    c.receives = 1'000'005;
    c.receive_bytes = 12;
    c.receive_zero = 1'000'000;
    c.errors = 2;
    c.first_ns = 111;
    c.last_ns = 0x7fff'ffff'ffff'0000ull;
    return c;
}

socklab::SyscallEvent unkeyed_call() {
    socklab::SyscallEvent c;
    c.time_ns = 7;
    c.pid = 1;
    c.tid = 1;
    std::strcpy(c.comm.data(), "python3");
    c.call = socklab::SyscallKind::accept4;
    c.fd = 3;
    c.result = 4;
    return c;
}

std::vector<h::Message> samples() {
    socklab::TransitionEvent e;
    e.time_ns = 123456789012345;
    e.cpu = 3;
    e.pid = 4242;
    std::strcpy(e.comm.data(), "curl");
    e.skaddr = 0xffff888012345678ull;
    e.family = AF_INET;
    e.protocol = IPPROTO_TCP;
    e.local_addr = v4(127, 0, 0, 1);
    e.local_port = 41000;
    e.remote_addr = v4(127, 0, 0, 1);
    e.remote_port = 8080;
    e.old_state = 2;
    e.new_state = 1;
    e.old_state_ns = 98765;
    const std::uint8_t six[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    return {
        h::TraceRequest{std::nullopt, true, {}, false, false},
        h::TraceRequest{std::nullopt, true, {}, false, true},
        h::TraceRequest{9005, true, {4242, 1, h::kMaxPid}, true, false},
        h::TraceRequest{9005, true, {4242}, true, true},
        h::SyscallReply{connect_call()},
        h::SyscallReply{unkeyed_call()},
        h::TraceRequest{},
        h::TraceRequest{8080, false, {}, false, false},
        h::DataCallsReply{4242, data_counts()},
        h::OwnersRequest{},
        h::OwnersRequest{{1, 2, 0xffffffffffull}},
        h::DestroyRequest{v4(127, 0, 0, 1), 8080, v4(127, 0, 0, 2), 50000, 0x1234},
        h::DestroyRequest{socklab::IpAddr::v6(six), 1, socklab::IpAddr::v6(six), 2, 7},
        h::SignalRequest{1234, 5678, 15},
        h::StopRequest{},
        h::OkReply{"done", 3},
        h::ErrorReply{h::ErrorCode::refused, "refused to signal pid 1: pid 1 is init"},
        h::EventReply{e},
        h::OwnersBatch{{{11, 100, 4, 1000, "nc"}, {12, 101, 5, 0, ""}}},
        h::CaptureRequest{},
        h::CaptureRequest{"enp0s31f6", {9001, 9002, 65535}, 64},
        h::PacketBatch{},
        h::PacketBatch{1, 2, 3, {{10, 74, std::vector<std::byte>(74, std::byte{0x45})},
                                 {11, 1500, std::vector<std::byte>(h::kMaxCaptureBytes)},
                                 {12, 0, {}}}},
    };
}

}  // namespace

TEST(HelperProtocol, EveryMessageRoundTrips) {
    for (const auto& m : samples()) {
        const auto bytes = h::encode(m);
        const auto d = h::decode(bytes);
        ASSERT_EQ(d.status, Status::complete) << d.error;
        EXPECT_EQ(d.consumed, bytes.size());
        ASSERT_TRUE(d.message);
        EXPECT_EQ(d.message->index(), m.index());
        EXPECT_TRUE(*d.message == m) << "verb " << static_cast<int>(h::verb_of(m));
    }
}

TEST(HelperProtocol, HeaderIsLengthVersionVerb) {
    const auto bytes = h::encode(h::SignalRequest{0x01020304, 0x05, 15});
    ASSERT_EQ(bytes.size(), 4u + 2 + 4 + 8 + 4);
    EXPECT_EQ(bytes[0], std::byte{0});
    EXPECT_EQ(bytes[3], std::byte{18});  // version + verb + 16 bytes of fields
    EXPECT_EQ(bytes[4], std::byte{h::kVersion});
    EXPECT_EQ(bytes[5], std::byte{4});  // signal
    EXPECT_EQ(bytes[6], std::byte{1});  // pid, big-endian
    EXPECT_EQ(bytes[9], std::byte{4});
}

TEST(HelperProtocol, EveryPrefixNeedsMore) {
    for (const auto& m : samples()) {
        const auto bytes = h::encode(m);
        for (std::size_t n = 0; n < bytes.size(); ++n) {
            const auto d = h::decode(std::span(bytes).first(n));
            EXPECT_EQ(d.status, Status::need_more) << "prefix " << n;
            EXPECT_EQ(d.consumed, 0u);
        }
    }
}

TEST(HelperProtocol, TwoFramesInOneBufferAreReadOneAtATime) {
    auto a = h::encode(h::StopRequest{});
    const auto b = h::encode(h::TraceRequest{9, false, {}, false, false});
    const auto first_size = a.size();
    a.insert(a.end(), b.begin(), b.end());
    const auto d = h::decode(a);
    ASSERT_EQ(d.status, Status::complete);
    EXPECT_EQ(d.consumed, first_size);
    EXPECT_TRUE(std::holds_alternative<h::StopRequest>(*d.message));
}

TEST(HelperProtocol, WrongVersionIsABadFrame) {
    auto bytes = h::encode(h::StopRequest{});
    bytes[4] = std::byte{2};
    const auto d = h::decode(bytes);
    EXPECT_EQ(d.status, Status::bad_frame);
    EXPECT_EQ(d.error, "protocol version 2 (this side speaks 1)");
}

TEST(HelperProtocol, OversizedLengthIsRefusedBeforeAnyPayload) {
    const auto d = h::decode(raw({0x00, 0x01, 0x00, 0x01}));  // 65537, nothing after it
    EXPECT_EQ(d.status, Status::bad_frame);
    EXPECT_EQ(d.error, "frame of 65537 bytes (at most 65536)");
    EXPECT_EQ(h::decode(raw({0xff, 0xff, 0xff, 0xff})).status, Status::bad_frame);
}

TEST(HelperProtocol, TooShortLengthIsABadFrame) {
    EXPECT_EQ(h::decode(raw({0, 0, 0, 1, 1})).error, "frame of 1 bytes (version and verb need 2)");
    EXPECT_EQ(h::decode(raw({0, 0, 0, 0})).status, Status::bad_frame);
}

TEST(HelperProtocol, TruncatedFieldsAreABadFrame) {
    // A signal frame whose length covers only 3 bytes of its 16 bytes of fields.
    const auto d = h::decode(raw({0, 0, 0, 5, 1, 4, 0, 0, 0}));
    EXPECT_EQ(d.status, Status::bad_frame);
    EXPECT_EQ(d.error, "verb 4: truncated integer: 4 bytes wanted, 3 left");
}

TEST(HelperProtocol, TrailingBytesAreABadFrame) {
    const auto d = h::decode(raw({0, 0, 0, 3, 1, 5, 0}));  // stop takes no fields
    EXPECT_EQ(d.status, Status::bad_frame);
    EXPECT_EQ(d.error, "verb 5: 1 bytes after the fields");
}

TEST(HelperProtocol, UnknownVerbIsSkippedWhole) {
    const auto d = h::decode(raw({0, 0, 0, 4, 1, 0x42, 9, 9}));
    EXPECT_EQ(d.status, Status::unknown_verb);
    EXPECT_EQ(d.consumed, 8u);
    EXPECT_EQ(d.error, "unknown verb 66");
}

TEST(HelperProtocol, BadFieldValuesAreRefused) {
    // trace: port flag 2
    EXPECT_EQ(h::decode(raw({0, 0, 0, 5, 1, 1, 2, 0, 80})).error,
              "verb 1: trace port flag 2 (want 0 or 1)");
    // owners: says 1000 inodes, carries none
    EXPECT_EQ(h::decode(raw({0, 0, 0, 6, 1, 2, 0, 0, 3, 0xe8})).error,
              "verb 2: owners request says 1000 inodes, 0 bytes left");
    // error: code 0
    EXPECT_EQ(h::decode(raw({0, 0, 0, 5, 1, 0x81, 0, 0, 0})).error, "verb 129: error code 0");
    // destroy with address family 7
    auto bytes = h::encode(h::DestroyRequest{v4(1, 2, 3, 4), 1, v4(1, 2, 3, 4), 2, 3});
    bytes[6] = std::byte{7};
    EXPECT_EQ(h::decode(bytes).error, "verb 3: address family 7 (want AF_INET or AF_INET6)");
    // a string longer than kMaxString
    EXPECT_EQ(h::decode(raw({0, 0, 0, 12, 1, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x01})).error,
              "verb 128: string of 4097 bytes (at most 4096)");
}

TEST(HelperProtocol, BadCaptureFieldsAreRefused) {
    const auto error_of = [](h::CaptureRequest m, auto&& spoil) {
        auto bytes = h::encode(m);
        spoil(bytes);
        return h::decode(bytes).error;
    };
    // Sizes the encoder would never send: made by hand.
    EXPECT_EQ(error_of(h::CaptureRequest{"", {}, 64}, [](auto&) {}),
              "verb 6: interface name of 0 bytes (want 1 to 15)");
    EXPECT_EQ(error_of(h::CaptureRequest{"a-very-long-name0", {}, 64}, [](auto&) {}),
              "verb 6: interface name of 17 bytes (want 1 to 15)");
    EXPECT_EQ(error_of(h::CaptureRequest{"lo", {}, 63}, [](auto&) {}),
              "verb 6: capture buffer of 63 KiB (want 64 to 65536)");
    EXPECT_EQ(error_of(h::CaptureRequest{"lo", {}, 65537}, [](auto&) {}),
              "verb 6: capture buffer of 65537 KiB (want 64 to 65536)");
    EXPECT_EQ(error_of(h::CaptureRequest{"lo", {80, 0}, 64}, [](auto&) {}),
              "verb 6: capture port 0");
    // 33 ports announced (the count is the two bytes after "lo" and the buffer size).
    EXPECT_EQ(error_of(h::CaptureRequest{"lo", {}, 64}, [](auto& b) { b[15] = std::byte{33}; }),
              "verb 6: capture request says 33 ports (at most 32)");
    h::CaptureRequest many{"lo", std::vector<std::uint16_t>(h::kMaxCapturePorts + 1, 80), 64};
    EXPECT_THROW((void)h::encode(many), std::length_error);
}

TEST(HelperProtocol, BadPacketBatchesAreRefused) {
    h::PacketBatch one{1, 0, 0, {{5, 60, std::vector<std::byte>(20)}}};
    auto bytes = h::encode(one);
    // Header 6, datalink 4, two drop counts 16, count 2: the frame starts at 28; its length
    // field is at 28 + 8 + 4.
    bytes[41] = std::byte{30};  // 30 bytes said, 20 there
    EXPECT_EQ(h::decode(bytes).error, "verb 132: truncated frame: 30 bytes wanted, 20 left");
    bytes[40] = std::byte{0x02};  // 542: over the limit
    EXPECT_EQ(h::decode(bytes).error, "verb 132: captured frame of 542 bytes (at most 256)");
    auto count = h::encode(one);
    count[27] = std::byte{200};  // 200 frames said, one there
    EXPECT_EQ(h::decode(count).error, "verb 132: packet batch says 200 frames, 34 bytes left");
    h::PacketBatch big{1, 0, 0, {{1, 1, std::vector<std::byte>(h::kMaxCaptureBytes + 1)}}};
    EXPECT_THROW((void)h::encode(big), std::length_error);
    // The helper's full batch always fits one frame.
    h::PacketBatch full{1, 0, 0, {}};
    full.frames.assign(h::kFramesPerBatch, {1, 1, std::vector<std::byte>(h::kMaxCaptureBytes)});
    EXPECT_NO_THROW((void)h::encode(full));
}

TEST(HelperProtocol, SenderMistakesThrowInsteadOfSendingGarbage) {
    EXPECT_THROW((void)h::encode(h::OkReply{std::string(h::kMaxString + 1, 'x'), 0}),
                 std::length_error);
    h::OwnersRequest big;
    big.inodes.resize(h::kMaxFrame / 8);
    EXPECT_THROW((void)h::encode(big), std::length_error);
    // The helper's batch size always fits, even with the longest command it sends (64 bytes).
    h::OwnersBatch batch;
    batch.entries.assign(h::kOwnersPerBatch, h::OwnerEntry{1, 2, 3, 4, std::string(64, 'c')});
    EXPECT_NO_THROW((void)h::encode(batch));
}

// The system-call section: absent when nothing asks for it, so a transitions-only trace is
// byte for byte the frame an older helper reads.
TEST(HelperProtocol, TraceWithoutSyscallsIsTheFrameItAlwaysWas) {
    EXPECT_EQ(h::encode(h::TraceRequest{8080, false, {}, false, false}), raw({0, 0, 0, 5, 1, 1, 1, 0x1f, 0x90}));
    EXPECT_EQ(h::encode(h::TraceRequest{std::nullopt, true, {258}, true, false}),
              raw({0, 0, 0, 12, 1, 1, 0, 0, 0, 3, 0, 1, 0, 0, 1, 2}));
}

TEST(HelperProtocol, BadTraceSyscallFieldsAreRefused) {
    const auto error_of = [](const h::TraceRequest& m) { return h::decode(h::encode(m)).error; };
    // What the encoder sends as asked and the decoder will not take.
    EXPECT_EQ(error_of({std::nullopt, false, {42}, false, false}),
              "verb 1: trace system-call section without its syscalls flag");
    EXPECT_EQ(error_of({std::nullopt, true, {}, true, false}),
              "verb 1: trace asks to follow the children of no pid");
    EXPECT_EQ(error_of({std::nullopt, true, {0}, false, false}), "verb 1: trace pid 0 (want 1 to 4194304)");
    EXPECT_EQ(error_of({std::nullopt, true, {-1}, false, false}), "verb 1: trace pid -1 (want 1 to 4194304)");
    EXPECT_EQ(error_of({std::nullopt, true, {h::kMaxPid + 1}, false, false}),
              "verb 1: trace pid 4194305 (want 1 to 4194304)");
    // Made by hand: an unknown flag bit, more pids than the limit, a count beyond the frame.
    EXPECT_EQ(h::decode(raw({0, 0, 0, 8, 1, 1, 0, 0, 0, 9, 0, 0})).error,
              "verb 1: trace flags 9 (want bits 0 to 2 only)");
    EXPECT_EQ(h::decode(raw({0, 0, 0, 8, 1, 1, 0, 0, 0, 1, 0, 65})).error,
              "verb 1: trace request says 65 pids (at most 64)");
    EXPECT_EQ(h::decode(raw({0, 0, 0, 8, 1, 1, 0, 0, 0, 1, 0, 2})).error,
              "verb 1: truncated integer: 4 bytes wanted, 0 left");
    EXPECT_EQ(h::decode(raw({0, 0, 0, 6, 1, 1, 0, 0, 0, 1})).error,
              "verb 1: truncated integer: 2 bytes wanted, 0 left");
    h::TraceRequest many{std::nullopt, true, std::vector<std::int32_t>(h::kMaxTracePids + 1, 1), false, false};
    EXPECT_THROW((void)h::encode(many), std::length_error);
}

TEST(HelperProtocol, BadSyscallFieldsAreRefused) {
    // Offsets in the frame: header 6, time 8, enter 8, pid 4, tid 4, comm 16 (6..45),
    // call at 46, fd 47, result 51, error 59, args 63..94, inode 95, key flag 103, key 104...
    const auto spoiled = [](std::size_t at, int value, socklab::SyscallEvent c = connect_call()) {
        auto bytes = h::encode(h::SyscallReply{c});
        bytes.at(at) = static_cast<std::byte>(value);
        return h::decode(bytes).error;
    };
    EXPECT_EQ(h::encode(h::SyscallReply{unkeyed_call()}).size(), 104u);
    EXPECT_EQ(spoiled(45, 'x'), "verb 133: system call command not NUL-terminated");
    EXPECT_EQ(spoiled(46, 15), "verb 133: system call kind 15");
    EXPECT_EQ(spoiled(59, 0x80), "verb 133: system call errno -2147483537 (want 0 to 4095)");
    EXPECT_EQ(spoiled(61, 0x10), "verb 133: system call errno 4207 (want 0 to 4095)");
    EXPECT_EQ(spoiled(103, 2), "verb 133: system call key flag 2 (want 0 or 1)");
    EXPECT_EQ(spoiled(103, 1, unkeyed_call()), "verb 133: truncated integer: 1 bytes wanted, 0 left");
    EXPECT_EQ(spoiled(104, 2), "verb 133: system call key protocol 2");
    EXPECT_EQ(spoiled(105, 7), "verb 133: system call key family 7");
    EXPECT_EQ(spoiled(106, 9), "verb 133: event address family 9");
    // Key absent: nothing may follow the flag (the encoding of a call is one, never two).
    auto bytes = h::encode(h::SyscallReply{unkeyed_call()});
    bytes.push_back(std::byte{0});
    bytes[3] = static_cast<std::byte>(std::to_integer<int>(bytes[3]) + 1);
    EXPECT_EQ(h::decode(bytes).error, "verb 133: 1 bytes after the fields");
}

// What a helper may tell the front end about a call is exactly what the direct tracer has:
// every field of SyscallEvent crosses, the key's addresses and ports included.
TEST(HelperProtocol, SyscallReplyCarriesEveryField) {
    const auto c = connect_call();
    const auto d = h::decode(h::encode(h::SyscallReply{c}));
    ASSERT_EQ(d.status, Status::complete) << d.error;
    const auto& got = std::get<h::SyscallReply>(*d.message).call;
    EXPECT_EQ(got.time_ns, c.time_ns);
    EXPECT_EQ(got.enter_ns, c.enter_ns);
    EXPECT_EQ(got.tid, 4243);
    EXPECT_EQ(got.comm_view(), "curl");
    EXPECT_EQ(got.call, socklab::SyscallKind::connect);
    EXPECT_EQ(got.result, -1);
    EXPECT_EQ(got.error, ECONNREFUSED);
    EXPECT_EQ(got.arg1, 0x7fffffffffffffffll);
    EXPECT_EQ(got.inode, 0xfedcba9876ull);
    ASSERT_TRUE(got.key);
    EXPECT_EQ(got.key->family, AF_INET6);
    EXPECT_EQ(got.key->local_port, 41000);
    EXPECT_EQ(got.key->remote_port, 8080);
    EXPECT_EQ(got.key->remote_addr, c.key->remote_addr);
    // And the equality the round trip relies on sees each field.
    auto other = c;
    other.arg3 = 5;
    EXPECT_FALSE(h::SyscallReply{c} == h::SyscallReply{other});
    other = c;
    other.key->remote_port = 1;
    EXPECT_FALSE(h::SyscallReply{c} == h::SyscallReply{other});
}

// Data calls in a trace: bit 2 of the section's flags, only with system calls; a request
// without it is the frame it was (TraceWithoutSyscallsIsTheFrameItAlwaysWas).
TEST(HelperProtocol, TraceAskingForDataCallsSetsBitTwo) {
    EXPECT_EQ(h::encode(h::TraceRequest{std::nullopt, true, {258}, true, true}),
              raw({0, 0, 0, 12, 1, 1, 0, 0, 0, 7, 0, 1, 0, 0, 1, 2}));
    const auto d = h::decode(raw({0, 0, 0, 12, 1, 1, 0, 0, 0, 5, 0, 1, 0, 0, 1, 2}));
    ASSERT_EQ(d.status, Status::complete) << d.error;
    const auto& t = std::get<h::TraceRequest>(*d.message);
    EXPECT_TRUE(t.syscalls);
    EXPECT_TRUE(t.data_calls);
    EXPECT_FALSE(t.follow_children);
    EXPECT_EQ(t.pids, std::vector<std::int32_t>{258});
    // Data calls without system calls ask for nothing the helper serves.
    EXPECT_EQ(h::decode(h::encode(h::TraceRequest{std::nullopt, false, {}, false, true})).error,
              "verb 1: trace system-call section without its syscalls flag");
    EXPECT_EQ(h::decode(raw({0, 0, 0, 8, 1, 1, 0, 0, 0, 4, 0, 0})).error,
              "verb 1: trace system-call section without its syscalls flag");
}

TEST(HelperProtocol, BadDataCallsFieldsAreRefused) {
    // Offsets in the frame: header 6, inode 6..13, pid 14, tid 18, fd 22, sends 26,
    // send_bytes 34, receives 42, receive_bytes 50, receive_zero 58, errors 66, first_ns 74,
    // last_ns 82..89.
    EXPECT_EQ(h::encode(h::DataCallsReply{1, data_counts()}).size(), 90u);
    const auto with = [](std::uint64_t inode, socklab::DataCallCounts c) {
        return h::decode(h::encode(h::DataCallsReply{inode, c})).error;
    };
    EXPECT_EQ(with(0, data_counts()), "verb 134: data calls on inode 0");
    auto c = data_counts();
    c.pid = 0;
    EXPECT_EQ(with(1, c), "verb 134: data calls of pid 0, thread 4243 (want 1 to 4194304)");
    c = data_counts();
    c.tid = h::kMaxPid + 1;
    EXPECT_EQ(with(1, c), "verb 134: data calls of pid 4242, thread 4194305 (want 1 to 4194304)");
    c = data_counts();
    c.fd = -1;
    EXPECT_EQ(with(1, c), "verb 134: data calls on fd -1");
    c = data_counts();
    c.receive_zero = c.receives + 1;
    EXPECT_EQ(with(1, c), "verb 134: data calls: 1000006 receives returned 0 of 1000005");
    c = data_counts();
    c.last_ns = c.first_ns - 1;
    EXPECT_EQ(with(1, c), "verb 134: data calls: the last before the first");
    // Truncated, and one byte too many.
    auto bytes = h::encode(h::DataCallsReply{1, data_counts()});
    auto short_by_one = bytes;
    short_by_one.pop_back();
    short_by_one[3] = static_cast<std::byte>(std::to_integer<int>(short_by_one[3]) - 1);
    EXPECT_EQ(h::decode(short_by_one).error, "verb 134: truncated integer: 8 bytes wanted, 7 left");
    bytes.push_back(std::byte{0});
    bytes[3] = static_cast<std::byte>(std::to_integer<int>(bytes[3]) + 1);
    EXPECT_EQ(h::decode(bytes).error, "verb 134: 1 bytes after the fields");
}

// What the analysis reads of a socket's data calls crosses whole; the first reads' results
// (the framing hints' share, which needs payload the helper never has) do not.
TEST(HelperProtocol, DataCallsReplyCarriesEveryField) {
    auto sent = data_counts();
    sent.first_reads[0] = 5;
    sent.reads_kept = 1;
    const auto d = h::decode(h::encode(h::DataCallsReply{0xfedcba9876ull, sent}));
    ASSERT_EQ(d.status, Status::complete) << d.error;
    const auto& got = std::get<h::DataCallsReply>(*d.message);
    EXPECT_EQ(got.inode, 0xfedcba9876ull);
    auto want = data_counts();
    EXPECT_EQ(got.counts, want);
    EXPECT_EQ(got.counts.pid, 4242);
    EXPECT_EQ(got.counts.tid, 4243);
    EXPECT_EQ(got.counts.fd, 7);
    EXPECT_EQ(got.counts.receive_zero, 1'000'000u);
    EXPECT_EQ(got.counts.send_bytes, 0x1'0000'0001ull);
    EXPECT_EQ(got.counts.last_ns, 0x7fff'ffff'ffff'0000ull);
    EXPECT_EQ(got.counts.reads_kept, 0);
    // And the equality the round trip relies on sees each field.
    for (auto field : {&socklab::DataCallCounts::sends, &socklab::DataCallCounts::send_bytes,
                       &socklab::DataCallCounts::receives, &socklab::DataCallCounts::receive_bytes,
                       &socklab::DataCallCounts::receive_zero, &socklab::DataCallCounts::errors,
                       &socklab::DataCallCounts::first_ns, &socklab::DataCallCounts::last_ns}) {
        auto other = want;
        other.*field += 1;
        EXPECT_FALSE((h::DataCallsReply{1, want} == h::DataCallsReply{1, other}));
    }
}

// The syscalls tracepoints' format files as Linux 6.18 wrote them (tests/fixtures/trace/
// sys_*.format), records laid out by them, the pairing of entries with exits, and malformed
// input.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "socklab/error.hpp"
#include "socklab/syscall_trace.hpp"

namespace socklab {
namespace {

using trace::SyscallLayout;

std::string format_fixture(const std::string& event) {
    std::ifstream in(std::string(SOCKLAB_FIXTURES) + "/trace/" + event + ".format");
    EXPECT_TRUE(in) << "missing fixture " << event;
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// A record as the ring buffer holds it, made from the layout: common_type, common_pid, and
// the arguments / ret at their offsets.
std::vector<std::byte> record(const SyscallLayout& l, std::int32_t tid,
                              std::vector<std::int64_t> values) {
    std::size_t size = 16;
    for (const auto& f : l.args) size = std::max<std::size_t>(size, f.offset + f.size);
    size = std::max<std::size_t>(size, l.ret.offset + l.ret.size);
    std::vector<std::byte> b(size);
    std::memcpy(b.data() + l.common_type.offset, &l.event_id, 2);
    std::memcpy(b.data() + l.common_pid.offset, &tid, 4);
    if (l.exit) {
        std::memcpy(b.data() + l.ret.offset, values.data(), 8);
    } else {
        for (std::size_t i = 0; i < values.size() && l.args[i].size; ++i)
            std::memcpy(b.data() + l.args[i].offset, &values[i], 8);
    }
    return b;
}

TEST(SyscallDecode, RecordedFormatsParse) {
    const auto enter = trace::parse_syscall_format(format_fixture("sys_enter_connect"));
    EXPECT_EQ(enter.call, SyscallKind::connect);
    EXPECT_FALSE(enter.exit);
    EXPECT_EQ(enter.event_id, 2230);
    EXPECT_EQ(enter.args[0].offset, 16u);  // fd
    EXPECT_EQ(enter.args[2].offset, 32u);  // addrlen
    const auto exit = trace::parse_syscall_format(format_fixture("sys_exit_connect"));
    EXPECT_TRUE(exit.exit);
    EXPECT_EQ(exit.ret.offset, 16u);
    const auto so = trace::parse_syscall_format(format_fixture("sys_enter_setsockopt"));
    EXPECT_EQ(so.args[1].offset, 24u);  // level
    EXPECT_EQ(so.args[2].offset, 32u);  // optname
    for (const char* e : {"sys_enter_accept4", "sys_exit_accept4", "sys_enter_close",
                          "sys_exit_close", "sys_enter_listen", "sys_enter_shutdown",
                          "sys_enter_socket", "sys_exit_socket"})
        EXPECT_NO_THROW((void)trace::parse_syscall_format(format_fixture(e))) << e;
}

TEST(SyscallDecode, RefusesOtherFormats) {
    try {
        (void)trace::parse_syscall_format(format_fixture("../trace/inet_sock_set_state"));
        FAIL() << "accepted a non-syscall format";
    } catch (const ParseError& e) {
        EXPECT_STREQ(e.what(), "failed to parse the syscall tracepoint format: "
                               "'inet_sock_set_state' is not a syscalls event");
    }
    auto text = format_fixture("sys_enter_connect");
    text.replace(text.find("sys_enter_connect"), 17, "sys_enter_openat2");
    EXPECT_THROW((void)trace::parse_syscall_format(text), ParseError);
    auto bad = format_fixture("sys_enter_connect");
    bad.replace(bad.find("offset:16;\tsize:8;"), 18, "offset:16;\tsize:4;");
    EXPECT_THROW((void)trace::parse_syscall_format(bad), ParseError);
    EXPECT_THROW((void)trace::parse_syscall_format(""), ParseError);
}

TEST(SyscallDecode, EntryAndExitMakeOneCall) {
    const auto enter = trace::parse_syscall_format(format_fixture("sys_enter_connect"));
    const auto exit = trace::parse_syscall_format(format_fixture("sys_exit_connect"));
    trace::SyscallJoiner joiner;
    const auto in = trace::decode_syscall_record(record(enter, 4242, {3, 0x7ffd0000, 16}), enter, 100);
    ASSERT_TRUE(in) << in.error;
    EXPECT_FALSE(joiner.feed(*in.record).has_value());
    const auto out = trace::decode_syscall_record(record(exit, 4242, {-ECONNREFUSED}), exit, 250);
    ASSERT_TRUE(out) << out.error;
    const auto call = joiner.feed(*out.record);
    ASSERT_TRUE(call.has_value());
    EXPECT_EQ(call->call, SyscallKind::connect);
    EXPECT_EQ(call->fd, 3);
    EXPECT_EQ(call->tid, 4242);
    EXPECT_EQ(call->enter_ns, 100u);
    EXPECT_EQ(call->time_ns, 250u);
    EXPECT_EQ(call->result, -ECONNREFUSED);
    EXPECT_EQ(errno_name(call->error), "ECONNREFUSED");
    EXPECT_EQ(joiner.open_calls(), 0u);
    // An exit whose entry was not seen (tracing began mid-call) is counted, not invented.
    EXPECT_FALSE(joiner.feed(*out.record).has_value());
    EXPECT_EQ(joiner.unmatched_exits(), 1u);
}

TEST(SyscallDecode, SocketAndAcceptNameTheNewDescriptor) {
    const auto se = trace::parse_syscall_format(format_fixture("sys_enter_socket"));
    const auto sx = trace::parse_syscall_format(format_fixture("sys_exit_socket"));
    trace::SyscallJoiner j;
    (void)j.feed(*trace::decode_syscall_record(record(se, 7, {AF_INET, SOCK_STREAM, 0}), se, 1).record);
    const auto s = j.feed(*trace::decode_syscall_record(record(sx, 7, {5}), sx, 2).record);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->fd, 5);
    EXPECT_EQ(s->arg0, AF_INET);

    const auto ae = trace::parse_syscall_format(format_fixture("sys_enter_accept4"));
    const auto ax = trace::parse_syscall_format(format_fixture("sys_exit_accept4"));
    (void)j.feed(*trace::decode_syscall_record(record(ae, 8, {3, 0, 0, 0}), ae, 3).record);
    const auto a = j.feed(*trace::decode_syscall_record(record(ax, 8, {6}), ax, 4).record);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->fd, 3) << "the listener";
    EXPECT_EQ(a->result, 6) << "the new connection";
}

TEST(SyscallDecode, TruncatedAndForeignRecordsAreErrors) {
    const auto enter = trace::parse_syscall_format(format_fixture("sys_enter_setsockopt"));
    const auto full = record(enter, 1, {3, SOL_SOCKET, SO_LINGER, 0});
    for (std::size_t n = 0; n < full.size(); ++n) {
        const auto r = trace::decode_syscall_record(std::span(full).first(n), enter, 0);
        EXPECT_FALSE(r) << n;
        EXPECT_FALSE(r.error.empty());
    }
    ASSERT_TRUE(trace::decode_syscall_record(full, enter, 0));
    auto other = full;
    other[0] = std::byte{0x01};
    other[1] = std::byte{0x00};
    EXPECT_EQ(trace::decode_syscall_record(other, enter, 0).error,
              "not a setsockopt record (event id 1)");
}

}  // namespace
}  // namespace socklab

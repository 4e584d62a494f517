// The syscalls and task tracepoints' format files as Linux 6.18 wrote them
// (tests/fixtures/trace/sys_*.format, task_*.format), records laid out by them, the pairing
// of entries with exits, and malformed input.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <span>
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

TEST(SyscallDecode, ACallWhoseExitIsReadBeforeItsEntryIsJoinedInTimeOrder) {
    // The thread moved to another cpu inside connect(): that cpu's buffer, read first, gives
    // the exit (t=250) before the first cpu's gives the entry (t=100).
    const auto enter = trace::parse_syscall_format(format_fixture("sys_enter_connect"));
    const auto exit = trace::parse_syscall_format(format_fixture("sys_exit_connect"));
    std::vector<trace::RawSyscall> held{
        *trace::decode_syscall_record(record(exit, 4242, {0}), exit, 250).record,
        *trace::decode_syscall_record(record(enter, 4242, {3, 0x7ffd0000, 16}), enter, 100).record,
        *trace::decode_syscall_record(record(enter, 4242, {4, 0x7ffd0000, 16}), enter, 400).record,
    };
    trace::SyscallJoiner joiner;
    std::vector<SyscallEvent> calls;
    joiner.feed_in_time_order(held, 300, calls);
    ASSERT_EQ(calls.size(), 1u);
    EXPECT_EQ(calls[0].fd, 3);
    EXPECT_EQ(calls[0].enter_ns, 100u);
    EXPECT_EQ(joiner.unmatched_exits(), 0u);
    ASSERT_EQ(held.size(), 1u) << "what happened at or after 300 waits for the next read";
    EXPECT_EQ(held[0].time_ns, 400u);
    // Fed in the order read, the same records lose the call.
    trace::SyscallJoiner as_read;
    EXPECT_FALSE(as_read.feed(*trace::decode_syscall_record(record(exit, 4242, {0}), exit, 250).record));
    EXPECT_FALSE(as_read.feed(*trace::decode_syscall_record(record(enter, 4242, {3, 0, 16}), enter, 100).record));
    EXPECT_EQ(as_read.unmatched_exits(), 1u);
}

TEST(SyscallDecode, TheKernelsRestartCodesAreNamed) {
    // A process killed inside accept() exits the call with -ERESTARTSYS in the tracepoint.
    EXPECT_EQ(errno_name(512), "ERESTARTSYS");
    EXPECT_EQ(errno_name(516), "ERESTART_RESTARTBLOCK");
    EXPECT_EQ(errno_name(4000), "E4000");  // unknown: its number
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

// task:task_newtask and task:task_rename as Linux 6.18 wrote them.
std::vector<std::byte> task_record(const trace::TaskLayout& l, std::int32_t by_tid, std::int32_t pid,
                                   std::uint64_t flags, const char* comm) {
    std::vector<std::byte> b(std::max<std::size_t>(l.comm.offset + 16, l.clone_flags.offset + l.clone_flags.size));
    std::memcpy(b.data() + l.common_type.offset, &l.event_id, 2);
    std::memcpy(b.data() + l.common_pid.offset, &by_tid, 4);
    std::memcpy(b.data() + l.pid.offset, &pid, 4);
    if (l.clone_flags.size) std::memcpy(b.data() + l.clone_flags.offset, &flags, 8);
    // The kernel pads a short name with NULs; a name of 16 has no terminator: the decoder adds one.
    std::memcpy(b.data() + l.comm.offset, comm, std::min<std::size_t>(16, std::strlen(comm)));
    return b;
}

TEST(TaskDecode, NewTaskGivesCreatorPidFlagsAndName) {
    const auto l = trace::parse_task_format(format_fixture("task_newtask"));
    EXPECT_EQ(l.kind, trace::TaskLayout::Kind::new_task);
    EXPECT_EQ(l.event_id, 205);
    EXPECT_EQ(l.pid.offset, 8u);
    EXPECT_EQ(l.comm.offset, 12u);
    EXPECT_EQ(l.clone_flags.offset, 32u);
    const auto bytes = task_record(l, 4100, 4107, 0x3d0f00, "python3");
    const auto r = trace::decode_task_record(bytes, l, 77);
    ASSERT_TRUE(r) << r.error;
    EXPECT_EQ(r.record->by_tid, 4100);
    EXPECT_EQ(r.record->pid, 4107);
    EXPECT_EQ(r.record->clone_flags, 0x3d0f00u);
    EXPECT_STREQ(r.record->comm.data(), "python3");
    EXPECT_EQ(r.record->time_ns, 77u);
}

TEST(TaskDecode, RenameGivesTheNewNameTerminatedAndTheOldOne) {
    const auto l = trace::parse_task_format(format_fixture("task_rename"));
    EXPECT_EQ(l.kind, trace::TaskLayout::Kind::rename);
    EXPECT_EQ(l.comm.offset, 28u);  // newcomm
    EXPECT_EQ(l.old_comm.offset, 12u);
    auto bytes = task_record(l, 9, 9, 0, "a-name-of-16-chars");
    std::memcpy(bytes.data() + l.old_comm.offset, "bash", 4);
    const auto r = trace::decode_task_record(bytes, l, 0);
    ASSERT_TRUE(r) << r.error;
    EXPECT_STREQ(r.record->comm.data(), "a-name-of-16-ch");  // 15 characters and the NUL
    EXPECT_STREQ(r.record->old_comm.data(), "bash");
    auto no_old = format_fixture("task_rename");
    no_old.replace(no_old.find("oldcomm"), 7, "oldname");
    try {
        (void)trace::parse_task_format(no_old);
        FAIL() << "accepted a task_rename format without oldcomm";
    } catch (const ParseError& e) {
        EXPECT_STREQ(e.what(), "failed to parse the task tracepoint format: field 'oldcomm' is "
                               "missing, this socklab reads 16");
    }
}

trace::RawTask naming(std::int32_t pid, std::uint64_t at_ns, const char* before, const char* name) {
    trace::RawTask t;
    t.kind = before ? trace::TaskLayout::Kind::rename : trace::TaskLayout::Kind::new_task;
    t.pid = pid;
    t.by_tid = pid;
    t.time_ns = at_ns;
    if (before) std::snprintf(t.old_comm.data(), t.old_comm.size(), "%s", before);
    std::snprintf(t.comm.data(), t.comm.size(), "%s", name);
    return t;
}

std::string name_at(const trace::TaskNames& names, std::int32_t pid, std::uint64_t at_ns) {
    const auto n = names.name_at(pid, at_ns, 1000);
    return n ? std::string(n->data()) : std::string("(not told)");
}

TEST(TaskNames, EachEventIsNamedAsOfItsTimeWhateverOrderTheNamingsWereReadIn) {
    // A forked test program execs bash at 100, which execs python3 at 300; the second rename
    // is read first (its cpu's buffer was read first).
    trace::TaskNames names;
    names.learn(naming(7, 300, "bash", "python3"));
    names.learn(naming(7, 100, "tests", "bash"));
    EXPECT_EQ(name_at(names, 7, 50), "tests");  // before any: the name the first replaced
    EXPECT_EQ(name_at(names, 7, 100), "bash");
    EXPECT_EQ(name_at(names, 7, 299), "bash");
    EXPECT_EQ(name_at(names, 7, 300), "python3");
    EXPECT_EQ(name_at(names, 7, 1299), "python3");
    EXPECT_EQ(name_at(names, 7, 1300), "(not told)");  // too old: the pid may be another's now
    EXPECT_EQ(name_at(names, 8, 300), "(not told)");
    // A new task carries its creator's name and says nothing of before.
    names.learn(naming(9, 500, nullptr, "python3"));
    EXPECT_EQ(name_at(names, 9, 499), "(not told)");
    EXPECT_EQ(name_at(names, 9, 600), "python3");
}

TEST(TaskNames, OnlyTheLatestNamingsAreKept) {
    trace::TaskNames names;
    for (std::uint64_t i = 1; i <= trace::TaskNames::kKept + 2; ++i)
        names.learn(naming(7, i * 100, ("n" + std::to_string(i - 1)).c_str(), ("n" + std::to_string(i)).c_str()));
    // An old one read late is older than all kept: left out, the newer ones stand.
    names.learn(naming(7, 50, "x", "old"));
    EXPECT_EQ(name_at(names, 7, 650), "n6");
    EXPECT_EQ(name_at(names, 7, 350), "n3");
    EXPECT_EQ(name_at(names, 7, 250), "n2");  // from the oldest kept (300), the name it replaced
    EXPECT_EQ(name_at(names, 7, 60), "n2");
    EXPECT_EQ(names.tasks(), 1u);
}

TEST(TaskDecode, TruncatedOtherAndMalformedAreErrors) {
    const auto l = trace::parse_task_format(format_fixture("task_newtask"));
    auto bytes = task_record(l, 1, 2, 0, "sh");
    EXPECT_FALSE(trace::decode_task_record(std::span(bytes).first(35), l, 0));
    bytes[0] = std::byte{1};
    const auto other = trace::decode_task_record(bytes, l, 0);
    ASSERT_FALSE(other);
    EXPECT_EQ(other.error, "not a task record of event id 205");
    EXPECT_THROW((void)trace::parse_task_format(format_fixture("sys_enter_connect")), ParseError);
    auto no_flags = format_fixture("task_newtask");
    no_flags.replace(no_flags.find("clone_flags"), 11, "clone_flagz");
    try {
        (void)trace::parse_task_format(no_flags);
        FAIL() << "accepted a task_newtask format without clone_flags";
    } catch (const ParseError& e) {
        EXPECT_STREQ(e.what(), "failed to parse the task tracepoint format: field 'clone_flags' is "
                               "missing, this socklab reads 8");
    }
}

}  // namespace
}  // namespace socklab

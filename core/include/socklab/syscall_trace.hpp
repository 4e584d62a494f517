#pragma once
// The kernel-free half of system-call tracing: the syscalls tracepoints' format files, the
// raw record decoder and the pairing of each call's entry with its exit. Fed recorded format
// files and bytes in tests and in the fuzzer (fuzz_trace_record), so every read is checked.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "socklab/syscall_event.hpp"
#include "socklab/tracer.hpp"

namespace socklab::trace {

// Layout of one syscalls:sys_enter_<call> or sys_exit_<call> tracepoint.
struct SyscallLayout {
    std::uint16_t event_id = 0;
    SyscallKind call = SyscallKind::close;
    bool exit = false;
    FieldSpec common_type, common_pid;
    std::array<FieldSpec, 4> args{};  // sys_enter: the first (up to) four arguments, in order
    FieldSpec ret;                    // sys_exit: "long ret"
};

// Parse events/syscalls/sys_{enter,exit}_<call>/format. Throws ParseError when it is not the
// format of a call socklab traces, or a field has an unexpected size.
[[nodiscard]] SyscallLayout parse_syscall_format(std::string_view format_text);

struct RawSyscall {
    std::uint64_t time_ns = 0;
    std::int32_t tid = 0;  // common_pid: the thread
    SyscallKind call = SyscallKind::close;
    bool exit = false;
    std::array<std::int64_t, 4> args{};
    std::int64_t ret = 0;
};

// A decoded record, or why not.
template <typename Record>
struct Decoded {
    std::optional<Record> record;
    std::string error;
    explicit operator bool() const noexcept { return record.has_value(); }
};
using SyscallDecodeResult = Decoded<RawSyscall>;

// Decode one raw record of the event `layout` describes. Never throws, never reads outside.
[[nodiscard]] SyscallDecodeResult decode_syscall_record(std::span<const std::byte> record,
                                                        const SyscallLayout& layout,
                                                        std::uint64_t time_ns) noexcept;

// Layout of task:task_newtask or task:task_rename. A thread's calls carry only its thread id;
// these two events keep the tracer's thread -> process and task -> name maps true even for a
// thread that has ended (no /proc entry left to ask) or a task that has just exec'd.
struct TaskLayout {
    enum class Kind : std::uint8_t { new_task, rename };
    Kind kind = Kind::new_task;
    std::uint16_t event_id = 0;
    FieldSpec common_type, common_pid;
    FieldSpec pid;          // the new task, or the renamed one
    FieldSpec clone_flags;  // new_task only
    FieldSpec comm;         // new_task: its name; rename: "newcomm"
    FieldSpec old_comm;     // rename only: "oldcomm", the name it had until then
};

// Parse events/task/task_{newtask,rename}/format. Throws ParseError when it is another event
// or a field the decoder reads is missing or has an unexpected size.
[[nodiscard]] TaskLayout parse_task_format(std::string_view format_text);

struct RawTask {
    TaskLayout::Kind kind = TaskLayout::Kind::new_task;
    std::uint64_t time_ns = 0;
    std::int32_t by_tid = 0;  // common_pid: the thread that created (or renamed) the task
    std::int32_t pid = 0;     // the task's id
    std::uint64_t clone_flags = 0;
    std::array<char, 16> comm{};      // always NUL-terminated
    std::array<char, 16> old_comm{};  // rename: the name before; empty for a new task
};

using TaskDecodeResult = Decoded<RawTask>;

// Decode one raw record of the event `layout` describes. Never throws, never reads outside.
[[nodiscard]] TaskDecodeResult decode_task_record(std::span<const std::byte> record,
                                                  const TaskLayout& layout,
                                                  std::uint64_t time_ns) noexcept;

// The names the kernel gave each task (task_newtask, task_rename), kept by time so that an
// event is named as of its own time. The per-cpu buffers are read one cpu at a time, so the
// namings arrive out of order: an exec on one cpu is read after the calls that followed it on
// another, or after a rename older than it.
class TaskNames {
public:
    static constexpr std::size_t kKept = 4;  // namings kept per task, the latest

    void learn(const RawTask& t);
    // The task's name at `time_ns`: the naming before it, when at most `ttl_ns` old (a pid
    // is reused by another program in time), or else the name a rename after it replaced,
    // when that rename is at most `ttl_ns` later. Nothing when the kernel has not said.
    [[nodiscard]] std::optional<std::array<char, 16>> name_at(std::int32_t tid, std::uint64_t time_ns,
                                                             std::uint64_t ttl_ns) const;
    [[nodiscard]] std::size_t tasks() const noexcept { return by_tid_.size(); }

private:
    struct Naming {
        std::uint64_t from_ns = 0;
        std::array<char, 16> before{};  // empty for a new task
        std::array<char, 16> name{};
    };
    struct Namings {
        std::array<Naming, kKept> kept{};
        std::size_t count = 0;  // in time order, oldest first
    };
    std::unordered_map<std::int32_t, Namings> by_tid_;
};

// Pairs entries with exits per thread (a thread is in one system call at a time): an exit
// whose entry was seen gives a SyscallEvent (pid = tid until the caller knows the process;
// fd: accept/socket give the new descriptor in `result`, the listener's in `fd`).
class SyscallJoiner {
public:
    [[nodiscard]] std::optional<SyscallEvent> feed(const RawSyscall& r);
    // Feed the records of `held` that happened before `before_ns`, in time order, and remove
    // them; the calls they complete go to `out`. The per-cpu buffers are read one cpu after
    // another: a thread moved to another cpu inside a call has its exit read before its
    // entry, and fed as read the call would be lost.
    void feed_in_time_order(std::vector<RawSyscall>& held, std::uint64_t before_ns,
                            std::vector<SyscallEvent>& out);
    [[nodiscard]] std::size_t open_calls() const noexcept { return open_.size(); }
    [[nodiscard]] std::uint64_t unmatched_exits() const noexcept { return unmatched_; }

private:
    std::unordered_map<std::int32_t, RawSyscall> open_;
    std::uint64_t unmatched_ = 0;
};

}  // namespace socklab::trace

// libFuzzer target: the syscalls and task tracepoints' format parsers and record decoders,
// and the entry/exit joiner. Bit 0 of the first byte: parse the rest as a format file (bit 1:
// a task_* one) and decode the same bytes with whatever it accepted; otherwise the rest is a
// stream of records of the connect entry/exit layouts as Linux 6.18 prints them
// (tests/fixtures/trace/sys_*_connect), and bit 1 decodes each also as a task_newtask record
// and keeps its name (trace::TaskNames), asked again at a time near it; the records, some
// with times out of order, are joined in time order in two reads.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "socklab/error.hpp"
#include "socklab/syscall_trace.hpp"

namespace {

constexpr std::string_view kEnter =
    "name: sys_enter_connect\nID: 2230\nformat:\n"
    "\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n"
    "\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n"
    "\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n"
    "\tfield:int fd;\toffset:16;\tsize:8;\tsigned:0;\n"
    "\tfield:struct sockaddr * uservaddr;\toffset:24;\tsize:8;\tsigned:0;\n"
    "\tfield:int addrlen;\toffset:32;\tsize:8;\tsigned:0;\n";
constexpr std::string_view kExit =
    "name: sys_exit_connect\nID: 2229\nformat:\n"
    "\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n"
    "\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n"
    "\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n"
    "\tfield:long ret;\toffset:16;\tsize:8;\tsigned:1;\n";
constexpr std::string_view kNewTask =
    "name: task_newtask\nID: 205\nformat:\n"
    "\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n"
    "\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n"
    "\tfield:pid_t pid;\toffset:8;\tsize:4;\tsigned:1;\n"
    "\tfield:char comm[16];\toffset:12;\tsize:16;\tsigned:0;\n"
    "\tfield:u64 clone_flags;\toffset:32;\tsize:8;\tsigned:0;\n";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace socklab;
    if (size < 1) return 0;
    const auto* bytes = reinterpret_cast<const std::byte*>(data + 1);
    const std::span<const std::byte> rest(bytes, size - 1);
    const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
    if (data[0] & 1) {
        try {
            if (data[0] & 2) {
                const auto task = trace::parse_task_format(text);
                const auto r = trace::decode_task_record(rest, task, 0);
                if (r && (r.record->comm.back() != '\0' || r.record->old_comm.back() != '\0'))
                    __builtin_trap();
            } else {
                (void)trace::decode_syscall_record(rest, trace::parse_syscall_format(text), 0);
            }
        } catch (const ParseError&) {
        }
        return 0;
    }
    static const auto new_task = trace::parse_task_format(kNewTask);
    static const auto enter = trace::parse_syscall_format(kEnter);
    static const auto exit = trace::parse_syscall_format(kExit);
    trace::SyscallJoiner joiner;
    trace::TaskNames names;
    std::vector<trace::RawSyscall> held;
    // Records of 40 bytes (the entry's size), the low bit of each first byte picking the layout.
    for (std::size_t at = 0; at + 40 <= rest.size(); at += 40) {
        const auto rec = rest.subspan(at, 40);
        const auto& layout = (static_cast<unsigned>(rec[2]) & 1) ? exit : enter;
        if (data[0] & 2) {
            // Its time from its own bytes, so the namings arrive out of order.
            const auto when = static_cast<std::uint64_t>(rec[28]) << 8 | static_cast<std::uint64_t>(rec[29]);
            const auto t = trace::decode_task_record(rec, new_task, when);
            if (!t && t.error.empty()) __builtin_trap();
            if (t) {
                names.learn(*t.record);
                const auto name = names.name_at(t.record->pid, when ^ 0x5a, 0x100);
                if (name && name->back() != '\0') __builtin_trap();
            }
        }
        // Odd records carry a time out of order (another cpu's buffer read first).
        const std::uint64_t when = (at / 40 % 2) ? at / 2 : at;
        const auto r = trace::decode_syscall_record(rec, layout, when);
        if (!r) {
            if (r.error.empty()) __builtin_trap();
            continue;
        }
        held.push_back(*r.record);
    }
    // Joined in time order in two reads: before a cut the input picks, then the rest.
    std::vector<SyscallEvent> calls;
    const std::uint64_t cut = size > 1 ? static_cast<std::uint64_t>(data[1]) * 40 : 0;
    joiner.feed_in_time_order(held, cut, calls);
    for (const auto& r : held)
        if (r.time_ns < cut) __builtin_trap();  // left behind though before the cut
    joiner.feed_in_time_order(held, ~std::uint64_t{0}, calls);
    if (!held.empty()) __builtin_trap();
    for (const auto& call : calls) {
        volatile auto sink = syscall_name(call.call).size() + errno_name(call.error).size();
        (void)sink;
    }
    return 0;
}

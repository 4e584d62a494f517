// libFuzzer target: the tracer's kernel-free parsers. Bytes in, an event or an error out,
// never a crash or a read outside the input: the raw record decoder with the real layout of
// sock:inet_sock_set_state, the format-file parser (and decoding with whatever it accepted),
// and the instance-name parser that decides what remove_stale_instances() may touch.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "socklab/error.hpp"
#include "socklab/state.hpp"
#include "socklab/tracer.hpp"

namespace {

// The format as Linux 6.18 prints it (tests/fixtures/trace/inet_sock_set_state.format).
constexpr std::string_view kFormat =
    "name: inet_sock_set_state\nID: 2287\nformat:\n"
    "\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n"
    "\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;\n"
    "\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;\n"
    "\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n"
    "\tfield:const void * skaddr;\toffset:8;\tsize:8;\tsigned:0;\n"
    "\tfield:int oldstate;\toffset:16;\tsize:4;\tsigned:1;\n"
    "\tfield:int newstate;\toffset:20;\tsize:4;\tsigned:1;\n"
    "\tfield:__u16 sport;\toffset:24;\tsize:2;\tsigned:0;\n"
    "\tfield:__u16 dport;\toffset:26;\tsize:2;\tsigned:0;\n"
    "\tfield:__u16 family;\toffset:28;\tsize:2;\tsigned:0;\n"
    "\tfield:__u16 protocol;\toffset:30;\tsize:2;\tsigned:0;\n"
    "\tfield:__u8 saddr[4];\toffset:32;\tsize:4;\tsigned:0;\n"
    "\tfield:__u8 daddr[4];\toffset:36;\tsize:4;\tsigned:0;\n"
    "\tfield:__u8 saddr_v6[16];\toffset:40;\tsize:16;\tsigned:0;\n"
    "\tfield:__u8 daddr_v6[16];\toffset:56;\tsize:16;\tsigned:0;\n";

void use(const socklab::TransitionEvent& e) {
    // Touch what the views read, so the sanitizers see every field used.
    volatile std::size_t sink = socklab::state_name(e.old_state).size() +
                                socklab::state_name(e.new_state).size() +
                                e.local_addr.to_string().size() + e.comm_view().size();
    (void)sink;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const socklab::trace::RecordLayout kLayout = socklab::trace::parse_format(kFormat);
    if (size == 0) return 0;
    const auto* bytes = reinterpret_cast<const std::byte*>(data + 1);
    const std::span<const std::byte> rest(bytes, size - 1);
    switch (data[0] % 3) {
        case 0: {
            // A stream of records as the tracer would see them, through the per-socket tracker.
            socklab::trace::SocketTracker tracker;
            std::size_t off = 0;
            std::uint64_t t = 0;
            while (off < rest.size()) {
                const std::size_t len = std::min<std::size_t>(72, rest.size() - off);
                auto d = socklab::trace::decode_record(rest.subspan(off, len), kLayout, t++, 0);
                if (d) {
                    tracker.observe(*d.event);
                    use(*d.event);
                    (void)tracker.key_of_socket(d.event->skaddr);
                }
                off += len;
            }
            break;
        }
        case 1: {
            // Format text up to the first NUL, record bytes after it.
            const std::string_view all(reinterpret_cast<const char*>(data + 1), size - 1);
            const auto nul = all.find('\0');
            const auto text = all.substr(0, nul);
            try {
                const auto layout = socklab::trace::parse_format(text);
                if (nul != std::string_view::npos) {
                    const auto record = rest.subspan(nul + 1);
                    if (auto d = socklab::trace::decode_record(record, layout, 1, 0)) use(*d.event);
                }
            } catch (const socklab::ParseError&) {
            }
            break;
        }
        default: {
            const std::string_view name(reinterpret_cast<const char*>(data + 1), size - 1);
            if (const auto owner = socklab::trace::parse_instance_name(name)) {
                if (socklab::trace::instance_name(*owner) != name) __builtin_trap();
            }
            break;
        }
    }
    return 0;
}

// libFuzzer target: the conversation merge. The input is a sequence of 12-byte records, each
// made into a segment, a transition or a call between a few endpoints, with times that go
// back and forth; the merged conversations must stay time-ordered and every item must be one
// of the records fed, never a crash.
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "socklab/conversation.hpp"

namespace {

std::uint16_t port_of(std::uint8_t b) { return static_cast<std::uint16_t>(b % 3 == 0 ? 0 : 9000 + b % 4); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace socklab;
    constexpr std::size_t kRec = 12;
    conversation::ConversationSet set(3);
    std::size_t fed = 0;
    const std::uint8_t lo[4] = {127, 0, 0, 1};
    for (std::size_t at = 0; at + kRec <= size; at += kRec) {
        const std::uint8_t* r = data + at;
        std::uint32_t seq = 0;
        std::memcpy(&seq, r + 4, 4);
        const std::uint64_t t = r[8] | (static_cast<std::uint64_t>(r[9]) << 8);
        switch (r[0] % 3) {
            case 0: {
                Segment s;
                s.time_ns = t;
                s.family = AF_INET;
                s.src_addr = s.dst_addr = IpAddr::v4(lo);
                s.src_port = port_of(r[1]);
                s.dst_port = port_of(r[2]);
                s.flags = r[3];
                s.seq = seq;
                s.ack = seq ^ r[10];
                s.len = r[11];
                set.add(s);
                break;
            }
            case 1: {
                TransitionEvent e;
                e.time_ns = t;
                e.family = AF_INET;
                e.skaddr = r[10] % 4;
                e.local_addr = e.remote_addr = IpAddr::v4(lo);
                e.local_port = port_of(r[1]);
                e.remote_port = port_of(r[2]);
                e.old_state = r[3] & 0x0f;
                e.new_state = r[3] >> 4;
                set.add(e);
                break;
            }
            default: {
                SyscallEvent c;
                c.time_ns = t;
                c.call = static_cast<SyscallKind>(r[3] % kSyscallKinds);
                c.pid = r[10];
                if (r[11] & 1) {
                    SocketKey k;
                    k.family = AF_INET;
                    k.local_addr = k.remote_addr = IpAddr::v4(lo);
                    k.local_port = port_of(r[1]);
                    k.remote_port = port_of(r[2]);
                    c.key = k;
                }
                set.add(c);
                break;
            }
        }
        ++fed;
    }
    std::size_t items = 0;
    for (const auto* c : set.all()) {
        for (std::size_t i = 1; i < c->items.size(); ++i)
            if (c->items[i - 1].time_ns > c->items[i].time_ns) __builtin_trap();
        items += c->items.size();
    }
    if (items > fed) __builtin_trap();
    return 0;
}

// libFuzzer target: the segment decoder. The first byte picks the link type (Ethernet as `lo`
// gives, BSD loopback, Linux cooked v1/v2, raw IP), the next two how many bytes the frame had
// on the wire beyond those captured (a snap length cut it there), the rest is the frame. A
// segment or an error out, never a crash or a read outside the input.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "socklab/segment.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 3) return 0;
    static constexpr std::array<int, 6> kLinks{
        socklab::pkt::kDltEthernet, socklab::pkt::kDltNull,      socklab::pkt::kDltLinuxSll,
        socklab::pkt::kDltLinuxSll2, socklab::pkt::kDltRaw, socklab::pkt::kDltRawAlt};
    const int dlt = kLinks[data[0] % kLinks.size()];
    const std::size_t cut = static_cast<std::size_t>(data[1]) << 8 | data[2];
    const std::span<const std::byte> frame(reinterpret_cast<const std::byte*>(data + 3), size - 3);
    const std::size_t wire = frame.size() + cut;
    const auto r = socklab::pkt::decode_frame(frame, dlt, 0, wire);
    if (r) {
        const auto& s = *r.segment;
        volatile std::size_t sink = s.src_addr.to_string().size() + s.dst_addr.to_string().size() +
                                    socklab::flags_label(s.flags).size() + s.len;
        (void)sink;
        if (s.len > wire) __builtin_trap();  // a payload longer than the frame on the wire: a bug
        // The payload view lies inside the frame and is no longer than the payload.
        if (r.payload.size() > s.len) __builtin_trap();
        if (!r.payload.empty() && (r.payload.data() < frame.data() ||
                                   r.payload.data() + r.payload.size() > frame.data() + frame.size()))
            __builtin_trap();
    } else if (r.error.empty()) {
        __builtin_trap();  // every refusal says why
    }
    return 0;
}

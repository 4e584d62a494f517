// libFuzzer target: any bytes into the socklab-helper frame decoder must give a frame, a
// "need more", an unknown verb or a bad frame with the reason — never a crash or a read
// outside the input. A decoded frame must encode back to exactly the bytes it came from, and
// those decode again to an equal message (a system call's key, a trace's pids included).
// The frames of a packets batch then go where the front end sends them, pkt::decode_frame
// with the batch's link type: bytes from socklab-helper are never trusted either.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "socklab/helper_protocol.hpp"
#include "socklab/segment.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    namespace h = socklab::helper;
    std::span<const std::byte> buf(reinterpret_cast<const std::byte*>(data), size);
    // Walk the input as a stream of frames, as the helper does with its channel.
    for (int frames = 0; frames < 64; ++frames) {
        const auto d = h::decode(buf);
        using S = h::Decoded::Status;
        if (d.status == S::need_more || d.status == S::bad_frame) {
            if (d.status == S::bad_frame && d.error.empty()) __builtin_trap();
            break;
        }
        if (d.consumed == 0 || d.consumed > buf.size()) __builtin_trap();
        if (d.status == S::complete) {
            if (!d.message) __builtin_trap();
            const auto again = h::encode(*d.message);
            if (again.size() != d.consumed || std::memcmp(again.data(), buf.data(), d.consumed) != 0)
                __builtin_trap();
            const auto twice = h::decode(again);
            if (twice.status != S::complete || !twice.message || !(*twice.message == *d.message))
                __builtin_trap();
            if (const auto* b = std::get_if<h::PacketBatch>(&*d.message))
                for (const auto& f : b->frames) {
                    const auto r = socklab::pkt::decode_frame(f.bytes, static_cast<int>(b->datalink),
                                                              f.time_ns);
                    if (!r && r.error.empty()) __builtin_trap();
                }
        } else if (d.error.empty()) {
            __builtin_trap();
        }
        buf = buf.subspan(d.consumed);
    }
    return 0;
}

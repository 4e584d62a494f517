#pragma once
// Capture: TCP segments of the watched ports from libpcap, decoded by pkt::decode_frame.
// Loopback by default. Needs CAP_NET_RAW: as root it opens libpcap itself; as a member of
// group socklab with socklab-helper installed (privilege_path() == helper) the helper opens it
// and sends the raw frames, which are decoded here, unprivileged. Without either, status()
// says what is missing and what still works, and poll() returns nothing. Drops are counted
// (pcap_stats) and reported, never hidden.
#include <chrono>
#include <functional>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "socklab/segment.hpp"

namespace socklab {

struct CaptureOptions {
    std::vector<std::uint16_t> ports;    // empty: every TCP segment on the interface
    std::string interface = "lo";
    std::size_t buffer_kb = 8192;        // kernel ring for the capture socket
    int snaplen = 256;                   // headers only: Ethernet + IPv6 + 60-byte TCP fit
    bool force_off = false;              // do not capture (status() says so)
    // auto: through socklab-helper when privilege_path() says so, else libpcap here.
    enum class Path : std::uint8_t { automatic, direct, helper } path = Path::automatic;
};

struct CaptureStatus {
    bool active = false;
    std::string message;  // when not active: what is missing, what still works
};

struct CaptureStats {
    std::uint64_t seen = 0;        // frames handed to socklab
    std::uint64_t decoded = 0;     // of which segments
    std::uint64_t undecoded = 0;   // frames the decoder refused (kept at 0 by the filter)
    std::uint64_t kernel_dropped = 0;     // pcap_stats ps_drop: no room in the buffer
    std::uint64_t interface_dropped = 0;  // pcap_stats ps_ifdrop
    [[nodiscard]] std::uint64_t lost() const noexcept { return kernel_dropped + interface_dropped; }
};

// libpcap on one interface, frames as they come, undecoded: what socklab-helper runs for a
// member (it never parses a frame), and what Capture runs as root.
class FrameCapture {
public:
    struct Frame {
        std::uint64_t time_ns = 0;  // CLOCK_MONOTONIC
        std::uint32_t wire_len = 0;
        std::span<const std::byte> bytes;  // at most opts.snaplen
    };
    // Opens the capture (pcap_create .. pcap_setfilter). Throws socklab::Error saying why not.
    explicit FrameCapture(const CaptureOptions& opts);
    ~FrameCapture();
    FrameCapture(const FrameCapture&) = delete;
    FrameCapture& operator=(const FrameCapture&) = delete;

    // Hand the frames that arrived to `sink`, waiting at most `timeout` for the first.
    // Returns how many were handed over.
    std::size_t poll(const std::function<void(const Frame&)>& sink, std::chrono::milliseconds timeout);
    [[nodiscard]] int datalink() const noexcept;
    [[nodiscard]] const std::string& filter() const noexcept;
    [[nodiscard]] int fd() const noexcept;  // to wait on beside other descriptors
    // pcap_stats: kernel_dropped and interface_dropped (zeros when it cannot say).
    [[nodiscard]] CaptureStats drops() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

class Capture {
public:
    explicit Capture(CaptureOptions opts = {});  // never throws for lack of privilege
    ~Capture();
    Capture(const Capture&) = delete;
    Capture& operator=(const Capture&) = delete;

    [[nodiscard]] const CaptureStatus& status() const noexcept;
    // Append the segments captured since the last call (time_ns on CLOCK_MONOTONIC, in
    // capture order); waits at most `timeout` for the first. Returns how many were appended.
    std::size_t poll(std::vector<Segment>& out, std::chrono::milliseconds timeout);
    [[nodiscard]] CaptureStats stats() const;
    [[nodiscard]] int datalink() const noexcept;  // DLT_* of the interface; -1 when inactive
    [[nodiscard]] const std::string& filter() const noexcept;

    // The BPF filter for a set of ports: "tcp" or "tcp and (port 9001 or port 9002)".
    [[nodiscard]] static std::string filter_for(std::span<const std::uint16_t> ports);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace socklab

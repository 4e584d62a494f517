#pragma once
// One TCP segment as seen on the wire (captured by libpcap), decoded as far as a ladder
// diagram needs: addresses, ports, flags, sequence numbers, payload length, window and the
// options of note. A plain record, filled by the pure decoder below; relative sequence numbers
// are filled later by whoever knows both sides' initial sequence numbers (conversation.hpp).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "socklab/address.hpp"

namespace socklab {

// TCP header flag bits (RFC 9293 section 3.1; ECE/CWR from RFC 3168).
namespace tcp_flag {
inline constexpr std::uint8_t FIN = 0x01;
inline constexpr std::uint8_t SYN = 0x02;
inline constexpr std::uint8_t RST = 0x04;
inline constexpr std::uint8_t PSH = 0x08;
inline constexpr std::uint8_t ACK = 0x10;
inline constexpr std::uint8_t URG = 0x20;
inline constexpr std::uint8_t ECE = 0x40;
inline constexpr std::uint8_t CWR = 0x80;
}  // namespace tcp_flag

// The options a student asks about. Absent options stay nullopt / false.
struct TcpOptions {
    std::optional<std::uint16_t> mss;     // kind 2 (SYN only)
    std::optional<std::uint8_t> wscale;   // kind 3, shift count (SYN only)
    bool sack_permitted = false;          // kind 4
    std::optional<std::uint32_t> ts_val;  // kind 8 (RFC 7323)
    std::optional<std::uint32_t> ts_ecr;

    friend bool operator==(const TcpOptions&, const TcpOptions&) = default;
};

struct Segment {
    std::uint64_t time_ns = 0;  // CLOCK_MONOTONIC (the tracer's clock), converted by Capture
    std::uint8_t family = 0;    // AF_INET / AF_INET6
    IpAddr src_addr;
    std::uint16_t src_port = 0;
    IpAddr dst_addr;
    std::uint16_t dst_port = 0;
    std::uint8_t flags = 0;     // tcp_flag bits
    std::uint32_t seq = 0;      // raw, as on the wire
    std::uint32_t ack = 0;      // raw; meaningful only with ACK
    // Relative to the sender's ISN (seq) and to the receiver's ISN (ack), as tshark shows
    // them; set by conversation::append once the ISNs are known (else equal to the raw ones
    // and `relative` false).
    std::uint32_t rel_seq = 0;
    std::uint32_t rel_ack = 0;
    bool relative = false;
    std::uint32_t len = 0;      // TCP payload bytes
    std::uint16_t win = 0;      // raw window field (not scaled)
    TcpOptions options;

    [[nodiscard]] bool has(std::uint8_t flag) const noexcept { return (flags & flag) != 0; }
};

// Flag names in a fixed order (SYN, ACK, FIN, RST, PSH, URG, ECE, CWR): the JSON "flags".
[[nodiscard]] std::vector<std::string_view> flag_names(std::uint8_t flags);
// The same joined for people: "SYN", "SYN-ACK", "FIN-ACK", "ACK", "PSH-ACK", "RST" (ACK last)
[[nodiscard]] std::string flags_label(std::uint8_t flags);

namespace pkt {

// Link-layer types as libpcap reports them (pcap_datalink(), values of DLT_*/LINKTYPE_*).
// On Linux, `lo` is Ethernet framed (DLT_EN10MB, all-zero MACs); "any" is Linux cooked
// capture (SLL or SLL2); BSD loopback is DLT_NULL. DLT_RAW carries the IP packet alone.
inline constexpr int kDltNull = 0;
inline constexpr int kDltEthernet = 1;
inline constexpr int kDltRaw = 12;        // DLT_RAW on Linux
inline constexpr int kDltLinuxSll = 113;
inline constexpr int kDltRawAlt = 101;    // LINKTYPE_RAW
inline constexpr int kDltLinuxSll2 = 276;

struct DecodeResult {
    std::optional<Segment> segment;  // set on success
    std::string error;               // why not, otherwise ("not TCP" included)
    // On success: the payload bytes the capture kept, a view into the decoded frame (its first
    // bytes; shorter than segment->len when the snap length cut it, empty when it kept none).
    std::span<const std::byte> payload;
    explicit operator bool() const noexcept { return segment.has_value(); }
};

// Decode one captured frame of link type `dlt` into a Segment (time_ns as given). Reads only
// inside `frame`; a truncated or malformed frame, a non-TCP packet, an IP fragment other than
// the first: an error saying what. Never throws. IPv6 extension headers are walked.
// `wire_len`: the frame's length on the wire (pcap's `len`) when the capture kept only its
// first bytes (the snap length): the headers must be inside `frame`, the payload need not be,
// and `len` is the payload's length on the wire. 0 (or less than the frame): the frame is whole.
[[nodiscard]] DecodeResult decode_frame(std::span<const std::byte> frame, int dlt,
                                        std::uint64_t time_ns, std::size_t wire_len = 0) noexcept;

// Decode an IP packet (v4 or v6, from its version nibble) carrying TCP; `wire_len` as above,
// the IP packet's length on the wire.
[[nodiscard]] DecodeResult decode_ip(std::span<const std::byte> packet, std::uint64_t time_ns,
                                     std::size_t wire_len = 0) noexcept;

}  // namespace pkt

}  // namespace socklab

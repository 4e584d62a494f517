#include "socklab/address.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <string>

#include <fmt/format.h>

namespace socklab {
namespace {
constexpr std::array<std::uint8_t, 12> kV4MappedPrefix{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
}

IpAddr IpAddr::v4(const void* p) noexcept {
    IpAddr a;
    a.family = AF_INET;
    std::memcpy(a.bytes.data(), p, 4);
    return a;
}

IpAddr IpAddr::v6(const void* p) noexcept {
    IpAddr a;
    a.family = AF_INET6;
    std::memcpy(a.bytes.data(), p, 16);
    return a;
}

bool IpAddr::is_v4_mapped() const noexcept {
    return family == AF_INET6 && std::equal(kV4MappedPrefix.begin(), kV4MappedPrefix.end(),
                                            bytes.begin());
}

bool IpAddr::is_any() const noexcept {
    const std::size_t n = family == AF_INET ? 4 : 16;
    return std::all_of(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n),
                       [](std::uint8_t b) { return b == 0; });
}

bool IpAddr::is_loopback() const noexcept {
    if (family == AF_INET) return bytes[0] == 127;
    if (family != AF_INET6) return false;
    if (is_v4_mapped()) return bytes[12] == 127;
    return std::all_of(bytes.begin(), bytes.begin() + 15, [](std::uint8_t b) { return b == 0; }) &&
           bytes[15] == 1;
}

IpAddr IpAddr::unmapped() const noexcept {
    if (!is_v4_mapped()) return *this;
    return v4(bytes.data() + 12);
}

std::string IpAddr::to_string() const {
    char buf[INET6_ADDRSTRLEN] = {};
    if (family != AF_INET && family != AF_INET6) return "?";
    if (::inet_ntop(family, bytes.data(), buf, sizeof buf) == nullptr) return "?";
    return buf;
}

std::optional<IpAddr> parse_ip(std::string_view text) {
    std::string s(text);
    if (s.size() >= 2 && s.front() == '[' && s.back() == ']') s = s.substr(1, s.size() - 2);
    std::array<std::uint8_t, 16> buf{};
    if (::inet_pton(AF_INET, s.c_str(), buf.data()) == 1) return IpAddr::v4(buf.data());
    if (::inet_pton(AF_INET6, s.c_str(), buf.data()) == 1) return IpAddr::v6(buf.data());
    return std::nullopt;
}

std::string format_endpoint(const IpAddr& addr, std::uint16_t port) {
    if (addr.family == AF_INET6) return "[" + addr.to_string() + "]:" + std::to_string(port);
    if (addr.family == AF_INET) {
        // What inet_ntop gives, in one step: the viewer formats 200k of these a poll.
        char buf[sizeof "255.255.255.255:65535"];
        const auto end = fmt::format_to(buf, "{}.{}.{}.{}:{}", addr.bytes[0], addr.bytes[1], addr.bytes[2],
                                        addr.bytes[3], port);
        return std::string(buf, end);
    }
    return addr.to_string() + ":" + std::to_string(port);
}

}  // namespace socklab

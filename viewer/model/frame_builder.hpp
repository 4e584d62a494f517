#pragma once
// Turns the poller's History (plus owners) into an immutable Frame. A free function so tests
// build frames from hand-made snapshots without threads, GL or /proc.
#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <string>

#include "frame.hpp"
#include "socklab/owners.hpp"

namespace socklab::viewer {

using OwnerLookup = std::function<std::span<const ProcessRef>(std::uint64_t inode)>;
using UserLookup = std::function<std::string(std::uint32_t uid)>;

struct BuildInputs {
    std::uint64_t now_ns = 0;  // rows closed before now - closed_linger move to Frame::gone
    std::chrono::milliseconds closed_linger{2000};
    OwnerLookup owners;  // may be empty: no owners
    UserLookup users;    // may be empty: the uid as a number
};

// `reuse`: an old frame nobody else holds, whose arrays (rows, lifelines, view) are filled
// again instead of allocated: at 100k sockets a fresh frame is tens of MB of new pages.
[[nodiscard]] std::shared_ptr<Frame> build_frame(const History& history, const BuildInputs& in,
                                                 std::shared_ptr<Frame> reuse = nullptr);

// "127.0.0.1:8080", "[::1]:8080", "*:8080" for an unspecified address, "*:*" for none.
[[nodiscard]] std::string endpoint_text(const IpAddr& addr, std::uint16_t port);

}  // namespace socklab::viewer

#pragma once
// Who holds a local port: the sockets on it joined with the processes that hold each. What
// `socklab who` prints and what the port doctor starts from, found one way for both.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "socklab/owners.hpp"
#include "socklab/record.hpp"
#include "socklab/source.hpp"

namespace socklab {

struct PortHolder {
    std::size_t socket = 0;  // index into PortHolding::sockets
    ProcessRef process;
};

struct PortHolding {
    std::string source;                  // the snapshot's source: "netlink" or "proc"
    std::vector<SocketRecord> sockets;   // every socket whose local port is the port, any state
    std::vector<PortHolder> holders;     // per socket in order, each process descriptor on it
    std::size_t unseen = 0;              // sockets with an inode but no process we can see
    // Sockets with inode 0 (TIME_WAIT, orphans) are the kernel's: in `sockets`, never held.
};

// One process descriptor on a socket, as an owners lookup reports it.
struct HeldBy {
    std::uint64_t inode = 0;
    ProcessRef process;
};
// Who holds these socket inodes. An OwnerIndex walks /proc itself; socklab-helper's owners
// verb answers for a member of group socklab, who may not read other users' /proc/<pid>/fd.
using OwnersLookup = std::function<std::vector<HeldBy>(std::span<const std::uint64_t> inodes)>;

// The same, with the holders from `lookup`.
[[nodiscard]] PortHolding holders_of_port(std::uint16_t port, bool tcp, bool udp, Source& source,
                                          const OwnersLookup& lookup);

// The TCP and/or UDP sockets on local port `port`, in every state
// including bound-but-idle, and their holders. `owners` is refreshed for those inodes only.
[[nodiscard]] PortHolding holders_of_port(std::uint16_t port, bool tcp, bool udp, Source& source,
                                          OwnerIndex& owners);

}  // namespace socklab

#include "socklab/holders.hpp"

namespace socklab {

PortHolding holders_of_port(std::uint16_t port, bool tcp, bool udp, Source& source,
                            const OwnersLookup& lookup) {
    Query q;
    q.tcp = tcp;
    q.udp = udp;
    // A socket that is bound but neither listening nor connected holds the port too.
    q.states = kAllStates | state_bit(TcpState::bound_inactive);
    q.port = port;
    Snapshot snap = source.snapshot(q);
    PortHolding h;
    h.source = std::move(snap.source);
    // The kernel's filter is "local or remote port"; holding a port means the local one.
    for (auto& r : snap.sockets)
        if (r.local_port == port) h.sockets.push_back(std::move(r));

    std::vector<std::uint64_t> inodes;
    for (const auto& r : h.sockets)
        if (r.inode != 0) inodes.push_back(r.inode);
    if (inodes.empty()) return h;
    const auto held = lookup(inodes);
    for (std::size_t i = 0; i < h.sockets.size(); ++i) {
        if (h.sockets[i].inode == 0) continue;
        bool seen = false;
        for (const auto& x : held)
            if (x.inode == h.sockets[i].inode) {
                h.holders.push_back({i, x.process});
                seen = true;
            }
        if (!seen) ++h.unseen;
    }
    return h;
}

PortHolding holders_of_port(std::uint16_t port, bool tcp, bool udp, Source& source,
                            OwnerIndex& owners) {
    return holders_of_port(port, tcp, udp, source, [&](std::span<const std::uint64_t> inodes) {
        owners.refresh_for(inodes);
        std::vector<HeldBy> out;
        for (const auto inode : inodes)
            for (const auto& p : owners.owners_of(inode)) out.push_back({inode, p});
        return out;
    });
}

}  // namespace socklab

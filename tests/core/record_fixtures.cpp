// socklab_record_fixtures OUTDIR — build the known population (population.hpp) in a private
// network namespace and save the kernel's view of it: the raw bytes of the sock_diag dumps
// (OUTDIR/netlink/*.bin, every recv() appended as read) and /proc/net/{tcp,tcp6,udp,udp6}
// (OUTDIR/proc/root1/net/). The parser tests replay these files. Needs root.
//   socklab_record_fixtures tests/fixtures
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "population.hpp"
#include "socklab/error.hpp"
#include "socklab/source.hpp"
#include "testsupport.hpp"

namespace {

using socklab::UniqueFd;

// One dump, raw: what parse::netlink_dump gets to see, byte for byte.
std::vector<char> raw_dump(std::uint8_t family, std::uint8_t protocol, std::uint32_t states,
                           std::uint8_t ext) {
    const UniqueFd nl = socklab::test::request_sock_diag_dump(family, protocol, states, ext);
    std::vector<char> all;
    std::vector<char> buf(64 * 1024);
    for (;;) {
        const ssize_t n = ::recv(nl.get(), buf.data(), buf.size(), 0);
        if (n < 0) throw socklab::sys_error("read the dump", errno);
        if (n == 0) break;
        all.insert(all.end(), buf.begin(), buf.begin() + n);
        const auto* last = reinterpret_cast<const nlmsghdr*>(buf.data());
        int left = static_cast<int>(n);
        bool done = false;
        while (NLMSG_OK(last, left)) {
            if (last->nlmsg_type == NLMSG_DONE || last->nlmsg_type == NLMSG_ERROR) done = true;
            last = NLMSG_NEXT(last, left);
        }
        if (done) break;
    }
    return all;
}

void write_file(const std::filesystem::path& p, const std::vector<char>& bytes) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) throw socklab::Error("failed to write " + p.string());
    std::printf("wrote %s (%zu bytes)\n", p.c_str(), bytes.size());
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s OUTDIR   (e.g. tests/fixtures; needs root)\n", argv[0]);
        return 2;
    }
    try {
        const std::filesystem::path out = argv[1];
        socklab::test::PrivateNetns ns;
        const auto pop = socklab::test::population::build();
        std::filesystem::create_directories(out / "netlink");
        std::filesystem::create_directories(out / "proc/root1/net");
        const std::uint32_t all = socklab::kAllStates;
        const std::uint32_t with_bound =
            all | socklab::state_bit(socklab::TcpState::bound_inactive);
        const std::uint8_t info = 1u << (INET_DIAG_INFO - 1);
        write_file(out / "netlink/tcp4.bin", raw_dump(AF_INET, IPPROTO_TCP, with_bound, 0));
        write_file(out / "netlink/tcp6.bin", raw_dump(AF_INET6, IPPROTO_TCP, all, 0));
        write_file(out / "netlink/udp4.bin", raw_dump(AF_INET, IPPROTO_UDP, all, 0));
        write_file(out / "netlink/udp6.bin", raw_dump(AF_INET6, IPPROTO_UDP, all, 0));
        write_file(out / "netlink/tcp4_info.bin", raw_dump(AF_INET, IPPROTO_TCP, all, info));
        // /proc/thread-self: /proc/net follows the main thread's namespace, not this thread's.
        for (const char* f : {"tcp", "tcp6", "udp", "udp6"}) {
            std::ifstream in(std::string("/proc/thread-self/net/") + f, std::ios::binary);
            const std::vector<char> text((std::istreambuf_iterator<char>(in)),
                                         std::istreambuf_iterator<char>());
            write_file(out / "proc/root1/net" / f, text);
        }
        std::printf("client ports: syn_sent=%u syn_recv=%u time_wait=%u orphan=%u mapped=%u\n",
                    pop.syn_sent_client_port, pop.syn_recv_client_port,
                    pop.time_wait_client_port, pop.orphan_client_port, pop.mapped_client_port);
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "socklab_record_fixtures: %s\n", e.what());
        return 1;
    }
}

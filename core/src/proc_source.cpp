// /proc/net/{tcp,tcp6,udp,udp6} source: the fallback when sock_diag is unavailable, and the
// one tests point at a fixture tree. Same records as netlink, minus cookie and TCP_INFO.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <functional>
#include <string>
#include <unordered_set>

#include "socklab/error.hpp"
#include "socklab/source.hpp"

namespace socklab {
namespace {

class Fields {
public:
    explicit Fields(std::string_view line) : rest_(line) {}
    std::string_view next() {
        const auto start = rest_.find_first_not_of(" \t");
        if (start == std::string_view::npos) {
            rest_ = {};
            return {};
        }
        rest_.remove_prefix(start);
        const auto end = rest_.find_first_of(" \t");
        const auto f = rest_.substr(0, end);
        rest_.remove_prefix(end == std::string_view::npos ? rest_.size() : end);
        return f;
    }

private:
    std::string_view rest_;
};

[[noreturn]] void bad(std::string_view line, std::string_view why) {
    throw ParseError("failed to parse /proc/net line \"" + std::string(line.substr(0, 120)) +
                     "\": " + std::string(why));
}

template <typename T>
T hex(std::string_view line, std::string_view f, std::string_view what) {
    T v{};
    const auto [p, ec] = std::from_chars(f.data(), f.data() + f.size(), v, 16);
    if (ec != std::errc{} || p != f.data() + f.size() || f.empty())
        bad(line, std::string("bad ") + std::string(what) + " '" + std::string(f) + "'");
    return v;
}

template <typename T>
T dec(std::string_view line, std::string_view f, std::string_view what) {
    T v{};
    const auto [p, ec] = std::from_chars(f.data(), f.data() + f.size(), v, 10);
    if (ec != std::errc{} || p != f.data() + f.size() || f.empty())
        bad(line, std::string("bad ") + std::string(what) + " '" + std::string(f) + "'");
    return v;
}

// "0100007F:1F90": the address words are printed as host-order integers of network-order
// memory, so copying each parsed word back into memory restores network order.
void endpoint(std::string_view line, std::string_view f, std::uint8_t family, IpAddr& addr,
              std::uint16_t& port) {
    const auto colon = f.find(':');
    if (colon == std::string_view::npos) bad(line, "address without ':'");
    const auto a = f.substr(0, colon);
    const std::size_t words = family == AF_INET ? 1 : 4;
    if (a.size() != words * 8) bad(line, "address of the wrong length for its family");
    std::array<std::uint8_t, 16> bytes{};
    for (std::size_t w = 0; w < words; ++w) {
        const auto word = hex<std::uint32_t>(line, a.substr(w * 8, 8), "address");
        std::memcpy(bytes.data() + w * 4, &word, 4);
    }
    addr = family == AF_INET ? IpAddr::v4(bytes.data()) : IpAddr::v6(bytes.data());
    const auto pf = f.substr(colon + 1);
    if (pf.size() != 4) bad(line, "port of the wrong length");
    port = hex<std::uint16_t>(line, pf, "port");
}

}  // namespace

namespace parse {

std::optional<SocketRecord> proc_net_line(std::string_view line, Proto proto, std::uint8_t family) {
    if (family != AF_INET && family != AF_INET6) bad(line, "unknown address family");
    Fields f(line);
    const auto sl = f.next();
    if (sl.empty()) bad(line, "empty line");
    if (sl == "sl") return std::nullopt;  // header
    if (sl.back() != ':') bad(line, "no slot number");
    SocketRecord r;
    r.proto = proto;
    r.family = family;
    endpoint(line, f.next(), family, r.local_addr, r.local_port);
    endpoint(line, f.next(), family, r.remote_addr, r.remote_port);
    const auto st = hex<unsigned>(line, f.next(), "state");
    // A state this build does not know is kept (named "UNKNOWN"), as netlink does, so a newer
    // kernel cannot make the whole table unreadable; 0 and more than two digits are corrupt.
    if (st == 0 || st > 0xff) bad(line, "state out of range");
    r.state = static_cast<std::uint8_t>(st);
    const auto queues = f.next();
    const auto qc = queues.find(':');
    if (qc == std::string_view::npos) bad(line, "queues without ':'");
    r.send_q = hex<std::uint32_t>(line, queues.substr(0, qc), "tx_queue");
    r.recv_q = hex<std::uint32_t>(line, queues.substr(qc + 1), "rx_queue");
    const auto timer = f.next();
    const auto tc = timer.find(':');
    if (tc == std::string_view::npos) bad(line, "timer without ':'");
    const auto tr = hex<unsigned>(line, timer.substr(0, tc), "timer kind");
    const auto when = hex<std::uint64_t>(line, timer.substr(tc + 1), "timer");
    r.timer = tr <= 4 ? static_cast<TimerKind>(tr) : TimerKind::none;
    static const long ticks = ::sysconf(_SC_CLK_TCK) > 0 ? ::sysconf(_SC_CLK_TCK) : 100;
    r.timer_ms = r.timer == TimerKind::none
                     ? 0
                     : static_cast<std::uint32_t>(when * 1000 / static_cast<std::uint64_t>(ticks));
    r.retransmits = static_cast<std::uint8_t>(hex<unsigned>(line, f.next(), "retransmits"));
    r.uid = dec<std::uint32_t>(line, f.next(), "uid");
    (void)f.next();  // timeout (probes)
    r.inode = dec<std::uint64_t>(line, f.next(), "inode");
    return r;
}

}  // namespace parse

namespace {

class ProcSource final : public Source {
public:
    explicit ProcSource(std::filesystem::path root) : root_(std::move(root)) {}
    std::string_view name() const noexcept override { return "proc"; }
    void snapshot_into(const Query& q, Snapshot& out) override {
        const auto start = std::chrono::steady_clock::now();
        out.sockets.clear();
        out.taken_ns = monotonic_ns();
        out.source = "proc";
        struct File {
            const char* name;
            Proto proto;
            std::uint8_t family;
        };
        constexpr File files[] = {{"tcp", Proto::tcp, AF_INET},
                                  {"tcp6", Proto::tcp, AF_INET6},
                                  {"udp", Proto::udp, AF_INET},
                                  {"udp6", Proto::udp, AF_INET6}};
        std::size_t opened = 0;
        seen_.clear();
        for (const auto& file : files) {
            if ((file.proto == Proto::tcp && !q.tcp) || (file.proto == Proto::udp && !q.udp))
                continue;
            if ((file.family == AF_INET && !q.ipv4) || (file.family == AF_INET6 && !q.ipv6))
                continue;
            const auto path = root_ / "net" / file.name;
            if (!read_file(path)) continue;  // e.g. no IPv6 in this kernel
            ++opened;
            std::string_view rest(text_);
            while (!rest.empty()) {
                const auto nl = rest.find('\n');
                const auto line = rest.substr(0, nl);
                rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
                if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
                auto r = parse::proc_net_line(line, file.proto, file.family);
                if (r && matches(q, *r) && seen_.insert(Seen{key_of(*r), r->state, r->inode}).second)
                    out.sockets.push_back(*r);
            }
        }
        if (opened == 0)
            throw Error("failed to read " + (root_ / "net").string() +
                        "/{tcp,tcp6,udp,udp6}: none could be opened (is /proc mounted?)");
        out.cost = std::chrono::steady_clock::now() - start;
    }

private:
    // The whole file with plain read()s into one reused buffer, parsed in place: no iostream,
    // no string per line. (The kernel hands out at most about a page per read() and resumes
    // its walk each time; see Seen for what that means under churn.)
    bool read_file(const std::filesystem::path& path) {
        text_.clear();
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) return false;
        constexpr std::size_t kChunk = 1 << 20;
        for (;;) {
            const std::size_t have = text_.size();
            text_.resize(have + kChunk);
            const ssize_t n = ::read(fd, text_.data() + have, kChunk);
            if (n < 0 && errno == EINTR) {
                text_.resize(have);
                continue;
            }
            if (n < 0) {
                const int err = errno;
                ::close(fd);
                throw sys_error("read " + path.string(), err);
            }
            text_.resize(have + static_cast<std::size_t>(n));
            if (n == 0) break;
        }
        ::close(fd);
        return true;
    }

    // The kernel resumes each read() of a /proc/net table at a bucket and an offset in it;
    // while sockets come and go around that spot (other programs' connections), the resumed
    // walk can show a socket again — seen on 6.18 under load: one request socket three times.
    // Two different sockets never share 4-tuple, state and inode, so that is the identity
    // by which repeats are dropped.
    struct Seen {
        SocketKey key;
        std::uint8_t state;
        std::uint64_t inode;
        friend bool operator==(const Seen&, const Seen&) = default;
    };
    struct SeenHash {
        std::size_t operator()(const Seen& s) const noexcept {
            return SocketKeyHash{}(s.key) ^ (std::hash<std::uint64_t>{}(s.inode) * 31u + s.state);
        }
    };

    std::filesystem::path root_;
    std::string text_;  // reused between files and snapshots
    std::unordered_set<Seen, SeenHash> seen_;
};

}  // namespace

std::unique_ptr<Source> make_proc_source(std::filesystem::path proc_root) {
    return std::make_unique<ProcSource>(std::move(proc_root));
}

}  // namespace socklab

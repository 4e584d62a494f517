#include "synthetic_source.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <chrono>

namespace socklab::viewer {
namespace {

class SyntheticSource final : public Source {
public:
    explicit SyntheticSource(std::size_t n) : n_(n) {}
    [[nodiscard]] std::string_view name() const noexcept override { return "synthetic"; }
    void snapshot_into(const Query& q, Snapshot& out) override {
        const auto t0 = std::chrono::steady_clock::now();
        out.sockets.clear();
        out.sockets.reserve(n_);
        out.taken_ns = monotonic_ns();
        out.source = "synthetic";
        const std::uint32_t lo = htonl(0x7f000001);
        const IpAddr local = IpAddr::v4(&lo);
        ++round_;
        // 1% listeners, then connection pairs; a slice of them moves on every round.
        const std::size_t listeners = n_ / 100 + 1;
        for (std::size_t i = 0; i < n_; ++i) {
            SocketRecord r;
            r.proto = Proto::tcp;
            r.family = AF_INET;
            r.local_addr = local;
            r.remote_addr = local;
            r.uid = 1000;
            if (i < listeners) {
                r.state = static_cast<std::uint8_t>(TcpState::listen);
                r.local_port = static_cast<std::uint16_t>(10000 + i % 20000);
                r.remote_addr = IpAddr{};
                r.remote_addr.family = AF_INET;
                r.send_q = 128;
                r.inode = 1'000'000 + i;
            } else {
                const std::size_t c = (i - listeners) / 2;
                const bool server_end = ((i - listeners) & 1) == 0;
                const auto server_port = static_cast<std::uint16_t>(10000 + c % listeners % 20000);
                const auto client_port = static_cast<std::uint16_t>(32768 + c % 28000);
                // Spread connections over 64 local addresses so 4-tuples stay unique.
                const std::uint32_t a = htonl(0x7f000001 + static_cast<std::uint32_t>(c / 28000));
                r.local_addr = IpAddr::v4(&a);
                r.remote_addr = r.local_addr;
                r.local_port = server_end ? server_port : client_port;
                r.remote_port = server_end ? client_port : server_port;
                const std::size_t phase = (c + round_) % 50;
                if (phase == 0) {
                    r.state = static_cast<std::uint8_t>(server_end ? TcpState::close_wait : TcpState::fin_wait2);
                } else if (c % 5 == 0) {
                    r.state = static_cast<std::uint8_t>(server_end ? TcpState::established : TcpState::time_wait);
                    if (!server_end) {
                        r.timer = TimerKind::time_wait;
                        r.timer_ms = static_cast<std::uint32_t>(60'000 - (c * 37) % 60'000);
                    }
                } else {
                    r.state = static_cast<std::uint8_t>(TcpState::established);
                }
                r.inode = r.state == static_cast<std::uint8_t>(TcpState::time_wait) ? 0 : 2'000'000 + i;
                r.recv_q = static_cast<std::uint32_t>((c % 7 == 0) ? (round_ % 3) * 100 : 0);
            }
            if (matches(q, r)) out.sockets.push_back(r);
        }
        out.cost = std::chrono::steady_clock::now() - t0;
    }

private:
    std::size_t n_;
    std::size_t round_ = 0;
};

}  // namespace

std::unique_ptr<Source> make_synthetic_source(std::size_t sockets) {
    return std::make_unique<SyntheticSource>(sockets);
}

}  // namespace socklab::viewer

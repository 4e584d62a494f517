// Capture: libpcap in immediate mode with a BPF filter of the watched ports, nanosecond
// timestamps converted from the kernel's real-time clock to CLOCK_MONOTONIC (the tracer's
// clock) so segments and transitions sort on one time line.
//
// On Linux `lo`, libpcap sees every segment once: the packet socket gets a loopback frame
// twice (as sent and as received) and libpcap drops the outgoing copy on loopback devices
// (tests/causes: CaptureLive.EachLoopbackSegmentOnce checks it against real traffic).
//
// Two ways in: FrameCapture opens libpcap here (root); a member of group socklab gets the
// same frames from socklab-helper, which runs FrameCapture with CAP_NET_RAW and sends them
// undecoded. Either way the frames are decoded here, by pkt::decode_frame.
#include "socklab/capture.hpp"

#include <pcap/pcap.h>
#include <poll.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "socklab/error.hpp"
#include "socklab/helper_client.hpp"
#include "socklab/i18n.hpp"

namespace socklab {
namespace {

struct PcapClose {
    void operator()(pcap_t* p) const noexcept { pcap_close(p); }
};

std::int64_t ns_of(const timespec& ts) {
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// CLOCK_REALTIME - CLOCK_MONOTONIC, from the tightest of a few bracketed readings.
std::int64_t realtime_minus_monotonic() {
    std::int64_t best_offset = 0;
    std::int64_t best_width = -1;
    for (int i = 0; i < 5; ++i) {
        timespec m1{}, r{}, m2{};
        ::clock_gettime(CLOCK_MONOTONIC, &m1);
        ::clock_gettime(CLOCK_REALTIME, &r);
        ::clock_gettime(CLOCK_MONOTONIC, &m2);
        const std::int64_t width = ns_of(m2) - ns_of(m1);
        if (best_width < 0 || width < best_width) {
            best_width = width;
            best_offset = ns_of(r) - (ns_of(m1) + width / 2);
        }
    }
    return best_offset;
}

}  // namespace

std::string Capture::filter_for(std::span<const std::uint16_t> ports) {
    if (ports.empty()) return "tcp";
    std::string f = "tcp and (";
    for (std::size_t i = 0; i < ports.size(); ++i) {
        if (i) f += " or ";
        f += "port " + std::to_string(ports[i]);
    }
    return f + ")";
}

// ---- FrameCapture: libpcap itself ---------------------------------------------------------

struct FrameCapture::Impl {
    std::unique_ptr<pcap_t, PcapClose> pcap;
    int dlt = -1;
    int fd = -1;
    std::string filter;
    std::int64_t clock_offset = 0;
    const std::function<void(const Frame&)>* sink = nullptr;

    static void on_packet(u_char* user, const pcap_pkthdr* h, const u_char* bytes) {
        auto& self = *reinterpret_cast<Impl*>(user);
        // Nanosecond precision was asked for: tv_usec holds nanoseconds.
        const std::int64_t real = static_cast<std::int64_t>(h->ts.tv_sec) * 1'000'000'000 +
                                  static_cast<std::int64_t>(h->ts.tv_usec);
        Frame f;
        f.time_ns = static_cast<std::uint64_t>(std::max<std::int64_t>(0, real - self.clock_offset));
        f.wire_len = h->len;
        f.bytes = {reinterpret_cast<const std::byte*>(bytes), h->caplen};
        (*self.sink)(f);
    }
};

FrameCapture::FrameCapture(const CaptureOptions& opts) : impl_(std::make_unique<Impl>()) {
    auto& im = *impl_;
    char err[PCAP_ERRBUF_SIZE] = {};
    const std::string& dev = opts.interface;
    im.pcap.reset(pcap_create(dev.c_str(), err));
    if (!im.pcap) throw Error("failed to open " + dev + " for capture: " + err);
    pcap_t* p = im.pcap.get();
    pcap_set_snaplen(p, opts.snaplen);
    pcap_set_promisc(p, 0);
    pcap_set_immediate_mode(p, 1);
    pcap_set_buffer_size(p, static_cast<int>(opts.buffer_kb * 1024));
    pcap_set_tstamp_precision(p, PCAP_TSTAMP_PRECISION_NANO);
    const int rc = pcap_activate(p);
    if (rc < 0) {
        const std::string why = pcap_geterr(p);
        if (rc == PCAP_ERROR_PERM_DENIED)
            throw Error(i18n::format(
                _("capturing on {} needs CAP_NET_RAW ({}); run as root (e.g. 'sudo socklab trace "
                  "--packets'), or join group socklab where socklab-helper is installed (as root: "
                  "'usermod -aG socklab $USER', then log in again)"),
                dev, why));
        if (rc == PCAP_ERROR_NO_SUCH_DEVICE)
            throw Error("failed to capture on " + dev + ": no such interface (see 'ip link')");
        throw Error("failed to capture on " + dev + ": " + why);
    }
    im.dlt = pcap_datalink(p);
    bpf_program prog{};
    im.filter = Capture::filter_for(opts.ports);
    if (pcap_compile(p, &prog, im.filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0)
        throw Error("failed to compile the capture filter '" + im.filter + "': " + pcap_geterr(p));
    const int set = pcap_setfilter(p, &prog);
    pcap_freecode(&prog);
    if (set != 0)
        throw Error("failed to set the capture filter '" + im.filter + "': " + pcap_geterr(p));
    if (pcap_setnonblock(p, 1, err) != 0)
        throw Error(std::string("failed to make the capture non-blocking: ") + err);
    im.fd = pcap_get_selectable_fd(p);
    if (im.fd < 0) throw Error("failed to get a descriptor to wait on for " + dev);
    im.clock_offset = realtime_minus_monotonic();
}

FrameCapture::~FrameCapture() = default;

int FrameCapture::datalink() const noexcept { return impl_->dlt; }
const std::string& FrameCapture::filter() const noexcept { return impl_->filter; }
int FrameCapture::fd() const noexcept { return impl_->fd; }

CaptureStats FrameCapture::drops() const {
    CaptureStats s;
    pcap_stat ps{};
    if (pcap_stats(impl_->pcap.get(), &ps) == 0) {
        s.kernel_dropped = ps.ps_drop;
        s.interface_dropped = ps.ps_ifdrop;
    }
    return s;
}

std::size_t FrameCapture::poll(const std::function<void(const Frame&)>& sink,
                               std::chrono::milliseconds timeout) {
    auto& im = *impl_;
    std::size_t count = 0;
    const std::function<void(const Frame&)> counting = [&](const Frame& f) {
        ++count;
        sink(f);
    };
    im.sink = &counting;
    // Real time may be stepped (NTP, settimeofday): measure the offset afresh per read.
    im.clock_offset = realtime_minus_monotonic();
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        const int n = pcap_dispatch(im.pcap.get(), -1, &Impl::on_packet,
                                    reinterpret_cast<u_char*>(&im));
        if (n < 0 && n != PCAP_ERROR_BREAK) {
            im.sink = nullptr;
            throw Error("failed to read captured packets: " + std::string(pcap_geterr(im.pcap.get())));
        }
        if (count > 0) break;
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        pollfd p{im.fd, POLLIN, 0};
        const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
        if (ready < 0) {
            if (errno == EINTR) break;
            im.sink = nullptr;
            throw sys_error("wait for captured packets", errno);
        }
        if (ready == 0) break;
    }
    im.sink = nullptr;
    return count;
}

// ---- Capture: decoded segments, from libpcap here or from socklab-helper -------------------

struct Capture::Impl {
    CaptureOptions opts;
    CaptureStatus status;
    std::unique_ptr<FrameCapture> direct;
    std::unique_ptr<HelperClient> helper;  // the helper path
    int dlt = -1;
    std::string filter;
    CaptureStats counts;

    // The snap length keeps the headers only: the payload's length comes from the packet's
    // length on the wire.
    void decode(std::span<const std::byte> bytes, std::uint64_t time_ns, std::uint32_t wire_len,
                std::vector<Segment>& out) {
        ++counts.seen;
        const auto r = pkt::decode_frame(bytes, dlt, time_ns, wire_len);
        if (!r) {
            ++counts.undecoded;
            return;
        }
        ++counts.decoded;
        out.push_back(*r.segment);
    }
    void open_direct() {
        direct = std::make_unique<FrameCapture>(opts);
        dlt = direct->datalink();
        filter = direct->filter();
        status = CaptureStatus{true, "capturing '" + filter + "' on " + opts.interface};
    }
    void open_helper(const std::filesystem::path& path) {
        helper = std::make_unique<HelperClient>(path);
        helper::CaptureRequest req;
        req.interface = opts.interface;
        req.ports = opts.ports;
        req.buffer_kb = static_cast<std::uint32_t>(
            std::clamp<std::size_t>(opts.buffer_kb, helper::kMinCaptureBufferKb,
                                    helper::kMaxCaptureBufferKb));
        const auto a = helper->start_capture(req);
        if (!a.ok) {
            helper.reset();
            throw Error("socklab-helper: " + a.message);
        }
        dlt = static_cast<int>(a.count);  // the capture's answer carries its DLT_*
        filter = Capture::filter_for(opts.ports);
        status = CaptureStatus{true, "capturing through socklab-helper (" + path.string() +
                                         "): " + a.message};
    }
};

Capture::Capture(CaptureOptions opts) : impl_(std::make_unique<Impl>()) {
    impl_->opts = std::move(opts);
    auto& im = *impl_;
    if (im.opts.force_off) {
        im.status = CaptureStatus{false, "segments are not captured: capture was turned off"};
        return;
    }
    try {
        using P = CaptureOptions::Path;
        std::optional<std::filesystem::path> helper_path;
        if (im.opts.path == P::helper ||
            (im.opts.path == P::automatic && privilege_path() == PrivilegePath::helper))
            helper_path = find_helper();
        if (helper_path) {
            im.open_helper(*helper_path);
        } else if (im.opts.path == P::helper) {
            throw Error("socklab-helper was not found (docs/privileges.md says where it goes)");
        } else {
            im.open_direct();
        }
    } catch (const std::exception& e) {
        im.direct.reset();
        im.helper.reset();
        im.status = CaptureStatus{
            false, std::string("segments are not captured: ") + e.what() +
                       "; state transitions, system calls and the socket table do not need it"};
    }
}

Capture::~Capture() {
    if (impl_->helper && impl_->status.active) {
        try {
            (void)impl_->helper->stop_capture(nullptr);
        } catch (const std::exception&) {
        }
    }
}

const CaptureStatus& Capture::status() const noexcept { return impl_->status; }
int Capture::datalink() const noexcept { return impl_->status.active ? impl_->dlt : -1; }
const std::string& Capture::filter() const noexcept { return impl_->filter; }

std::size_t Capture::poll(std::vector<Segment>& out, std::chrono::milliseconds timeout) {
    auto& im = *impl_;
    if (!im.status.active) return 0;
    const std::size_t before = out.size();
    if (im.direct) {
        im.direct->poll([&](const FrameCapture::Frame& f) { im.decode(f.bytes, f.time_ns, f.wire_len, out); },
                        timeout);
        return out.size() - before;
    }
    std::vector<helper::PacketBatch> batches;
    try {
        im.helper->poll_packets(batches, timeout);
    } catch (const Error& e) {
        im.status = CaptureStatus{false, std::string("segments are no longer captured: ") + e.what()};
    }
    for (const auto& b : batches) {
        im.dlt = static_cast<int>(b.datalink);
        im.counts.kernel_dropped = b.kernel_dropped;
        im.counts.interface_dropped = b.interface_dropped;
        for (const auto& f : b.frames) im.decode(f.bytes, f.time_ns, f.wire_len, out);
    }
    return out.size() - before;
}

CaptureStats Capture::stats() const {
    CaptureStats s = impl_->counts;
    if (impl_->direct) {
        const auto d = impl_->direct->drops();
        s.kernel_dropped = d.kernel_dropped;
        s.interface_dropped = d.interface_dropped;
    }
    return s;
}

}  // namespace socklab

// doctor_holder: a small program the doctor tests run to hold a port, so `socklab why` has a
// real process (with its own command name) to name, and `socklab free` one to act on.
//   doctor_holder listen [ADDR] [--ignore-term]   listen on ADDR:0 (default 127.0.0.1)
//   doctor_holder closewait                        accept one connection, close the listener,
//                                                  and never close the connection (a leak)
//   doctor_holder listen ADDR --stuck-in PATH      listen, then stat(PATH) on a stalled FUSE
//                                                  mount: the process hangs in the kernel
//   doctor_holder fuse-stall DIR                   mount a FUSE file system on DIR that answers
//                                                  only its INIT: every other request is read
//                                                  and never answered (prints "ready", then
//                                                  "request <opcode>" per request read)
// It prints the port on the first line of stdout, "accepted" once it has accepted (closewait),
// then waits for a signal. It dies with its parent (PR_SET_PDEATHSIG), so a crashed test
// leaves nothing behind.
//
// Why a stalled FUSE request: once the daemon has read a request, the kernel waits for its
// answer uninterruptibly (state D) as soon as a fatal signal arrives, and SIGKILL cannot end
// the process until the daemon answers or goes away (fs/fuse/dev.c, request_wait_answer).
// That is the real "stuck in the kernel" a dead NFS server causes, made on demand. Ending the
// fuse-stall process closes its /dev/fuse descriptor, which aborts the connection and lets
// the stuck process die.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

[[noreturn]] void die(const char* what) {
    std::fprintf(stderr, "doctor_holder: failed to %s: %s\n", what, std::strerror(errno));
    std::exit(1);
}

int listen_on(const std::string& addr) {
    sockaddr_storage ss{};
    socklen_t len = 0;
    int family = AF_INET;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
    if (::inet_pton(AF_INET, addr.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        len = sizeof *v4;
    } else if (::inet_pton(AF_INET6, addr.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        len = sizeof *v6;
        family = AF_INET6;
    } else {
        std::fprintf(stderr, "doctor_holder: '%s' is not an address\n", addr.c_str());
        std::exit(2);
    }
    const int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("create a socket");
    if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) die("bind");
    if (::listen(fd, 16) != 0) die("listen");
    return fd;
}

int port_of(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) die("getsockname");
    if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
}

// The FUSE daemon that never answers (see above). Returns when the connection ends.
int fuse_stall(const char* dir) {
    const int fd = ::open("/dev/fuse", O_RDWR | O_CLOEXEC);
    if (fd < 0) die("open /dev/fuse");
    const std::string opts = "fd=" + std::to_string(fd) + ",rootmode=40000,user_id=0,group_id=0";
    if (::mount("doctor_holder", dir, "fuse", MS_NOSUID | MS_NODEV, opts.c_str()) != 0)
        die("mount a FUSE file system");
    std::printf("ready\n");
    std::fflush(stdout);
    std::vector<char> buf(64 * 1024);  // at least FUSE_MIN_READ_BUFFER
    for (;;) {
        const ssize_t n = ::read(fd, buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < static_cast<ssize_t>(sizeof(fuse_in_header))) return 0;  // aborted or unmounted
        fuse_in_header in;
        std::memcpy(&in, buf.data(), sizeof in);
        if (in.opcode != FUSE_INIT) {
            std::printf("request %u\n", in.opcode);  // read, and never answered
            std::fflush(stdout);
            continue;
        }
        fuse_init_in init;
        std::memcpy(&init, buf.data() + sizeof in, std::min(sizeof init, static_cast<std::size_t>(n) - sizeof in));
        struct {
            fuse_out_header h;
            fuse_init_out o;
        } reply{};
        reply.h.len = sizeof reply;
        reply.h.unique = in.unique;
        reply.o.major = FUSE_KERNEL_VERSION;
        reply.o.minor = std::min<std::uint32_t>(init.minor, FUSE_KERNEL_MINOR_VERSION);
        reply.o.max_readahead = init.max_readahead;
        reply.o.max_write = 4096;
        reply.o.time_gran = 1;
        if (::write(fd, &reply, sizeof reply) != static_cast<ssize_t>(sizeof reply)) die("answer FUSE_INIT");
    }
}

}  // namespace

int main(int argc, char** argv) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() == 1) return 1;  // the parent died before prctl took effect
    const std::string mode = argc > 1 ? argv[1] : "";
    std::string addr = "127.0.0.1";
    bool ignore_term = false;
    const char* stuck_in = nullptr;
    if (mode == "fuse-stall") {
        if (argc != 3) {
            std::fprintf(stderr, "usage: doctor_holder fuse-stall DIR\n");
            return 2;
        }
        return fuse_stall(argv[2]);
    }
    for (int i = 2; i < argc; ++i) {
        if (std::strcmp(argv[i], "--ignore-term") == 0)
            ignore_term = true;
        else if (std::strcmp(argv[i], "--stuck-in") == 0 && i + 1 < argc)
            stuck_in = argv[++i];
        else
            addr = argv[i];
    }
    if (ignore_term) ::signal(SIGTERM, SIG_IGN);
    if (mode == "listen") {
        const int fd = listen_on(addr);
        std::printf("%d\n", port_of(fd));
        std::fflush(stdout);
    } else if (mode == "closewait") {
        const int fd = listen_on(addr);
        std::printf("%d\n", port_of(fd));
        std::fflush(stdout);
        const int conn = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (conn < 0) die("accept");
        ::close(fd);
        // The leak under study: `conn` is never read and never closed.
        std::printf("accepted\n");
        std::fflush(stdout);
    } else {
        std::fprintf(stderr,
                     "usage: doctor_holder listen [ADDR] [--ignore-term] [--stuck-in PATH] | "
                     "closewait | fuse-stall DIR\n");
        return 2;
    }
    if (stuck_in != nullptr) {
        struct stat st {};
        (void)::stat(stuck_in, &st);  // hangs until the FUSE daemon answers or goes away
    }
    for (;;) ::pause();
}

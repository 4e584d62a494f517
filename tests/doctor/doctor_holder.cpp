// doctor_holder: a small program the doctor tests run to hold a port, so `socklab why` has a
// real process (with its own command name) to name, and `socklab free` one to act on.
//   doctor_holder listen [ADDR] [--ignore-term]   listen on ADDR:0 (default 127.0.0.1)
//   doctor_holder closewait                        accept one connection, close the listener,
//                                                  and never close the connection (a leak)
// It prints the port on the first line of stdout, "accepted" once it has accepted (closewait),
// then waits for a signal. It dies with its parent (PR_SET_PDEATHSIG), so a crashed test
// leaves nothing behind.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

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

}  // namespace

int main(int argc, char** argv) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() == 1) return 1;  // the parent died before prctl took effect
    const std::string mode = argc > 1 ? argv[1] : "";
    std::string addr = "127.0.0.1";
    bool ignore_term = false;
    for (int i = 2; i < argc; ++i) {
        if (std::strcmp(argv[i], "--ignore-term") == 0)
            ignore_term = true;
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
        std::fprintf(stderr, "usage: doctor_holder listen [ADDR] [--ignore-term] | closewait\n");
        return 2;
    }
    for (;;) ::pause();
}

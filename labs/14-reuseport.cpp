// Lab 14 — SO_REUSEPORT: two listeners share one port and the kernel spreads incoming
// connections between them (by a hash of the connection's addresses and ports).
#include <poll.h>
#include <unistd.h>

#include <array>
#include <vector>

#include <fmt/format.h>

#include "labkit.hpp"
#include "socklab/i18n.hpp"

using namespace socklab;
using namespace socklab::lab;

int main(int argc, char** argv) {
    Lab runner("reuseport", argc, argv);
    return runner.run(5, [](Lab& lab) {
        const Endpoint server = lab.endpoint();
        const auto port = lab.port();
        constexpr int kClients = 20;
        std::array<UniqueFd, 2> listeners;

        auto make_listener = [&](int i) {
            listeners[i].reset(::socket(server.family, SOCK_STREAM, 0));
            set_int_option(listeners[i].get(), SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
            set_int_option(listeners[i].get(), SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT");
            if (::bind(listeners[i].get(), server.sa(), server.len) != 0) return Result::of(-1);
            return Result::of(::listen(listeners[i].get(), kClients),
                              socklab::i18n::format(_("(listener fd {})"), listeners[i].get()));
        };

        lab.step({.title = _("Listener A, with SO_REUSEPORT"),
                  .call = fmt::format("socket() + setsockopt(SO_REUSEPORT, 1) + bind(fd, {}) + "
                                      "listen(fd, {})",
                                      server.str(), kClients),
                  .explain = _("An ordinary listener, except that it agrees to share its port."),
                  .expect = {{.local_port = port, .state = "LISTEN", .count = 1}}},
                 [&] { return make_listener(0); });

        lab.step({.title = _("Listener B on the same port"),
                  .call = fmt::format("socket() + setsockopt(SO_REUSEPORT, 1) + bind(fd, {}) + "
                                      "listen(fd, {})",
                                      server.str(), kClients),
                  .explain = _("Two LISTEN sockets on one address and port — lab 6 showed this "
                             "fails with SO_REUSEADDR alone. Both must set SO_REUSEPORT and "
                             "belong to the same user."),
                  .expect = {{.local_port = port, .state = "LISTEN", .count = 2}}},
                 [&] { return make_listener(1); });

        std::vector<UniqueFd> clients;
        lab.step({.title = socklab::i18n::format(_("{} clients connect"), kClients),
                  .call = socklab::i18n::format(_("connect(<new socket>, {}) × {}"), server.str(), kClients),
                  .explain = _("Each connection went to one of the two accept queues, chosen by a "
                             "hash of its four numbers: both listeners now have a Recv-Q. (The "
                             "chance that one got all 20 is 1 in 500,000.)"),
                  .expect = {{.local_port = port, .state = "LISTEN", .min_recv_q = 1,
                              .count = 2}}},
                 [&] {
                     for (int i = 0; i < kClients; ++i) {
                         UniqueFd c(::socket(server.family, SOCK_STREAM, 0));
                         if (::connect(c.get(), server.sa(), server.len) != 0)
                             return Result::of(-1);
                         clients.push_back(std::move(c));
                     }
                     return Result::of(kClients, _("connections"));
                 });

        std::array<std::vector<UniqueFd>, 2> accepted;
        auto drain = [&](int i) {
            for (int k = 0; k < kClients; ++k) {
                pollfd p{listeners[i].get(), POLLIN, 0};
                if (::poll(&p, 1, 0) != 1) break;  // this listener's queue is empty
                UniqueFd a(::accept(listeners[i].get(), nullptr, nullptr));
                if (!a) break;
                accepted[i].push_back(std::move(a));
            }
            return Result::of(static_cast<long>(accepted[i].size()), _("connections accepted"));
        };

        lab.step({.title = _("Listener A accepts until its queue is empty"),
                  .call = socklab::i18n::format(_("poll() + accept({}, NULL, NULL) while a connection is waiting"),
                                      listeners[0].get()),
                  .explain = _("A got its share only; B's queue is untouched. In a real server A "
                             "and B are two processes or threads, each with its own accept "
                             "loop, and no lock between them."),
                  .expect = {{.local_port = port, .state = "LISTEN", .recv_q = 0, .count = 1},
                             {.local_port = port, .state = "LISTEN", .min_recv_q = 1, .count = 1}},
                  .verify = [](const Result& r) {
                      return r.value > 0 && r.value < kClients ? std::string()
                                                               : _("A should get some, not all");
                  }},
                 [&] { return drain(0); });

        lab.step({.title = _("Listener B accepts the rest"),
                  .call = socklab::i18n::format(_("poll() + accept({}, NULL, NULL) while a connection is waiting"),
                                      listeners[1].get()),
                  .explain = _("Together they accepted every connection; the kernel did the load "
                             "balancing."),
                  .expect = {{.local_port = port, .state = "LISTEN", .recv_q = 0, .count = 2}},
                  .verify = [&](const Result& r) {
                      return r.value + static_cast<long>(accepted[0].size()) == kClients
                                 ? std::string()
                                 : _("A and B together should have every connection");
                  }},
                 [&] { return drain(1); });
    });
}

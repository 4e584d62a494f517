// Lab 10 — the listen backlog: listen(fd, 1) and no accept(). backlog + 1 connections become
// ESTABLISHED; further clients wait in SYN_SENT, and get in on a retransmission once accept()
// makes room.
#include <unistd.h>

#include <array>

#include <fmt/format.h>

#include "labkit.hpp"

using namespace socklab;
using namespace socklab::lab;

int main(int argc, char** argv) {
    Lab runner("backlog", argc, argv);
    return runner.run(6, [](Lab& lab) {
        const Endpoint server = lab.endpoint();
        const auto port = lab.port();
        UniqueFd listener;
        std::array<UniqueFd, 3> clients;
        std::array<std::uint16_t, 3> cport{};

        lab.step({.title = "A listener with a backlog of 1",
                  .call = fmt::format("socket() + setsockopt(SO_REUSEADDR) + bind(fd, {}) + "
                                      "listen(fd, 1)",
                                      server.str()),
                  .explain = "Send-Q of a listener shows the backlog: 1.",
                  .expect = {{.local_port = port, .state = "LISTEN", .recv_q = 0, .send_q = 1}}},
                 [&] {
                     listener.reset(::socket(server.family, SOCK_STREAM, 0));
                     set_int_option(listener.get(), SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
                     if (::bind(listener.get(), server.sa(), server.len) != 0)
                         return Result::of(-1);
                     return Result::of(::listen(listener.get(), 1),
                                       fmt::format("(listener fd {})", listener.get()));
                 });

        // Non-blocking connects, so a client that cannot get in does not stop the lab.
        auto connect_client = [&](int i) {
            clients[i].reset(::socket(server.family, SOCK_STREAM | SOCK_NONBLOCK, 0));
            const int rc = ::connect(clients[i].get(), server.sa(), server.len);
            const Result r = Result::of(rc);
            cport[i] = local_port_of(clients[i].get());
            return Result{r.value, r.err, fmt::format("(client fd {}, port {})",
                                                      clients[i].get(), cport[i])};
        };

        for (int i = 0; i < 2; ++i) {
            lab.step({.title = fmt::format("Client {} connects; nobody accepts", i + 1),
                      .call = fmt::format("connect(<new non-blocking socket>, {})", server.str()),
                      .explain = i == 0 ? "The handshake completes in the kernel and the "
                                          "connection waits in the accept queue: Recv-Q 1. "
                                          "(A non-blocking connect() reports EINPROGRESS even "
                                          "when it completes a moment later.)"
                                        : "Recv-Q 2 with a backlog of 1: Linux lets the queue "
                                          "hold backlog + 1 connections.",
                      .expect = {{.local_port = port, .state = "LISTEN",
                                  .recv_q = static_cast<std::uint32_t>(i + 1)}},
                      .fails_with = EINPROGRESS,
                      .expect_after = [&, i] {
                          return std::vector<Expect>{{.local_port = cport[i], .remote_port = port,
                                                      .state = "ESTABLISHED"}};
                      }},
                     [&, i] { return connect_client(i); });
        }

        lab.step({.title = "Client 3 connects: the queue is full",
                  .call = fmt::format("connect(<new non-blocking socket>, {})", server.str()),
                  .explain = "The listener's queue is full, so its kernel drops the SYN without "
                             "an answer. Client 3 stays in SYN_SENT and will retransmit its SYN "
                             "after 1 s, 3 s, 7 s... This is what an overloaded server looks "
                             "like from the client.",
                  .expect = {{.local_port = port, .state = "LISTEN", .recv_q = 2}},
                  .fails_with = EINPROGRESS,
                  .expect_after = [&] {
                      return std::vector<Expect>{
                          {.local_port = cport[2], .remote_port = port, .state = "SYN_SENT"}};
                  }},
                 [&] { return connect_client(2); });

        UniqueFd first;
        lab.step({.title = "accept() one connection — client 3 gets in on its next SYN",
                  .call = fmt::format("accept({}, NULL, NULL)", listener.get()),
                  .explain = "accept() made room in the queue. Nothing tells client 3: it gets "
                             "in when its retransmitted SYN arrives (within a few seconds), "
                             "and the queue is full again.",
                  .expect = {{.local_port = cport[2], .remote_port = port, .state = "ESTABLISHED"},
                             {.local_port = port, .state = "LISTEN", .recv_q = 2}},
                  .wait = std::chrono::seconds(10)},
                 [&] {
                     first.reset(::accept(listener.get(), nullptr, nullptr));
                     return Result::of(first.get());
                 });

        std::array<UniqueFd, 2> rest;
        lab.step({.title = "accept() the other two",
                  .call = fmt::format("accept({0}, NULL, NULL); accept({0}, NULL, NULL)",
                                      listener.get()),
                  .explain = "The accept queue is empty again (Recv-Q 0); three connections are "
                             "now owned by descriptors.",
                  .expect = {{.local_port = port, .state = "LISTEN", .recv_q = 0},
                             {.local_port = port, .remote_port = cport[2], .state = "ESTABLISHED"}}},
                 [&] {
                     for (auto& r : rest) {
                         r.reset(::accept(listener.get(), nullptr, nullptr));
                         if (!r) return Result::of(-1);
                     }
                     return Result::of(rest[1].get());
                 });
    });
}

#pragma once
// Pieces shared by the doctor's source files (doctor*.cpp); not part of the public API.
#include <cstdint>
#include <optional>
#include <string>

#include "socklab/doctor.hpp"

namespace socklab::doctor_detail {

// Start time, age and kernel-thread flag from /proc/<pid>/stat. False when it is gone.
bool fill_process_info(OwnerProcess& p);

// A pidfd for pid, or an invalid fd (errno kept in `err`).
UniqueFd open_pidfd(int pid, int& err);
// Has the process behind this pidfd exited (a zombie counts as exited)?
bool pidfd_exited(int pidfd);

// Milliseconds since the peer of this TCP socket last sent an ACK (tcpi_last_ack_recv),
// asked of the kernel for exactly this socket. nullopt when it cannot be had.
std::optional<std::uint32_t> last_ack_recv_ms(const SocketRecord& s);

// "pid 42 (nc, user alice)"
std::string describe(const OwnerProcess& p);
// "127.0.0.1:8080 -> 127.0.0.1:51234 CLOSE_WAIT" / "0.0.0.0:8080 LISTEN"
std::string describe(const SocketRecord& s);

}  // namespace socklab::doctor_detail

#pragma once
// One exception type for everything core/ reports. Messages follow the house form
// "failed to <verb> <object>: <reason>" and, where there is one, what to do about it.
#include <stdexcept>
#include <string>

namespace socklab {

class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Raised by the parsers (netlink messages, /proc/net lines, trace records, lab protocol)
// on truncated or malformed input. Never a crash: callers catch it and say what was wrong.
class ParseError : public Error {
public:
    using Error::Error;
};

// "failed to <what>: <strerror(err)>"
[[nodiscard]] Error sys_error(const std::string& what, int err);

}  // namespace socklab

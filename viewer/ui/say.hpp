#pragma once
// The viewer's messages on stderr: one line each, prefixed with the program's name.
#include <cstdio>
#include <string>

#include "socklab/i18n.hpp"

namespace socklab::viewer {

inline void say(const std::string& line) { std::fprintf(stderr, "socklab-viewer: %s\n", line.c_str()); }

inline void say_cannot_write(const std::string& path) {
    say(socklab::i18n::format(_("failed to write {}: check the directory exists and is writable"), path));
}

}  // namespace socklab::viewer

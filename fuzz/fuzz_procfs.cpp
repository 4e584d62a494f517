// libFuzzer target: the /proc parsers of core/src/procfs on arbitrary text. The first byte
// picks one: even, procfs::parse_stat (a /proc/<pid>/stat line); odd,
// procfs::socket_inode_of_link (a descriptor link's target). Never a crash, never an
// exception; a parsed stat must agree with its own text.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "procfs.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
    if ((data[0] & 1) == 0) {
        const auto st = socklab::procfs::parse_stat(text);
        // A stat has a ')' and at least 20 fields after it, the state a single character.
        if (st && (text.find(')') == std::string_view::npos ||
                   text.find(std::string_view(&st->state, 1), text.rfind(')')) ==
                       std::string_view::npos))
            __builtin_trap();
    } else {
        const auto inode = socklab::procfs::socket_inode_of_link(text);
        if (inode != 0 && (text.substr(0, 8) != "socket:[" || text.back() != ']')) __builtin_trap();
    }
    return 0;
}

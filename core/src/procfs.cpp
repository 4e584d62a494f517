#include "procfs.hpp"

#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <fstream>
#include <system_error>
#include <vector>

#include "socklab/owners.hpp"

namespace socklab {
namespace procfs {
namespace {

template <typename T>
bool parse_number(std::string_view s, T& out) noexcept {
    if (s.empty()) return false;
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc{} && p == s.data() + s.size();
}

}  // namespace

std::optional<Stat> parse_stat(std::string_view text) noexcept {
    const auto close = text.rfind(')');
    if (close == std::string_view::npos) return std::nullopt;
    text.remove_prefix(close + 1);
    Stat st;
    // Field 3 is the first one after ')'.
    for (int field = 3; field <= 22; ++field) {
        while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
        const auto end = std::min(text.find_first_of(" \n"), text.size());
        const auto tok = text.substr(0, end);
        if (tok.empty()) return std::nullopt;
        bool ok = true;
        switch (field) {
            case 3:
                ok = tok.size() == 1;
                st.state = tok.front();
                break;
            case 4: ok = parse_number(tok, st.ppid); break;
            case 9: ok = parse_number(tok, st.flags); break;
            case 20: ok = parse_number(tok, st.num_threads); break;
            case 22: ok = parse_number(tok, st.start_time); break;
            default: break;
        }
        if (!ok) return std::nullopt;
        text.remove_prefix(end);
    }
    return st;
}

std::optional<Stat> read_stat(int pid, const std::filesystem::path& proc_root) {
    std::ifstream in(proc_root / std::to_string(pid) / "stat");
    std::string line;
    if (!in || !std::getline(in, line)) return std::nullopt;
    return parse_stat(line);
}

std::uint64_t socket_inode_of_link(std::string_view link) noexcept {
    constexpr std::string_view prefix = "socket:[";
    if (link.size() < prefix.size() + 2 || link.substr(0, prefix.size()) != prefix ||
        link.back() != ']')
        return 0;
    std::uint64_t inode = 0;
    if (!parse_number(link.substr(prefix.size(), link.size() - prefix.size() - 1), inode)) return 0;
    return inode;
}

std::uint64_t socket_inode_of_fd(int pid, int fd, const std::filesystem::path& proc_root) {
    std::error_code ec;
    const auto target =
        std::filesystem::read_symlink(proc_root / std::to_string(pid) / "fd" / std::to_string(fd), ec);
    return ec ? 0 : socket_inode_of_link(target.native());
}

bool holds_socket(int pid, std::uint64_t inode, const std::filesystem::path& proc_root) {
    if (pid <= 0 || inode == 0) return false;
    std::error_code ec;
    const auto dir = proc_root / std::to_string(pid) / "fd";
    for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        std::error_code link_ec;
        const auto target = std::filesystem::read_symlink(it->path(), link_ec);
        if (!link_ec && socket_inode_of_link(target.native()) == inode) return true;
    }
    return false;
}

}  // namespace procfs

std::string user_name(std::uint32_t uid) {
    passwd pw{};
    passwd* result = nullptr;
    std::vector<char> buf(4096);
    // getpwuid_r says ERANGE when the entry does not fit: grow the buffer a few times.
    for (int tries = 0; tries < 6; ++tries) {
        const int rc = ::getpwuid_r(uid, &pw, buf.data(), buf.size(), &result);
        if (rc != ERANGE) break;
        buf.resize(buf.size() * 2);
    }
    return result ? std::string(result->pw_name) : std::to_string(uid);
}

}  // namespace socklab

#include "model/mo_catalog.hpp"

#include <cstdint>
#include <cstring>

namespace socklab::viewer {
namespace {

// GNU gettext's .mo layout (info gettext, "The Format of GNU MO Files"): a magic number that
// also gives the byte order, a revision, the number of strings N, then the offsets of two
// tables of N (length, offset) pairs: the originals and the translations.
constexpr std::uint32_t kMagic = 0x950412deu;
constexpr std::uint32_t kMagicSwapped = 0xde120495u;

struct Reader {
    std::string_view bytes;
    bool swap = false;

    std::optional<std::uint32_t> u32(std::uint64_t at) const {
        if (at > bytes.size() || bytes.size() - at < 4) return std::nullopt;
        std::uint32_t v = 0;
        std::memcpy(&v, bytes.data() + at, 4);
        return swap ? __builtin_bswap32(v) : v;
    }
};

}  // namespace

std::optional<std::vector<std::string_view>> mo_translations(std::string_view bytes) {
    Reader r{bytes};
    const auto magic = r.u32(0);
    if (!magic || (*magic != kMagic && *magic != kMagicSwapped)) return std::nullopt;
    r.swap = *magic == kMagicSwapped;
    const auto revision = r.u32(4), count = r.u32(8), translations = r.u32(16);
    if (!revision || !count || !translations) return std::nullopt;
    if ((*revision >> 16) > 1) return std::nullopt;  // major revisions 0 and 1 are known
    // Each entry is 8 bytes: a count larger than the file can hold is a lie.
    if (*count > bytes.size() / 8) return std::nullopt;
    std::vector<std::string_view> out;
    out.reserve(*count);
    for (std::uint64_t i = 0; i < *count; ++i) {
        const std::uint64_t entry = *translations + i * 8;
        const auto len = r.u32(entry), off = r.u32(entry + 4);
        if (!len || !off) return std::nullopt;
        // The string and its terminating NUL lie inside the file.
        if (*off > bytes.size() || bytes.size() - *off < static_cast<std::uint64_t>(*len) + 1 ||
            bytes[*off + *len] != '\0')
            return std::nullopt;
        out.push_back(bytes.substr(*off, *len));
    }
    return out;
}

}  // namespace socklab::viewer

// i18n.cpp — GNU gettext (glibc's libintl) behind socklab::i18n.
#include "socklab/i18n.hpp"

#include <libintl.h>
#include <unistd.h>

#include <array>
#include <clocale>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

namespace socklab::i18n {
namespace {

std::string g_language = "en";

// The catalogue directory: <prefix>/share/locale next to the running program, which covers
// the build tree (build/<preset>/bin -> build/<preset>/share/locale), /usr/bin and the labs in
// /usr/libexec/socklab.
std::string locale_dir() {
    std::error_code ec;
    const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) return {};
    for (auto dir = exe.parent_path(); !dir.empty() && dir != dir.root_path(); dir = dir.parent_path()) {
        auto candidate = dir / "share" / "locale";
        if (std::filesystem::is_directory(candidate, ec)) return candidate.string();
    }
    return {};
}

}  // namespace

const char* tr(const char* msgid) noexcept { return ::dgettext(text_domain, msgid); }

const char* tr_n(const char* singular, const char* plural, unsigned long n) noexcept {
    return ::dngettext(text_domain, singular, plural, n);
}

bool init(std::string_view lang) {
    std::setlocale(LC_ALL, "");
    if (const auto dir = locale_dir(); !dir.empty()) ::bindtextdomain(text_domain, dir.c_str());
    ::bind_textdomain_codeset(text_domain, "UTF-8");
    if (!lang.empty() && lang != "en" && lang != "ko") return false;
    if (!lang.empty()) g_language = std::string(lang);
    return true;
}

std::string_view language() noexcept { return g_language; }

}  // namespace socklab::i18n
